"""Background schema extraction: bounded, one run per source, resumed after a stop."""

from __future__ import annotations

import threading

import pytest

from nlquery import Engine
from nlquery.errors import RateLimitExceeded
from nlquery.extraction import Extractions


def test_a_refresh_while_one_runs_joins_it():
    started, release, runs = threading.Event(), threading.Event(), []

    def run(source_id):
        runs.append(source_id)
        started.set()
        release.wait(10)

    extractions = Extractions(run, workers=1, max_pending=4)
    first = extractions.submit("ds_a")
    assert started.wait(10)
    assert extractions.submit("ds_a") is first  # joined, not queued again
    release.set()
    first.result(10)
    extractions.shutdown()
    assert runs == ["ds_a"]


def test_a_full_queue_refuses_with_a_retry_time():
    release, started = threading.Event(), threading.Event()
    extractions = Extractions(lambda _: (started.set(), release.wait(10)), workers=1, max_pending=2)
    running = extractions.submit("ds_running")
    assert started.wait(10)
    while not running.running():  # the pool marks it running just before calling it
        started.wait(0.01)
    extractions.submit("ds_1")
    extractions.submit("ds_2")
    with pytest.raises(RateLimitExceeded) as refused:
        extractions.submit("ds_3")
    assert refused.value.retry_after > 0 and refused.value.resource == "schema_extractions"
    release.set()
    extractions.shutdown()


def test_engine_refreshes_in_the_background_and_resumes_after_a_stop(shop_path):
    with Engine() as engine:
        engine.add_source("shop", "sqlite", {"database": str(shop_path)}, extract=False)
        source = engine.refresh_schema_later("shop")
        assert source["schema_status"] == "extracting"
    # Engine.close waited for the running extraction: it finished, nothing left extracting.
    with Engine() as engine:
        assert engine.get_source("shop")["schema_status"] == "ready"
        engine.mark_extracting("shop")  # as a crash mid-extraction leaves it
        assert engine.resume_extractions() == 1
    with Engine() as engine:
        assert engine.get_source("shop")["schema_status"] == "ready"


def test_value_hints_stop_at_the_extractions_deadline(shop_path):
    import time

    import connectors
    from nlquery.catalog import hints

    source = connectors.connect("sqlite", database=str(shop_path))
    schema = source.introspect()
    statements = []
    execute = source.execute
    source.execute = lambda sql, *args, **kwargs: statements.append(sql) or execute(sql, *args, **kwargs)
    assert hints.collect(source, schema, deadline=time.monotonic() + 60)  # in time: hints found
    found = len(statements)
    assert found > 0
    # A spent deadline (the catalog queries took the extraction's whole bound): no statement starts.
    assert hints.collect(source, schema, deadline=time.monotonic() - 1) == {}
    assert len(statements) == found
    source.close()


def test_the_extraction_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("NLQUERY_EXTRACTION_TIMEOUT_S", "12.5")
    assert Engine().extraction_timeout_s == 12.5
    assert Engine(extraction_timeout_s=3).extraction_timeout_s == 3
    monkeypatch.setenv("NLQUERY_EXTRACTION_TIMEOUT_S", "-1")
    with pytest.raises(ValueError, match="NLQUERY_EXTRACTION_TIMEOUT_S"):
        Engine()
    monkeypatch.delenv("NLQUERY_EXTRACTION_TIMEOUT_S")
    assert Engine().extraction_timeout_s == 300
