"""Introspection, checked against the known shop and odd-names schemas on every backend."""

from __future__ import annotations


from tests.backends.backends import transpile
from tests.backends.markers import cannot, not_yet
from tests.backends.nonsql import NOT_SQL

# duckdb-engine's key and index reflection runs PostgreSQL catalog queries DuckDB cannot
# answer (REGCLASS) and it warns it reflects no indexes: the connector records the gaps.
DUCKDB_NO_KEYS = ("duckdb-engine reflects no keys or indexes (its PostgreSQL catalog queries need REGCLASS); "
                  "DuckDB's own duckdb_constraints() and duckdb_indexes() could serve them")
NO_KEYS = "MongoDB has indexes but no declared keys (every _id is the key); a REST API declares neither"
NO_ODD_NAMES = "the odd-names schema is SQL DDL: documents and JSON records have no such tables"
NO_DECLARATIONS = "CSV files declare nothing but column names: no keys, constraints, indexes, defaults or comments"


def column_of(schema, table, column):
    return schema.table(table).column(column)


@cannot([*NOT_SQL, "csvdir"], raises=AssertionError, reason="no views: collections, endpoints and files only")
def test_finds_every_shop_table_and_view(schema):
    names = {t.name for t in schema.tables}
    assert {"customers", "products", "orders", "order_items", "big_orders"} <= names
    assert schema.table("big_orders").kind == "view"
    assert schema.table("orders").kind == "table"


def test_columns_keep_their_order(schema):
    assert [c.name for c in schema.table("orders").columns] == [
        "id", "customer_id", "status", "total_amount", "created_at"
    ]


def test_column_types_are_named_as_the_database_names_them(backend, schema):
    for key, expected in backend.expected_types.items():
        table, column = key.split(".")
        assert column_of(schema, table, column).type == expected, key


@cannot(["duckdb", *NOT_SQL, "csvdir"], raises=AssertionError,
        reason="DuckDB keeps no VARCHAR length; documents, JSON and CSV have no declared types")
def test_full_type_keeps_length_and_precision(schema):
    email, total = column_of(schema, "customers", "email"), column_of(schema, "orders", "total_amount")
    assert email.full_type is not None and "255" in email.full_type
    assert total.full_type is not None and "12" in total.full_type


def test_nullability(schema):
    assert column_of(schema, "customers", "city").nullable is True
    assert column_of(schema, "customers", "email").nullable is False
    assert column_of(schema, "orders", "id").nullable is False


@not_yet(["duckdb"], raises=AssertionError, reason=DUCKDB_NO_KEYS)
@cannot(NOT_SQL, raises=AssertionError, reason=NO_KEYS)
@cannot(["csvdir"], raises=AssertionError, reason=NO_DECLARATIONS)
def test_primary_keys_including_composite(schema):
    assert schema.table("orders").primary_key == ["id"]
    assert schema.table("Odd Parent").primary_key == ["Key Part", "select"]


@not_yet(["duckdb"], raises=ValueError, reason=DUCKDB_NO_KEYS)
@cannot(NOT_SQL, raises=ValueError, reason=NO_KEYS)
@cannot(["csvdir"], raises=ValueError, reason=NO_DECLARATIONS)
def test_foreign_keys(schema):
    (fk,) = schema.table("orders").foreign_keys
    assert (fk.columns, fk.ref_table, fk.ref_columns) == (["customer_id"], "customers", ["id"])
    item_refs = {fk.ref_table for fk in schema.table("order_items").foreign_keys}
    assert item_refs == {"orders", "products"}


@not_yet(["duckdb"], raises=ValueError, reason=DUCKDB_NO_KEYS)
@cannot(NOT_SQL, raises=AttributeError, reason=NO_ODD_NAMES)
@cannot(["csvdir"], raises=ValueError, reason=NO_DECLARATIONS)
def test_composite_foreign_key_keeps_column_pairs_in_order(schema):
    (fk,) = schema.table("odd.child").foreign_keys
    assert fk.columns == ["parent Key", "parent select"]
    assert fk.ref_table == "Odd Parent"
    assert fk.ref_columns == ["Key Part", "select"]


@not_yet(["duckdb"], raises=AssertionError, reason=DUCKDB_NO_KEYS)
@cannot(NOT_SQL, raises=AssertionError, reason=NO_KEYS)
@cannot(["csvdir"], raises=AssertionError, reason=NO_DECLARATIONS)
def test_unique_constraints(schema):
    uniques = [u.columns for u in schema.table("customers").unique_constraints]
    assert ["email"] in uniques


@not_yet(["duckdb"], raises=KeyError, reason=DUCKDB_NO_KEYS)
@cannot(["rest_api", "csvdir"], raises=KeyError, reason="a REST API and CSV files have no indexes")
def test_indexes(schema):
    indexes = {i.name: i for i in schema.table("orders").indexes}
    assert indexes["ix_orders_created_at"].columns == ["created_at"]
    assert indexes["ix_orders_created_at"].unique is False


@cannot(NOT_SQL, raises=AttributeError, reason=NO_ODD_NAMES + "; nor declared defaults")
@cannot(["csvdir"], raises=TypeError, reason=NO_DECLARATIONS)
def test_defaults(schema):
    assert "x" in column_of(schema, "odd.child", "MixedCase").default


@cannot(NOT_SQL, raises=AttributeError, reason=NO_ODD_NAMES)
def test_odd_names_come_back_exactly(schema):
    parent = schema.table("Odd Parent")
    assert [c.name for c in parent.columns] == ["Key Part", "select", "café", "dot.ted"]
    assert schema.table("odd.child").column("MixedCase").name == "MixedCase"


@cannot(["sqlite", *NOT_SQL, "csvdir"], raises=AssertionError,
        reason="no table or column comments (MongoDB's column comments say the types seen)")
def test_comments(schema):
    assert schema.table("customers").comment == "People who buy"
    assert column_of(schema, "customers", "email").comment == "Login email"


@not_yet(["duckdb", "sqlalchemy-postgresql"], raises=AssertionError,
         reason="SQLAlchemy's inspector reads no row statistics (a per-dialect query could)")
@cannot(["rest_api"], raises=AssertionError, reason="a REST API has no statistics")
def test_row_estimates_follow_the_database_statistics(backend, schema):
    estimate = schema.table("orders").row_estimate
    assert estimate is not None
    assert 0.5 * backend.shop.count("orders") <= estimate <= 2 * backend.shop.count("orders")


@cannot(["sqlite", "mysql", "duckdb", *NOT_SQL, "csvdir"], raises=AssertionError, reason="no materialized views")
def test_materialized_views(schema):
    table = schema.table("order_totals")
    assert table is not None and table.kind == "materialized_view"


def test_to_dict_is_the_api_shape(schema):
    data = schema.to_dict()
    orders = next(t for t in data["tables"] if t["name"] == "orders")
    first = orders["columns"][0]
    assert {"name", "type", "nullable"} <= set(first)
    assert first["name"] == "id" and first["nullable"] is False


def test_schema_round_trips_through_its_dict(schema):
    from connectors.models import Schema

    assert Schema.from_dict(schema.to_dict()) == schema


def test_schema_filter_limits_introspection(connector, schema):
    other = connector.introspect(schemas=["no_such_schema"])
    assert other.tables == []


def test_progress_reports_every_step(connector):
    seen = []
    connector.introspect(progress=lambda step, done, total: seen.append((step, done, total)))
    assert seen and seen[-1][1] == seen[-1][2] == len(seen)


@cannot(NOT_SQL, raises=AttributeError,
        reason="no catalog to query (one sample per collection or endpoint) and no DDL to add tables")
@cannot(["csvdir"], raises=NotImplementedError, reason="no catalog to query and no DDL: tables are files")
def test_catalog_queries_do_not_grow_with_table_count(backend, connector):
    """Batched: the same number of statements for N and N + 20 tables."""
    before = _count_statements(connector)
    backend.admin(transpile(";".join(f"CREATE TABLE extra_{i} (id INT PRIMARY KEY, ref INT REFERENCES orders (id))"
                                     for i in range(20)), backend.dialect))
    try:
        after = _count_statements(connector)
    finally:
        backend.admin([f"DROP TABLE extra_{i}" for i in range(20)])
    assert after == before


def _count_statements(connector) -> int:
    """Introspect through a connection proxy that counts executed statements (through
    SQLAlchemy's cursor events for the sqlalchemy connector)."""
    if connector.type_name == "sqlalchemy":
        import sqlalchemy

        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        sqlalchemy.event.listen(connector._engine, "before_cursor_execute", listener)
        try:
            connector.introspect()
        finally:
            sqlalchemy.event.remove(connector._engine, "before_cursor_execute", listener)
        return len(seen)
    counter = None

    def counting_connect():
        nonlocal counter
        counter = _Counting(connect())
        return counter

    connect = connector._connect
    connector.close()  # the introspection opens its connection through the counter
    connector._connect = counting_connect
    try:
        connector.introspect()
    finally:
        del connector._connect  # the class's own again
        connector.close()
    return counter.count


class _Counting:
    def __init__(self, target, owner=None):
        self._target = target
        self._owner = owner or self
        self.count = 0

    def execute(self, *args, **kwargs):
        self._owner.count += 1
        result = self._target.execute(*args, **kwargs)
        return self if result is self._target else result

    def cursor(self, *args, **kwargs):
        return _Counting(self._target.cursor(*args, **kwargs), self._owner)

    def __iter__(self):
        return iter(self._target)

    def __enter__(self):
        self._target.__enter__()
        return self

    def __exit__(self, *exc):
        return self._target.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._target, name)
