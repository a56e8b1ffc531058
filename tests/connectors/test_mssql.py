"""SQL Server without a server: the connector's catalog queries, type mapping, driver
choice, connection string and error mapping, on catalog rows shaped as SQL Server returns
them for a slice of the shop (transcribed by hand: there is no SQL Server on these
machines). With NLQUERY_TEST_MSSQL_URL set, the shared suite in tests/backends/ also
runs against that server (see tests/backends/backends.py)."""

from __future__ import annotations

import os

import pytest

import connectors
from connectors.base import ConnectionConfig
from connectors.mssql import MSSQLConnector, connection_string, pick_driver, type_names

pyodbc = pytest.importorskip(
    "pyodbc", exc_type=ImportError,
    reason="pyodbc cannot load: install the system ODBC library and FreeTDS (apt-get install unixodbc tdsodbc)",
)

TABLE_ROWS = [
    ("dbo", "customers", "U ", "People who buy", 2000),
    ("dbo", "orders", "U ", None, 10000),
    ("dbo", "big_orders", "V ", None, None),
    ("sales", "targets", "U ", None, 0),
]
COLUMN_ROWS = [
    ("dbo", "customers", "id", "int", 4, 10, 0, False, None, None),
    ("dbo", "customers", "email", "nvarchar", 510, 0, 0, False, None, "Login email"),
    ("dbo", "customers", "notes", "varchar", -1, 0, 0, True, None, None),
    ("dbo", "customers", "created_at", "datetime2", 8, 27, 7, False, "(sysutcdatetime())", None),
    ("dbo", "orders", "id", "int", 4, 10, 0, False, None, None),
    ("dbo", "orders", "customer_id", "int", 4, 10, 0, False, None, None),
    ("dbo", "orders", "status", "varchar", 20, 0, 0, False, "('pending')", None),
    ("dbo", "orders", "total_amount", "decimal", 9, 12, 2, False, "((0))", None),
    ("dbo", "big_orders", "id", "int", 4, 10, 0, False, None, None),
    ("sales", "targets", "region", "nchar", 4, 0, 0, False, None, None),
    ("sales", "targets", "year", "smallint", 2, 5, 0, False, None, None),
]
INDEX_ROWS = [
    ("dbo", "customers", "PK__customer__3213E83F", True, False, True, "id"),
    ("dbo", "customers", "UQ__customer__AB6E6164", False, True, True, "email"),
    ("dbo", "orders", "PK__orders__3213E83F", True, False, True, "id"),
    ("dbo", "orders", "ix_orders_customer_id", False, False, False, "customer_id"),
    ("sales", "targets", "PK_targets", True, False, True, "region"),
    ("sales", "targets", "PK_targets", True, False, True, "year"),
]
FOREIGN_KEY_ROWS = [
    ("dbo", "orders", "FK__orders__customer", "customer_id", "dbo", "customers", "id"),
]


class RecordedConnection:
    """A pyodbc connection answering the connector's catalog statements with the rows
    above, recording every statement and its parameters."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple]] = []
        self.rollbacks = 0
        self.timeout = 0

    def cursor(self) -> RecordedCursor:
        return RecordedCursor(self)

    def rollback(self) -> None:
        self.rollbacks += 1

    def close(self) -> None:
        pass


class RecordedCursor:
    def __init__(self, conn: RecordedConnection) -> None:
        self.conn = conn
        self.rows: list = []
        self.description = None

    def execute(self, sql: str, *params):
        self.conn.statements.append((sql, params))
        if "FROM sys.foreign_keys" in sql:
            self.rows = FOREIGN_KEY_ROWS
        elif "FROM sys.indexes" in sql:
            self.rows = INDEX_ROWS
        elif "FROM sys.columns" in sql:
            self.rows = COLUMN_ROWS
        elif "FROM sys.objects" in sql:
            self.rows = TABLE_ROWS
        elif sql == "SELECT SCHEMA_NAME()":
            self.rows = [("dbo",)]
        else:
            self.rows = [(1, "x")]
            self.description = [("id",), ("name",)]
        if params and "FROM sys." in sql:  # the schema filter
            wanted = set(params)
            self.rows = [r for r in self.rows if r[0] in wanted]
        return self

    def fetchall(self):
        return list(self.rows)

    def fetchone(self):
        return self.rows[0]

    def fetchmany(self, n):  # consumes, as a DB-API cursor does
        taken, self.rows = list(self.rows[:n]), self.rows[n:]
        return taken

    def close(self):
        pass


@pytest.fixture
def recorded():
    connector = MSSQLConnector(ConnectionConfig(host="db", database="shop"))
    connector.wire = RecordedConnection()
    connector._connect = lambda: connector.wire  # every pooled connection is the recording
    return connector


def test_introspection_builds_the_schema_from_catalog_rows(recorded):
    schema = recorded.introspect()
    assert schema.default_schema == "dbo"
    customers, orders = schema.table("customers"), schema.table("orders")
    assert customers.comment == "People who buy" and customers.row_estimate == 2000
    assert schema.table("big_orders").kind == "view"
    assert [c.name for c in customers.columns] == ["id", "email", "notes", "created_at"]
    email = customers.column("email")
    assert (email.type, email.full_type, email.nullable, email.comment) == ("nvarchar", "nvarchar(255)", False,
                                                                             "Login email")
    assert customers.column("notes").full_type == "varchar(max)"
    assert customers.column("created_at").default == "sysutcdatetime()"
    assert orders.column("total_amount").full_type == "decimal(12,2)"
    assert orders.column("total_amount").default == "0"
    assert orders.column("status").default == "'pending'"
    assert customers.primary_key == ["id"]
    assert [u.columns for u in customers.unique_constraints] == [["email"]]
    assert [(i.name, i.unique) for i in orders.indexes] == [("ix_orders_customer_id", False)]
    (fk,) = orders.foreign_keys
    assert (fk.columns, fk.ref_schema, fk.ref_table, fk.ref_columns) == (["customer_id"], "dbo", "customers", ["id"])
    targets = next(t for t in schema.tables if t.name == "targets")
    assert targets.schema == "sales" and targets.primary_key == ["region", "year"]  # composite, in key order
    assert schema.qualified_name(targets) == "sales.targets"


def test_catalog_is_read_in_five_statements_and_rolled_back(recorded):
    steps = []
    recorded.introspect(progress=lambda step, done, total: steps.append(step))
    assert len(recorded.wire.statements) == 5  # whatever the number of tables
    assert steps == ["tables", "columns", "keys and indexes", "foreign keys", "default schema"]
    assert recorded.wire.rollbacks == 1
    for sql, _ in recorded.wire.statements[:4]:
        assert "s.name NOT IN ('sys', 'INFORMATION_SCHEMA'" in sql


def test_schema_filter_is_a_parameter_not_text(recorded):
    schema = recorded.introspect(schemas=["sales"])
    assert [t.name for t in schema.tables] == ["targets"]
    sql, params = recorded.wire.statements[0]
    assert params == ("sales",) and "s.name IN (?)" in sql and "'sales'" not in sql


def test_execution_sets_lock_timeout_and_query_timeout_then_rolls_back(recorded):
    result = recorded.execute("SELECT TOP 3 id, name FROM customers WHERE id = ?", [7], timeout_s=2.5, max_rows=5)
    assert result.columns == ["id", "name"] and result.rows == [[1, "x"]]
    statements = [s for s, _ in recorded.wire.statements]
    assert statements[0] == "SET LOCK_TIMEOUT 2500"
    assert recorded.wire.statements[1] == ("SELECT TOP 3 id, name FROM customers WHERE id = ?", (7,))
    assert recorded.wire.timeout == 3  # pyodbc counts whole seconds: rounded up
    assert recorded.wire.rollbacks == 1


@pytest.mark.parametrize(("raw", "short", "full"), [
    (("nvarchar", 510, 0, 0), "nvarchar", "nvarchar(255)"),
    (("nvarchar", -1, 0, 0), "nvarchar", "nvarchar(max)"),
    (("varbinary", 16, 0, 0), "varbinary", "varbinary(16)"),
    (("numeric", 9, 18, 4), "numeric", "numeric(18,4)"),
    (("datetime2", 8, 27, 7), "datetime2", None),
    (("datetime2", 6, 23, 3), "datetime2", "datetime2(3)"),
    (("uniqueidentifier", 16, 0, 0), "uniqueidentifier", None),
    (("INT", 4, 10, 0), "int", None),
])
def test_type_mapping(raw, short, full):
    assert type_names(*raw) == (short, full)


def test_driver_choice_prefers_microsoft_then_freetds():
    assert pick_driver(["FreeTDS", "ODBC Driver 17 for SQL Server"]) == "ODBC Driver 17 for SQL Server"
    assert pick_driver(["ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server"]) == \
        "ODBC Driver 18 for SQL Server"
    assert pick_driver(["FreeTDS"]) == "FreeTDS"
    assert pick_driver(["FreeTDS", "ODBC Driver 18 for SQL Server"], "FreeTDS") == "FreeTDS"
    with pytest.raises(connectors.DataSourceDisconnected, match="no SQL Server ODBC driver"):
        pick_driver(["PostgreSQL Unicode"])
    with pytest.raises(connectors.DataSourceDisconnected, match="not installed"):
        pick_driver(["FreeTDS"], "ODBC Driver 18 for SQL Server")


def test_connection_string_braces_values_and_maps_options():
    config = ConnectionConfig.from_url("mssql://sa:p%3Bw%7Dd@db.local:1444/sales?encrypt=yes"
                                       "&trust_server_certificate=true&application_intent=ReadOnly")
    text = connection_string(config, "ODBC Driver 18 for SQL Server")
    assert "DRIVER={ODBC Driver 18 for SQL Server}" in text
    assert "SERVER={db.local,1444}" in text and "DATABASE={sales}" in text
    assert "PWD={p;w}}d}" in text  # ; cannot end the value, } is doubled
    assert "Encrypt={yes}" in text and "TrustServerCertificate={yes}" in text
    assert "ApplicationIntent={ReadOnly}" in text
    assert "TDS_Version={7.4}" in connection_string(config, "FreeTDS")


def test_errors_map_by_sqlstate(recorded):
    classify = recorded._classify_error
    assert classify(pyodbc.OperationalError("HYT00", "[HYT00] Query timeout expired (0)")) is connectors.QueryTimeout
    assert classify(pyodbc.Error("HY000", "[SQL Server]Lock request time out period exceeded. (1222)")) \
        is connectors.QueryTimeout
    assert classify(pyodbc.InterfaceError("28000", "[28000] Login failed for user 'sa'. (18456)")) \
        is connectors.DataSourceDisconnected
    assert classify(pyodbc.ProgrammingError("42S02", "[42S02] Invalid object name 'x'. (208)")) \
        is connectors.QueryExecutionFailed
    assert classify(ValueError("ours")) is None
    message = recorded._describe_error(pyodbc.ProgrammingError(
        "42S02", "[42S02] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Invalid object name 'x'. (208)"))
    assert message == "Invalid object name 'x'. (208)"


def test_unreachable_server_is_disconnected_with_freetds():
    if "FreeTDS" not in pyodbc.drivers():
        pytest.skip("FreeTDS's ODBC driver is not installed (apt-get install tdsodbc)")
    connector = connectors.connect(url="mssql://sa:secret-pw@127.0.0.1:1/master?connect_timeout=2")
    with pytest.raises(connectors.DataSourceDisconnected) as caught:
        connector.ping()
    assert "secret-pw" not in str(caught.value)


@pytest.mark.skipif(not os.environ.get("NLQUERY_TEST_MSSQL_URL"),
                    reason="no SQL Server on these machines: set NLQUERY_TEST_MSSQL_URL (e.g. "
                           "mssql://sa:Pass@127.0.0.1:1433/master?trust_server_certificate=yes) to run the "
                           "shared backend suite against one")
def test_a_real_server_answers():
    connector = connectors.connect(url=os.environ["NLQUERY_TEST_MSSQL_URL"])
    assert connector.execute("SELECT 1 AS one").rows == [[1]]
