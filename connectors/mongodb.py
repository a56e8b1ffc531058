"""MongoDB: collections as tables, SQL answered by aggregation pipelines.

Schema inference samples each collection (``$sample``, ``options.sample_size``, default
1,000 documents; collections are sampled in parallel): nested fields become dotted
paths (``address.city``), each with the BSON types seen and their frequencies (in the
column comment), nullable when some sampled document lacks it or holds null; arrays
are typed ``array``. Indexes come from ``list_indexes``, row estimates from
``estimated_document_count``.

Queries are SQL in PostgreSQL syntax (nested fields as quoted dotted names), accepted by
the guard first, then translated to one pipeline (:mod:`connectors.mongodb_pipeline`).
Only ``aggregate`` runs, with ``maxTimeMS`` and the row cap; nothing can write.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connectors.base import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    Capability,
    ClosesOnExit,
    ConnectionConfig,
    DialectFacts,
    ProgressCallback,
    finish_result,
)
from connectors.connection import ConnectionModel
from connectors.errors import (
    DataSourceDisconnected,
    DriverNotInstalled,
    InvalidConnection,
    QueryExecutionFailed,
    QueryTimeout,
    scrub,
)
from connectors.models import Column, Index, QueryResult, Schema, Table
from connectors.mongodb_pipeline import Plan, translate
from connectors.values import dotted_paths

DEFAULT_SAMPLE = 1000
_SAMPLE_THREADS = 8
_SYSTEM_PREFIX = "system."


class MongoDBConnection(ConnectionModel):
    """``mongodb`` settings: a ``mongodb://`` URL (several hosts allowed) or host/port.
    Options that name local files (``tlsCAFile``, ``tlsCertificateKeyFile``...) are the
    operator's only. A remote caller's source is one host, connected to directly: a
    replica set's members, an SRV record's targets are hosts its server names, which
    the egress policy could not check before pymongo connects to them."""

    remote_options = frozenset({
        "sample_size", "authSource", "authMechanism", "tls", "ssl", "retryWrites", "retryReads",
        "readPreference", "appName", "connectTimeoutMS", "serverSelectionTimeoutMS",
        "socketTimeoutMS", "maxPoolSize", "w", "readConcernLevel",
    })

    def check_remote(self) -> None:
        if self.url and not self.url.lower().startswith("mongodb://"):
            raise ValueError("url: only mongodb:// URLs are accepted from a remote caller (mongodb+srv "
                             "and replica-set discovery reach hosts the egress policy cannot check)")
        if len(self.destinations()) > 1:
            raise ValueError("url: one host only from a remote caller (it is connected to directly)")
        super().check_remote()

    def destinations(self) -> list[tuple[str, int | None]]:
        if not self.url:
            return super().destinations()
        from urllib.parse import urlsplit

        netloc = urlsplit(self.url).netloc.rpartition("@")[2]
        found = []
        for item in filter(None, netloc.split(",")):
            host, _, port = item.rpartition(":") if not item.endswith("]") else (item, "", "")
            host = host or item
            found.append((host.strip("[]"), int(port) if port.isdigit() else None))
        return found


class MongoDBConnector(ClosesOnExit):
    """``mongodb`` sources: ``mongodb://user@host:27017/dbname`` (or ``mongodb+srv://``)."""

    type_name = "mongodb"
    connection_model = MongoDBConnection
    dialect = "postgres"  # the SQL we accept: double-quoted dotted names for nested fields
    dialect_facts = DialectFacts(
        dialect,
        prompt_notes="PostgreSQL syntax, run on MongoDB (translated to an aggregation pipeline): one table per "
                     "collection, nested fields as double-quoted dotted names (\"address.city\"); no date "
                     "functions.")
    paramstyle = "qmark"
    # no DATE_BUCKETS: the translation has no date functions, so the rules planner
    # declines "per month" questions here rather than write SQL that cannot run.
    # No COMMENTS: the column comments only say the BSON types seen.
    capabilities = frozenset({Capability.EXPLAIN, Capability.DISTINCT_VALUES, Capability.ROW_ESTIMATES})

    def __init__(self, config: ConnectionConfig, client: Any = None) -> None:
        self.config = config
        if not (config.url or config.host) and client is None:
            raise InvalidConnection("a mongodb source needs a URL, e.g. mongodb://localhost:27017/shop")
        if not config.database and client is None:
            raise InvalidConnection("a mongodb source needs a database: mongodb://host:27017/DATABASE")
        self.database_name = config.database or "test"
        self.sample_size = int(config.options.get("sample_size", DEFAULT_SAMPLE))
        self._client = client  # a given client (mongomock in tests) is used as is
        self._lock = threading.RLock()
        self._columns: dict[str, list[str]] = {}
        self._field_types: dict[str, dict[str, str]] = {}

    # -- connection ------------------------------------------------------------------
    @property
    def database(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import pymongo
                except ImportError:
                    raise DriverNotInstalled("the mongodb connector needs pymongo: pip install 'nlquery[mongodb]'") \
                        from None
                given = self.config.url or f"mongodb://{self.config.host}:{self.config.port or 27017}/"
                url = _without_our_options(given)
                # A stored source's password is kept out of its URL (encrypted apart).
                extra = {"username": self.config.username, "password": self.config.password} \
                    if self.config.username and self.config.password else {}
                if self.config.egress is not None:
                    url = self._pinned(url, extra)
                if "serverselectiontimeoutms" not in url.lower():  # the URL's own setting wins
                    extra["serverSelectionTimeoutMS"] = 5000
                self._client = pymongo.MongoClient(url, **extra)
            return self._client[self.database_name]

    def _pinned(self, url: str, extra: dict[str, Any]) -> str:
        """Every host checked by the egress policy; an untrusted source is connected to
        directly (no member discovery) at the address checked (no second DNS answer;
        with TLS the name stays, for certificate checks)."""
        hosts = MongoDBConnection(url=url).destinations()
        addresses = [self.config.egress.resolve(host, port or 27017) for host, port in hosts]
        if not self.config.untrusted:
            return url
        if len(hosts) != 1 or not url.lower().startswith("mongodb://"):
            raise InvalidConnection("a remote caller's mongodb source is one mongodb:// host")
        extra["directConnection"] = True
        if any(word in url.lower() for word in ("tls=true", "ssl=true")):
            return url
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url)
        userinfo, _, _ = parts.netloc.rpartition("@")
        address = addresses[0][0]
        address = f"[{address}]" if ":" in address else address
        netloc = f"{userinfo + '@' if userinfo else ''}{address}:{hosts[0][1] or 27017}"
        return urlunsplit(parts._replace(netloc=netloc))

    def _errors(self, action: str) -> Any:
        return _MongoErrors(action, self.config.secrets())

    def ping(self) -> None:
        with self._errors("ping"):
            self.database.command("ping")

    def close(self) -> None:
        with self._lock:
            if self._client is not None and hasattr(self._client, "close"):
                self._client.close()
            self._client = None


    # -- introspection ------------------------------------------------------------------
    def introspect(self, *, schemas: Sequence[str] | None = None,
                   progress: ProgressCallback | None = None) -> Schema:
        if schemas and self.database_name not in schemas:
            return Schema(tables=[], default_schema=self.database_name)
        with self._errors("introspection"):
            db = self.database
            names = sorted(n for n in db.list_collection_names() if not n.startswith(_SYSTEM_PREFIX))
            done = 0
            tables = []
            with ThreadPoolExecutor(max_workers=_SAMPLE_THREADS) as pool:
                for table in pool.map(self._collection_table, names):
                    tables.append(table)
                    done += 1
                    if progress is not None:
                        progress(table.name, done, len(names))
        for table in tables:
            self._remember(table)
        return Schema(tables=tables, default_schema=self.database_name)

    def _remember(self, table: Table) -> None:
        self._columns[table.name] = [c.name for c in table.columns]
        self._field_types[table.name] = {c.name: c.type for c in table.columns}

    def _collection_table(self, name: str) -> Table:
        collection = self.database[name]
        sample = list(collection.aggregate([{"$sample": {"size": self.sample_size}}]))
        table = Table(name=name, schema=self.database_name, kind="collection", columns=infer_fields(sample),
                      row_estimate=collection.estimated_document_count())
        for index in collection.list_indexes():
            keys = list(index["key"].keys()) if hasattr(index["key"], "keys") else [k for k, _ in index["key"]]
            if index["name"] == "_id_":
                if table.column("_id") is not None:
                    table.primary_key = ["_id"]
                continue
            table.indexes.append(Index(name=index["name"], columns=keys, unique=bool(index.get("unique"))))
        return table

    # -- execution ----------------------------------------------------------------------
    def plan(self, sql: str, params: Sequence[Any] = ()) -> Plan:
        """The pipeline ``sql`` becomes (``nlquery query NAME --explain`` prints it)."""
        # The translation needs the fields (SELECT *, typos) and their types (casts) of
        # the collections it reads: sampled on first use, only those.
        missing = [name for name in _collections_in(sql) if name not in self._columns]
        if missing:
            with self._errors("sampling"):
                existing = set(self.database.list_collection_names())
                for name in missing:
                    if name in existing:
                        self._remember(self._collection_table(name))
        return translate(sql, params, columns_of=self._columns, field_types=self._field_types)

    def explain(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any]:
        plan = self.plan(sql, params)
        return {"collection": plan.collection, "pipeline": plan.pipeline, "columns": plan.columns}

    def distinct_values(self, collection: str, fields: list[str], *, limit: int, sample: int,
                        timeout_s: float) -> dict[str, list[Any]]:
        """Up to ``limit`` distinct values of each field among the first ``sample``
        documents: one ``$facet`` pipeline per collection (value hints)."""
        facets = {f"f{i}": [{"$group": {"_id": f"${name}"}}, {"$limit": limit}] for i, name in enumerate(fields)}
        with self._errors("value sampling"):
            (result,) = list(self.database[collection].aggregate(
                [{"$limit": sample}, {"$facet": facets}], maxTimeMS=max(1, int(timeout_s * 1000))))
        return {name: [d["_id"] for d in result[f"f{i}"]] for i, name in enumerate(fields)}

    def execute(self, sql: str, params: Sequence[Any] = (), *, max_rows: int = DEFAULT_MAX_ROWS,
                timeout_s: float = DEFAULT_TIMEOUT_S) -> QueryResult:
        started = time.perf_counter()
        plan = self.plan(sql, params)
        if plan.constant_row is not None:
            return finish_result(plan.columns, [plan.constant_row], max_rows, started)
        pipeline = [*plan.pipeline, {"$limit": max_rows + 1}]  # never fetch past the cap
        with self._errors("query"):
            cursor = self.database[plan.collection].aggregate(pipeline, maxTimeMS=max(1, int(timeout_s * 1000)),
                                                              allowDiskUse=False)
            documents = list(cursor)
        rows = [[doc.get(f"c{i}") for i in range(len(plan.columns))] for doc in documents]
        if not rows and plan.defaults:
            rows = [list(plan.defaults)]
        return finish_result(plan.columns, rows, max_rows, started)


_OUR_OPTIONS = {"sample_size"}


def _without_our_options(url: str) -> str:
    """The URL pymongo gets: our options (``sample_size``) are not MongoDB's."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in _OUR_OPTIONS]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _collections_in(sql: str) -> set[str]:
    import sqlglot
    from sqlglot import exp

    try:
        return {table.name for table in sqlglot.parse_one(sql, read="postgres").find_all(exp.Table)}
    except sqlglot.errors.SqlglotError:
        return set()  # the translation reports it


class _MongoErrors:
    """Translate pymongo's exceptions (and mongomock's) at one boundary."""

    def __init__(self, action: str, secrets: list[str]) -> None:
        self.action, self.secrets = action, secrets

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, _tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        names = {cls.__name__ for cls in type(exc).__mro__}
        message = scrub(str(exc).split(", full error:")[0], self.secrets)
        if "ExecutionTimeout" in names:
            raise QueryTimeout(f"the {self.action} ran past its time limit (maxTimeMS)") from None
        if names & {"ServerSelectionTimeoutError", "ConnectionFailure", "AutoReconnect", "ConfigurationError",
                    "InvalidURI"}:
            raise DataSourceDisconnected(f"cannot reach MongoDB: {message}") from None
        if "OperationFailure" in names and getattr(exc, "code", None) in (13, 18):
            raise DataSourceDisconnected(f"MongoDB refused the credentials: {message}") from None
        if names & {"PyMongoError", "OperationFailure", "MongoMockError", "NotImplementedError"}:
            raise QueryExecutionFailed(f"MongoDB {self.action} failed: {message}") from None
        return False


_BSON_TYPES: dict[type, str] = {
    bool: "bool", int: "int", float: "double", str: "string", dt.datetime: "date", list: "array",
    tuple: "array", bytes: "binData", type(None): "null",
}
_BSON_CLASS_NAMES = {"ObjectId": "objectId", "Decimal128": "decimal", "Int64": "long", "Timestamp": "timestamp"}


def bson_type(value: Any) -> str:
    """The BSON type name of a decoded value (exact type first: this runs per field per document)."""
    name = _BSON_TYPES.get(type(value))
    if name is not None:
        return name
    kind = type(value).__name__
    return _BSON_CLASS_NAMES.get(kind, kind.lower())


def infer_fields(documents: list[dict[str, Any]]) -> list[Column]:
    """Columns from sampled documents: dotted paths in first-seen order, the dominant
    BSON type (``int`` and ``double`` together: ``double``), the types seen with their
    frequencies in the comment, nullable unless every document holds a value."""
    order: dict[str, None] = {}
    seen: dict[str, Counter[str]] = {}
    present: Counter[str] = Counter()
    for document in documents:
        for path, value in dotted_paths(document):
            counts = seen.get(path)
            if counts is None:
                counts = seen[path] = Counter()
                order[path] = None
            counts[bson_type(value)] += 1
            if value is not None:
                present[path] += 1
    columns = []
    total = len(documents) or 1
    # _id last: the fields people ask about come first (in prompts and SELECT *); left
    # out when MongoDB generated it (ObjectIds only): noise to people and to models
    if set(seen.get("_id", {})) == {"objectId"}:
        order.pop("_id")
    for path in sorted(order, key=lambda p: p == "_id"):
        types = seen[path]
        valued = Counter({k: v for k, v in types.items() if k != "null"})
        dominant = valued.most_common(1)[0][0] if valued else "null"
        if dominant == "int" and valued.get("double"):
            dominant = "double"
        missing = total - sum(types.values())
        if missing:
            types = types + Counter({"missing": missing})
        comment = "types seen: " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in types.most_common())
        columns.append(Column(name=path, type=dominant, nullable=present[path] < len(documents), comment=comment))
    return columns
