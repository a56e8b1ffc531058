"""Question suites for the NL benchmark: the demo shop, the music store, Spider- and
BIRD-format directories.

A suite is a list of :class:`Case` over one or more SQLite databases. The loaders read the
datasets' own files and nothing else:

* Spider: ``tables.json``, ``dev.json`` (``db_id``, ``question``, ``query``) and
  ``database/<db_id>/<db_id>.sqlite``. Spider ships no difficulty per question; its
  evaluation script derives one (easy/medium/hard/extra) from the gold SQL, and so does
  :func:`spider_hardness`.
* BIRD: ``dev.json`` (``db_id``, ``question``, ``evidence``, ``SQL``, ``difficulty``) and
  ``dev_databases/<db_id>/<db_id>.sqlite``; ``evidence`` is given to every contender as a hint.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import click
import sqlglot
from sqlglot import exp

from benchmarks import music_questions
from benchmarks.music import build_music
from benchmarks.nl_questions import DEFINITIONS, QUESTIONS, gold_sql
from nlquery.demo import MAPPINGS
from nlquery.semantic import document_patch
from nlquery.shop import generate_shop, load_shop


@dataclass
class Case:
    """One question with its gold SQL (SQLite) on database ``db_id``."""

    db_id: str
    question: str
    gold_sql: str
    difficulty: str
    evidence: str = ""
    needs_synonym: bool = False
    level: str = ""  # the suite author's intended easy/medium/hard, next to Spider's hardness

    @property
    def prompt(self) -> str:
        """The question as every contender sees it (BIRD's evidence appended as a hint)."""
        return f"{self.question}\nHint: {self.evidence}" if self.evidence else self.question

    @property
    def ordered(self) -> bool:
        """Results are compared in order only when the gold SQL orders its outermost rows."""
        return ordered_result(self.gold_sql)


@dataclass
class Suite:
    name: str
    cases: list[Case]
    databases: dict[str, Path]  # db_id -> SQLite file
    mappings: dict[str, dict] = field(default_factory=dict)  # db_id -> semantic mappings


def ordered_result(sql: str) -> bool:
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return False
    return tree.args.get("order") is not None


def spider_hardness(sql: str) -> str:
    """Spider's hardness levels, after the rules of its ``evaluation.py``: components
    (WHERE, GROUP BY, ORDER BY, LIMIT, JOIN, OR, LIKE), set operations and nesting, and
    "others" (several aggregates, select columns, conditions or group keys)."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return "extra"
    set_ops = len(list(tree.find_all(exp.Union, exp.Except, exp.Intersect)))
    selects = list(tree.find_all(exp.Select))
    nested = max(0, len(selects) - 1 - set_ops)
    outer = selects[0] if selects else tree
    where = outer.args.get("where")
    component1 = sum(outer.args.get(key) is not None for key in ("where", "group", "order", "limit"))
    component1 += len(outer.args.get("joins") or [])
    component1 += len(list(where.find_all(exp.Or))) + len(list(where.find_all(exp.Like))) if where else 0
    component2 = set_ops + nested
    conditions = len(list(where.find_all(exp.And))) + 1 if where else 0
    group = outer.args.get("group")
    others = sum([
        len(list(outer.find_all(exp.AggFunc))) > 1,
        len(outer.expressions) > 1,
        conditions > 1,
        group is not None and len(group.expressions) > 1,
    ])
    if component1 <= 1 and others == 0 and component2 == 0:
        return "easy"
    if (others <= 2 and component1 <= 1 and component2 == 0) or (component1 <= 2 and others < 2 and component2 == 0):
        return "medium"
    if component2 == 0 and ((others > 2 and component1 <= 2) or (2 < component1 <= 3 and others <= 2)):
        return "hard"
    if component1 <= 1 and others == 0 and component2 <= 1:
        return "hard"
    return "extra"


def demo_suite(directory: Path, today: dt.date, *, metrics: bool = True, wide: int = 0) -> Suite:
    """The shop (ending ``today``) in ``directory/shop.db`` and its 55 questions; its
    mappings, with the metrics and segments unless ``metrics`` is false. ``wide``: the
    same questions with the shop hidden among that many generated distractor tables."""
    path = directory / "shop.db"
    conn = sqlite3.connect(path)
    load_shop(conn, "sqlite", "qmark", generate_shop(end=today))
    if wide:
        add_distractors(conn, wide)
    conn.close()
    cases = []
    for question, sql, synonym in QUESTIONS:
        gold = gold_sql(sql, today)
        cases.append(Case("shop", question, gold, spider_hardness(gold), needs_synonym=synonym))
    mappings = {**MAPPINGS, **(DEFINITIONS if metrics else {})}
    return Suite(f"demo-wide-{wide}" if wide else "demo", cases, {"shop": path}, {"shop": mappings})


def music_suite(directory: Path, today: dt.date, *, metrics: bool = True, wide: int = 0) -> Suite:
    """The music store (invoices ending ``today``) in ``directory/music.db`` and its
    questions, each with its intended level; its mappings, with the metrics and segments
    unless ``metrics`` is false. ``wide``: the store among that many distractor tables."""
    path = directory / "music.db"
    conn = build_music(path, today)
    if wide:
        add_distractors(conn, wide)
    conn.close()
    cases = []
    for level, questions in music_questions.QUESTIONS.items():
        for question, sql, vocabulary in questions:
            question, gold = gold_sql(question, today), gold_sql(sql, today)
            cases.append(Case("music", question, gold, spider_hardness(gold), needs_synonym=vocabulary, level=level))
    # Through document_patch, as `nlquery map import` reads a file with metrics: and segments:.
    mappings = document_patch({**music_questions.MAPPINGS, **(music_questions.DEFINITIONS if metrics else {})})
    return Suite(f"music-wide-{wide}" if wide else "music", cases, {"music": path}, {"music": mappings})


SUITES = {"demo": demo_suite, "music": music_suite}


DOMAINS = ["crm", "hr", "fin", "mkt", "ops", "legacy", "stg", "archive", "erp", "support", "billing", "sales",
           "web", "app", "dw", "tmp", "audit", "partner", "vendor", "log"]
NOUNS = ["customers", "orders", "products", "order_items", "accounts", "invoices", "shipments", "vendors", "tickets",
         "campaigns", "payments", "employees", "contracts", "leads", "returns", "reviews", "stores", "regions",
         "subscriptions", "coupons", "warehouses", "carts", "refunds", "sessions", "budgets", "assets", "suppliers",
         "deliveries", "quotes", "events"]
SHARED_COLUMNS = [("name", "VARCHAR(100)"), ("total", "DECIMAL(12, 2)"), ("country", "CHAR(2)"),
                  ("status", "VARCHAR(20)"), ("created_at", "TIMESTAMP"), ("amount", "DECIMAL(12, 2)"),
                  ("city", "VARCHAR(100)"), ("category", "VARCHAR(50)"), ("quantity", "INTEGER"),
                  ("price", "DECIMAL(10, 2)"), ("email", "VARCHAR(255)"), ("title", "VARCHAR(100)"),
                  ("total_amount", "DECIMAL(12, 2)"), ("updated_at", "TIMESTAMP"), ("code", "VARCHAR(20)")]


def add_distractors(conn: sqlite3.Connection, count: int) -> list[str]:
    """``count`` plausible tables around the shop (``crm_customers``, ``legacy_orders``...),
    sharing its column names and keyed to each other, empty: a wide schema to link in."""
    import random

    rng = random.Random(17)
    names = [f"{d}_{n}" for d in DOMAINS for n in NOUNS]
    rng.shuffle(names)
    if count > len(names):
        names += [f"{n}_{i}" for i in range(count // len(names) + 1) for n in list(names)]
    chosen = names[:count]
    for index, name in enumerate(chosen):
        columns = ["id INTEGER PRIMARY KEY"] + [f"{c} {t}" for c, t in rng.sample(SHARED_COLUMNS, rng.randint(3, 7))]
        if index and rng.random() < 0.5:
            parent = chosen[rng.randrange(index)]
            columns.append(f"{parent}_id INTEGER REFERENCES {parent} (id)")
        conn.execute(f"CREATE TABLE {name} ({', '.join(columns)})")
    conn.commit()
    return chosen


def _read_json(path: Path) -> list[dict]:
    if not path.is_file():
        raise click.UsageError(f"{path} is missing: is this a dataset directory?")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"{path} is not valid JSON: {exc}") from None


def _databases(root: Path, folder: str, db_ids: set[str]) -> dict[str, Path]:
    paths = {db_id: root / folder / db_id / f"{db_id}.sqlite" for db_id in sorted(db_ids)}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise click.UsageError(f"database file(s) missing: {', '.join(missing[:3])}"
                               + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""))
    return paths


def spider_suite(root: Path, split: str = "dev.json") -> Suite:
    """A Spider-format directory: ``tables.json``, ``<split>``, ``database/<db>/<db>.sqlite``."""
    declared = {entry["db_id"] for entry in _read_json(root / "tables.json")}
    cases = []
    for entry in _read_json(root / split):
        if entry["db_id"] not in declared:
            raise click.UsageError(f"{split}: db_id {entry['db_id']!r} is not in tables.json")
        cases.append(Case(entry["db_id"], entry["question"], entry["query"], spider_hardness(entry["query"])))
    return Suite("spider", cases, _databases(root, "database", {c.db_id for c in cases}))


def bird_suite(root: Path, split: str = "dev.json") -> Suite:
    """A BIRD-format directory: ``<split>`` with evidence and difficulty, and
    ``dev_databases/<db>/<db>.sqlite`` (``database/`` is accepted too)."""
    cases = [Case(entry["db_id"], entry["question"], entry["SQL"], entry.get("difficulty") or "unknown",
                  evidence=entry.get("evidence") or "")
             for entry in _read_json(root / split)]
    folder = "dev_databases" if (root / "dev_databases").is_dir() else "database"
    return Suite("bird", cases, _databases(root, folder, {c.db_id for c in cases}))
