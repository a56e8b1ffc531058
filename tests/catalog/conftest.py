import pytest

from nlquery import Engine


@pytest.fixture
def engine(nlquery_home):
    with Engine() as instance:
        yield instance


@pytest.fixture
def shop(engine, shop_path):
    return engine.add_source("shop", "sqlite", {"database": str(shop_path)}, "Demo shop")
