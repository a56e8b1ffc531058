"""PostgreSQL says which built-ins are free of side effects (pg_proc.provolatile): the
guard learns them at introspection instead of refusing every function its static lists
miss; volatile ones and those that report the server stay refused."""

from __future__ import annotations

import pytest
import sqlglot

from nlquery import Engine, validate_sql
from nlquery.errors import UnsafeQueryError
from nlquery.guard import functions
from tests.conftest import scratch_postgres


def _unknown_to_the_static_lists(name: str) -> bool:
    parser = sqlglot.Dialect.get_or_raise("postgres").parser_class
    return (name.upper() not in parser.FUNCTIONS and not functions.is_known_read_only(name, "postgres")
            and not functions.is_denied(name, "postgres") and name.isidentifier())


@pytest.fixture(scope="module")
def learned():
    backend = scratch_postgres(with_data=False)
    try:
        with Engine() as engine:
            connector = engine.connect(url=backend.url)
            schema = engine.introspect(connector)
            volatile = [row[0] for row in engine.query(
                connector, "SELECT DISTINCT proname::text FROM pg_catalog.pg_proc WHERE provolatile = 'v' "
                           "AND pronamespace = 'pg_catalog'::regnamespace AND prokind = 'f' AND pronargs = 0",
                max_rows=5000).rows]
        yield schema, volatile
    finally:
        backend.drop_database()


def test_a_read_only_built_in_the_static_lists_miss_is_admitted_once_learned(learned):
    schema, _ = learned
    candidates = sorted(n for n in schema.read_only_functions if _unknown_to_the_static_lists(n))
    assert candidates, "PostgreSQL declares read-only built-ins the static lists do not know"
    name = candidates[0]
    with pytest.raises(UnsafeQueryError):
        validate_sql(f"SELECT {name}()", dialect="postgres")
    # Admitted by the guard (the call itself may need arguments; the guard only judges the name).
    validate_sql(f"SELECT {name}()", dialect="postgres", schema=schema)


def test_volatile_and_server_reporting_functions_are_not_learned(learned):
    schema, volatile = learned
    learned_names = set(schema.read_only_functions)
    assert volatile and not learned_names & set(volatile)
    for name in ("pg_stat_get_activity", "pg_show_all_settings", "pg_read_file", "lo_get",
                 "pg_get_functiondef"):
        assert name not in learned_names
        with pytest.raises(UnsafeQueryError):
            validate_sql(f"SELECT {name}(1)", dialect="postgres", schema=schema)


def test_query_string_runners_stay_denied_even_though_postgres_calls_them_stable(learned):
    schema, _ = learned
    with pytest.raises(UnsafeQueryError):
        validate_sql("SELECT query_to_xml('select 1', true, true, '')", dialect="postgres", schema=schema)
