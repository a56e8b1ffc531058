import datetime as dt
import sqlite3

import pytest

from nlquery import Engine
from nlquery.demo import MAPPINGS
from nlquery.planner import LLMConfig
from nlquery.shop import generate_shop, load_shop
from tests.planner.fake_llm import FakeLLM

TODAY = dt.date(2026, 6, 30)  # the fixed shop's last day


@pytest.fixture(scope="session")
def shop_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("planner") / "shop.db"
    conn = sqlite3.connect(path)
    load_shop(conn, "sqlite", "qmark", generate_shop(end=TODAY))
    conn.close()
    return path


@pytest.fixture
def llm():
    server = FakeLLM()
    yield server
    server.close()


@pytest.fixture
def engine(llm, nlquery_home, shop_file):
    with Engine(llm=LLMConfig(base_url=llm.url, model="test-model", api_key="k", timeout_s=2,
                              max_retries=1)) as instance:
        instance.add_source("shop", "sqlite", {"database": str(shop_file)})
        instance.update_mappings("shop", MAPPINGS)
        yield instance


def shop_rows(shop_file, sql, params=()):
    conn = sqlite3.connect(shop_file)
    try:
        return [list(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()
