"""The demo-shop question set: (question, gold SQL in SQLite, uses a synonym).

The shop ends today and the gold SQL's dates are computed from today (``{month_start}``
and the like, filled by :func:`gold_sql`), so a model that uses the database's own clock
(``date('now')``) is judged fairly. Results are compared, not SQL text.
"""

import datetime as dt


def dates(today: dt.date) -> dict[str, str]:
    month_start = today.replace(day=1)
    last_month_start = (month_start - dt.timedelta(days=1)).replace(day=1)
    week_start = today - dt.timedelta(days=today.weekday())
    return {
        "today": today.isoformat(), "tomorrow": (today + dt.timedelta(days=1)).isoformat(),
        "yesterday": (today - dt.timedelta(days=1)).isoformat(),
        "week_start": week_start.isoformat(), "last_week_start": (week_start - dt.timedelta(days=7)).isoformat(),
        "month_start": month_start.isoformat(), "last_month_start": last_month_start.isoformat(),
        "year_start": today.replace(month=1, day=1).isoformat(), "year": str(today.year),
        "last_year": str(today.year - 1), "d30": (today - dt.timedelta(days=29)).isoformat(),
    }


def gold_sql(sql: str, today: dt.date) -> str:
    return sql.format(**dates(today)) if "{" in sql else sql


QUESTIONS: list[tuple[str, str, bool]] = [
    # counts
    ("How many customers are there?", "SELECT COUNT(*) FROM customers", False),
    ("How many users do we have?", "SELECT COUNT(*) FROM customers", True),
    ("How many clients signed up last month?",
     "SELECT COUNT(*) FROM customers WHERE created_at >= '{last_month_start}' AND created_at < '{month_start}'", True),
    ("How many members joined last year?",
     "SELECT COUNT(*) FROM customers WHERE created_at >= '{last_year}-01-01' AND created_at < '{year}-01-01'", True),
    ("How many orders were placed yesterday?",
     "SELECT COUNT(*) FROM orders WHERE created_at >= '{yesterday}' AND created_at < '{today}'", False),
    ("How many purchases this month?",
     "SELECT COUNT(*) FROM orders WHERE created_at >= '{month_start}' AND created_at < '{tomorrow}'", True),
    ("How many transactions were refunded?", "SELECT COUNT(*) FROM orders WHERE status = 'refunded'", True),
    ("How many products are there?", "SELECT COUNT(*) FROM products", False),
    ("How many items are in the catalog?", "SELECT COUNT(*) FROM products", True),
    ("How many orders are pending?", "SELECT COUNT(*) FROM orders WHERE status = 'pending'", False),
    ("How many customers live in Toronto?", "SELECT COUNT(*) FROM customers WHERE city = 'Toronto'", False),
    ("How many customers are from CA?", "SELECT COUNT(*) FROM customers WHERE country = 'CA'", False),
    ("How many orders were delivered last week?",
     "SELECT COUNT(*) FROM orders WHERE status = 'delivered' AND created_at >= '{last_week_start}' "
     "AND created_at < '{week_start}'", False),
    ("How many customers have no city?", "SELECT COUNT(*) FROM customers WHERE city IS NULL", False),
    ("How many order items are there?", "SELECT COUNT(*) FROM order_items", False),
    # sums and averages
    ("What's the total sales this week?",
     "SELECT ROUND(SUM(total_amount), 2) FROM orders WHERE created_at >= '{week_start}' AND created_at < '{tomorrow}'",
     True),
    ("What is the total revenue last year?",
     "SELECT ROUND(SUM(total_amount), 2) FROM orders WHERE created_at >= '{last_year}-01-01' AND created_at < '{year}-01-01'",
     True),
    ("What is the average order total?", "SELECT ROUND(AVG(total_amount), 2) FROM orders", True),
    ("What is the average product price?", "SELECT ROUND(AVG(price), 2) FROM products", False),
    ("Total order value of delivered orders",
     "SELECT ROUND(SUM(total_amount), 2) FROM orders WHERE status = 'delivered'", False),
    ("Average purchase amount last month",
     "SELECT ROUND(AVG(total_amount), 2) FROM orders WHERE created_at >= '{last_month_start}' AND created_at < '{month_start}'",
     True),
    ("What is the highest order total?", "SELECT MAX(total_amount) FROM orders", False),
    ("What is the cheapest product price?", "SELECT MIN(price) FROM products", False),
    ("Most expensive product price in Electronics",
     "SELECT MAX(price) FROM products WHERE category = 'Electronics'", False),
    ("Total quantity of items sold", "SELECT SUM(quantity) FROM order_items", False),
    # grouping
    ("How many customers per country?",
     "SELECT country, COUNT(*) FROM customers GROUP BY country", False),
    ("How many orders per status?", "SELECT status, COUNT(*) FROM orders GROUP BY status", False),
    ("How many products per category?", "SELECT category, COUNT(*) FROM products GROUP BY category", False),
    ("Total sales by status",
     "SELECT status, ROUND(SUM(total_amount), 2) FROM orders GROUP BY status", True),
    ("Average product price by category",
     "SELECT category, ROUND(AVG(price), 2) FROM products GROUP BY category", False),
    ("Number of signups by month last year",
     "SELECT strftime('%Y-%m', created_at), COUNT(*) FROM customers WHERE created_at >= '{last_year}-01-01' "
     "AND created_at < '{year}-01-01' GROUP BY 1", True),
    ("Orders per month this year",
     "SELECT strftime('%Y-%m', created_at), COUNT(*) FROM orders WHERE created_at >= '{year_start}' "
     "AND created_at < '{tomorrow}' GROUP BY 1", False),
    ("How many customers per city in Canada (CA)?",
     "SELECT city, COUNT(*) FROM customers WHERE country = 'CA' GROUP BY city", False),
    # top N and lists
    ("Top 5 orders by order total",
     "SELECT id FROM orders ORDER BY total_amount DESC LIMIT 5", True),
    ("The 3 most expensive products",
     "SELECT name FROM products ORDER BY price DESC, id LIMIT 3", False),
    ("List the product categories", "SELECT DISTINCT category FROM products", False),
    ("Which countries do our clients come from?", "SELECT DISTINCT country FROM customers", True),
    ("Show the 5 most recent orders", "SELECT id FROM orders ORDER BY created_at DESC LIMIT 5", False),
    ("Names of customers who signed up today",
     "SELECT name FROM customers WHERE created_at >= '{today}'", True),
    # joins
    ("How many orders did customers from Germany (DE) place?",
     "SELECT COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.country = 'DE'", False),
    ("Total revenue per product category",
     "SELECT p.category, ROUND(SUM(i.quantity * i.unit_price), 2) FROM order_items i "
     "JOIN products p ON p.id = i.product_id GROUP BY p.category", True),
    ("Which customer placed the most orders?",
     "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name "
     "ORDER BY COUNT(*) DESC, c.id LIMIT 1", False),
    ("Top 3 customers by total purchase amount",
     "SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id "
     "ORDER BY SUM(o.total_amount) DESC LIMIT 3", True),
    ("How many units of Books were sold?",
     "SELECT SUM(i.quantity) FROM order_items i JOIN products p ON p.id = i.product_id WHERE p.category = 'Books'",
     False),
    ("Best selling product by quantity",
     "SELECT p.name FROM order_items i JOIN products p ON p.id = i.product_id GROUP BY p.id, p.name "
     "ORDER BY SUM(i.quantity) DESC, p.id LIMIT 1", False),
    ("Average number of items per order",
     "SELECT ROUND(CAST(COUNT(*) AS REAL) / COUNT(DISTINCT order_id), 2) FROM order_items", False),
    ("How many customers have never ordered?",
     "SELECT COUNT(*) FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)", False),
    ("How many distinct clients bought something last month?",
     "SELECT COUNT(DISTINCT customer_id) FROM orders WHERE created_at >= '{last_month_start}' AND created_at < '{month_start}'",
     True),
    ("Revenue from customers in the US this year",
     "SELECT ROUND(SUM(o.total_amount), 2) FROM orders o JOIN customers c ON c.id = o.customer_id "
     "WHERE c.country = 'US' AND o.created_at >= '{year_start}'", True),
    ("Which city has the most customers?",
     "SELECT city FROM customers WHERE city IS NOT NULL GROUP BY city ORDER BY COUNT(*) DESC, city LIMIT 1", False),
    ("How many orders contain more than 2 items?",
     "SELECT COUNT(*) FROM (SELECT order_id FROM order_items GROUP BY order_id HAVING COUNT(*) > 2)", False),
    ("Share of cancelled orders in percent",
     "SELECT ROUND(100.0 * SUM(status = 'cancelled') / COUNT(*), 2) FROM orders", False),
    # business vocabulary defined in the semantic layer (DEFINITIONS: metrics and segments)
    ("How many big orders were placed?", "SELECT COUNT(*) FROM orders WHERE total_amount > 500", True),
    ("Units sold per product category",
     "SELECT p.category, SUM(i.quantity) FROM order_items i JOIN products p ON p.id = i.product_id "
     "GROUP BY p.category", True),
    ("How many big orders did German customers (DE) place?",
     "SELECT COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
     "WHERE o.total_amount > 500 AND c.country = 'DE'", True),
]

# The demo suite's metrics and segments (imported unless the benchmark runs --no-metrics).
DEFINITIONS = {
    "metric:units sold": {"sql": "SUM(order_items.quantity)", "synonyms": ["units", "quantity sold"],
                          "description": "items sold, counted by quantity"},
    "segment:big orders": {"table": "orders", "where": "total_amount > 500", "synonyms": ["large orders"],
                           "description": "orders over 500 USD"},
}
