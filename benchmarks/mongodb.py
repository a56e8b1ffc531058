"""MongoDB introspection: N collections x D sampled documents (nested fields, arrays).

Contenders, same database, one run: ``ours`` (``introspect()``: ``$sample`` per collection
in parallel, type inference, indexes, estimated counts) and the floor a hand-written job
would be, the same three calls per collection one after another with no inference.

On the server in NLQUERY_TEST_MONGODB_URL; without it, on mongomock, an in-process
STAND-IN: its figures say nothing about a real server (the report names which one ran).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
import uuid
from typing import Any

import click

from benchmarks.harness import as_dict, measure, ratio, report
from connectors.base import ConnectionConfig
from connectors.mongodb import MongoDBConnector


def _client() -> tuple[Any, str]:
    url = os.environ.get("NLQUERY_TEST_MONGODB_URL")
    if url:
        import pymongo

        return pymongo.MongoClient(url, serverSelectionTimeoutMS=5000), "MongoDB server"
    import mongomock

    return mongomock.MongoClient(), "mongomock (in-process stand-in, not a server)"


def _documents(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 1)
    return [{
        "n": i, "name": f"item {i}", "price": round(rng.uniform(1, 500), 2),
        "created": start + dt.timedelta(minutes=i), "tags": ["a", "b"][: rng.randint(0, 2)],
        "address": {"city": rng.choice(["Oslo", "Lima", None]), "zip": str(rng.randint(1000, 9999))},
        **({"note": "rare"} if i % 10 == 0 else {}),
    } for i in range(count)]


@click.command()
@click.option("--collections", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--documents", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Documents per collection, all sampled.")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def main(collections: int, documents: int, repeat: int, as_json: bool) -> None:
    """MongoDB schema inference time: ours vs a sequential $sample loop."""
    client, where = _client()
    name = f"nlq_bench_{uuid.uuid4().hex[:8]}"
    db = client[name]
    try:
        for i in range(collections):
            db[f"c{i}"].insert_many(_documents(documents, seed=i))
            db[f"c{i}"].create_index("n", name="ix_n")
        print(f"  {where}: {collections} collections x {documents} documents loaded", file=sys.stderr)
        connector = MongoDBConnector(ConnectionConfig(database=name, options={"sample_size": documents}),
                                     client=client)

        def sequential_floor() -> None:
            for collection in db.list_collection_names():
                list(db[collection].aggregate([{"$sample": {"size": documents}}]))
                list(db[collection].list_indexes())
                db[collection].estimated_document_count()

        ours = measure("ours", connector.introspect, repeat=repeat, warmup=1, memory=True)
        floor = measure("sequential $sample loop", sequential_floor, repeat=repeat, warmup=1)
        tables = connector.introspect().tables
    finally:
        client.drop_database(name)
    rows = [{"where": where, "collections": collections, "documents": documents, **as_dict(m),
             "ours_speedup": None if m is ours else ratio(ours, m)} for m in (ours, floor)]
    report(f"MongoDB introspection, {collections} x {documents} ({where}; speedup = peer time / ours)", rows,
           ["name", "median_s", "min_s", "runs", "peak_mb", "ours_speedup", "error"], as_json=as_json,
           extra={"fields_per_collection": len(tables[0].columns) if tables else 0})
