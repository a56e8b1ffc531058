"""The offline rules planner on the demo shop: each question form against hand-written SQL."""

from __future__ import annotations

import datetime as dt

import pytest

from nlquery import Engine
from nlquery.demo import MAPPINGS
from nlquery.errors import QuestionNotAnswerable
from nlquery.planner.rules import parse_period
from tests.planner.conftest import TODAY, shop_rows


@pytest.fixture
def offline(nlquery_home, shop_file):
    with Engine() as engine:  # no LLM configured: rules are the default
        engine.add_source("shop", "sqlite", {"database": str(shop_file)})
        engine.update_mappings("shop", MAPPINGS)
        yield engine


CASES = [
    ("How many customers signed up last month?",
     "SELECT COUNT(*) FROM customers WHERE created_at >= '2026-05-01' AND created_at < '2026-06-01'"),
    ("How many users joined yesterday?",
     "SELECT COUNT(*) FROM customers WHERE created_at >= '2026-06-29' AND created_at < '2026-06-30'"),
    ("How many orders today?",
     "SELECT COUNT(*) FROM orders WHERE created_at >= '2026-06-30' AND created_at < '2026-07-01'"),
    ("What's the total sales this week?",
     "SELECT ROUND(SUM(total_amount), 2) FROM orders WHERE created_at >= '2026-06-29' AND created_at < '2026-07-01'"),
    ("Total revenue last 30 days",
     "SELECT ROUND(SUM(total_amount), 2) FROM orders WHERE created_at >= '2026-06-01' AND created_at < '2026-07-01'"),
    ("Average order total in 2025",
     "SELECT ROUND(AVG(total_amount), 2) FROM orders WHERE created_at >= '2025-01-01' AND created_at < '2026-01-01'"),
    ("Highest order total this year",
     "SELECT MAX(total_amount) FROM orders WHERE created_at >= '2026-01-01' AND created_at < '2026-07-01'"),
    ("Lowest product price",
     "SELECT MIN(price) FROM products"),
    ("How many delivered orders since March?",
     "SELECT COUNT(*) FROM orders WHERE created_at >= '2026-03-01' AND status = 'delivered'"),
    ("How many customers in Toronto?",
     "SELECT COUNT(*) FROM customers WHERE city = 'Toronto'"),
    ("How many orders in March 2026?",
     "SELECT COUNT(*) FROM orders WHERE created_at >= '2026-03-01' AND created_at < '2026-04-01'"),
    ("Number of purchases last week",
     "SELECT COUNT(*) FROM orders WHERE created_at >= '2026-06-22' AND created_at < '2026-06-29'"),
    ("How many customers per country?",
     "SELECT country, COUNT(*) AS n FROM customers GROUP BY country ORDER BY n DESC"),
    ("Total sales by month in 2025",
     "SELECT strftime('%Y-%m', created_at) AS m, ROUND(SUM(total_amount), 2) FROM orders "
     "WHERE created_at >= '2025-01-01' AND created_at < '2026-01-01' GROUP BY m ORDER BY m"),
    ("Top 5 orders by order total",
     "SELECT id, customer_id, status, total_amount FROM orders ORDER BY total_amount DESC LIMIT 5"),
    ("How many cancelled or refunded orders?",
     "SELECT COUNT(*) FROM orders WHERE status IN ('cancelled', 'refunded')"),
]


@pytest.mark.parametrize(("question", "expected_sql"), CASES, ids=[c[0] for c in CASES])
def test_rules_planner_matches_hand_written_sql(offline, shop_file, question, expected_sql):
    answer = offline.ask("shop", question, today=TODAY)
    assert answer.planner == "rules"
    assert answer.result.rows == shop_rows(shop_file, expected_sql)


@pytest.mark.parametrize("question", [
    "Who is our best customer?",
    "Why did sales drop?",
    "List customers who never ordered",
    "How many weather stations are there?",
])
def test_rules_planner_declines_instead_of_guessing(offline, question):
    with pytest.raises(QuestionNotAnswerable, match="LLM"):
        offline.ask("shop", question, today=TODAY)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("last month", dt.date(2026, 5, 1), dt.date(2026, 6, 1)),
        ("this month", dt.date(2026, 6, 1), dt.date(2026, 7, 1)),
        ("last year", dt.date(2025, 1, 1), dt.date(2026, 1, 1)),
        ("past 2 weeks", dt.date(2026, 6, 17), dt.date(2026, 7, 1)),
        ("last 3 months", dt.date(2026, 3, 31), dt.date(2026, 7, 1)),
        ("since december", dt.date(2025, 12, 1), None),
        ("since 2026-02-14", dt.date(2026, 2, 14), None),
        ("in feb", dt.date(2026, 2, 1), dt.date(2026, 3, 1)),
    ],
)
def test_periods(text, start, end):
    assert parse_period(text, TODAY) == (start, end)


def test_no_period_in_plain_text():
    assert parse_period("orders per status", TODAY) is None


@pytest.mark.parametrize(("text", "message"), [("since 2026-02-30", "2026-02-30 is not a date"),
                                             ("in 0000", "there is no year 0000")])
def test_a_date_that_does_not_exist_is_declined_not_dropped(engine, text, message):
    with pytest.raises(QuestionNotAnswerable, match=message):
        parse_period(text, TODAY)
    with pytest.raises(QuestionNotAnswerable, match=message):
        engine.ask("shop", f"How many orders {text}?", planner="rules", today=TODAY)


@pytest.mark.parametrize(("text", "start", "end"), [
    ("last 2 years", dt.date(2022, 3, 1), dt.date(2024, 3, 1)),      # from a leap day
    ("last 3000 years", dt.date.min, dt.date(2024, 3, 1)),           # before the calendar: from its start
    ("in 9999", dt.date(9999, 1, 1), None),
])
def test_ranges_at_the_edges_of_the_calendar(text, start, end):
    assert parse_period(text, dt.date(2024, 2, 29)) == (start, end)
