"""The music-store question set (``--suite music``): (question, gold SQL in SQLite, needs
vocabulary) per intended level, and the mappings the suite imports.

Written by us for the generated store of :mod:`benchmarks.music`, shaped like an
evaluation on the classic music-store schema: easy (counts, one filter), medium (one join,
grouping, top N), hard (three to five tables, revenue through invoice lines, anti-joins,
percentages, ties). "Needs vocabulary" marks a question whose words are not the schema's
(clients, songs, bands, staff) or that names a metric or segment only the mappings
define (revenue, units sold, average order value, account managers, big spenders, long
tracks). Gold SQL rounds only where the question says so; dates come from
:func:`benchmarks.nl_questions.dates` (``{last_year}``, ``{year}``), as the store's
invoices end today. Rows are compared, so ties in a top N are either absent from the
data (checked by the tests) or part of the question.
"""

from __future__ import annotations

QUESTIONS: dict[str, list[tuple[str, str, bool]]] = {
    "easy": [
        ("How many artists are there?", "SELECT COUNT(*) FROM artists", False),
        ("How many customers are from Brazil?", "SELECT COUNT(*) FROM customers WHERE country = 'Brazil'", False),
        ("List the names of all genres.", "SELECT name FROM genres", False),
        ("How many invoices were billed to Germany?",
         "SELECT COUNT(*) FROM invoices WHERE billing_country = 'Germany'", False),
        ("What is the length in milliseconds of the longest track?", "SELECT MAX(milliseconds) FROM tracks", False),
        ("What is the largest invoice total?", "SELECT MAX(total) FROM invoices", False),
        ("How many tracks have no composer?", "SELECT COUNT(*) FROM tracks WHERE composer IS NULL", False),
        ("How many tracks cost 1.99?", "SELECT COUNT(*) FROM tracks WHERE unit_price = 1.99", False),
        ("Which cities do our customers in Canada live in?",
         "SELECT DISTINCT city FROM customers WHERE country = 'Canada'", False),
        ("How many playlists are there?", "SELECT COUNT(*) FROM playlists", False),
        ("What is the total size in bytes of all tracks?", "SELECT SUM(bytes) FROM tracks", False),
        ("How many songs are in the catalog?", "SELECT COUNT(*) FROM tracks", True),
        ("How many clients live in the USA?", "SELECT COUNT(*) FROM customers WHERE country = 'USA'", True),
    ],
    "medium": [
        ("How many customers are there in each country?",
         "SELECT country, COUNT(*) FROM customers GROUP BY country", False),
        ("Which 3 countries have the most customers?",
         "SELECT country FROM customers GROUP BY country ORDER BY COUNT(*) DESC LIMIT 3", False),
        ("What is the total invoiced amount per billing country, rounded to 2 decimals?",
         "SELECT billing_country, ROUND(SUM(total), 2) FROM invoices GROUP BY billing_country", False),
        ("How many albums does the artist Marisa Duarte have?",
         "SELECT COUNT(*) FROM albums al JOIN artists ar ON ar.artist_id = al.artist_id "
         "WHERE ar.name = 'Marisa Duarte'", False),
        ("List the titles of the albums by The Rusty Nails.",
         "SELECT al.title FROM albums al JOIN artists ar ON ar.artist_id = al.artist_id "
         "WHERE ar.name = 'The Rusty Nails'", False),
        ("Which artist has the most albums?",
         "SELECT ar.name FROM artists ar JOIN albums al ON al.artist_id = ar.artist_id "
         "GROUP BY ar.artist_id, ar.name ORDER BY COUNT(*) DESC LIMIT 1", False),
        ("How many tracks are there in each genre? Show the genre name and the count.",
         "SELECT g.name, COUNT(*) FROM tracks t JOIN genres g ON g.genre_id = t.genre_id GROUP BY g.genre_id, g.name",
         False),
        ("What are the 10 longest tracks, with their length in minutes rounded to 2 decimals?",
         "SELECT name, ROUND(milliseconds / 60000.0, 2) FROM tracks ORDER BY milliseconds DESC LIMIT 10", False),
        ("How many invoices were issued in each year?",
         "SELECT strftime('%Y', invoice_date), COUNT(*) FROM invoices GROUP BY 1", False),
        ("What was the total invoiced amount in {last_year}, rounded to 2 decimals?",
         "SELECT ROUND(SUM(total), 2) FROM invoices WHERE invoice_date >= '{last_year}-01-01' "
         "AND invoice_date < '{year}-01-01'", False),
        ("List each employee's first name together with the first name of the manager they report to.",
         "SELECT e.first_name, m.first_name FROM employees e JOIN employees m ON m.employee_id = e.reports_to", False),
        ("How many customers does each support rep look after? Show the rep's last name and the count.",
         "SELECT e.last_name, COUNT(*) FROM employees e JOIN customers c ON c.support_rep_id = e.employee_id "
         "GROUP BY e.employee_id, e.last_name", False),
        ("Which 3 customers have spent the most in total? Show their first and last names.",
         "SELECT c.first_name, c.last_name FROM customers c JOIN invoices i ON i.customer_id = c.customer_id "
         "GROUP BY c.customer_id, c.first_name, c.last_name ORDER BY SUM(i.total) DESC LIMIT 3", False),
        ("How many tracks are in the Grunge playlist?",
         "SELECT COUNT(*) FROM playlist_track pt JOIN playlists p ON p.playlist_id = pt.playlist_id "
         "WHERE p.name = 'Grunge'", False),
        ("Which media type has the most tracks?",
         "SELECT m.name FROM tracks t JOIN media_types m ON m.media_type_id = t.media_type_id "
         "GROUP BY m.media_type_id, m.name ORDER BY COUNT(*) DESC LIMIT 1", False),
        ("What is the average track length in minutes for each genre, rounded to 2 decimals?",
         "SELECT g.name, ROUND(AVG(t.milliseconds) / 60000.0, 2) FROM tracks t "
         "JOIN genres g ON g.genre_id = t.genre_id "
         "GROUP BY g.genre_id, g.name", False),
        ("How many invoices did customers from Canada place?",
         "SELECT COUNT(*) FROM invoices i JOIN customers c ON c.customer_id = i.customer_id WHERE c.country = 'Canada'",
         False),
        ("What is the total duration in minutes of the album Gold Thunder, rounded to 1 decimal?",
         "SELECT ROUND(SUM(t.milliseconds) / 60000.0, 1) FROM tracks t JOIN albums al ON al.album_id = t.album_id "
         "WHERE al.title = 'Gold Thunder'", False),
        ("How many staff members are there per job title?", "SELECT title, COUNT(*) FROM employees GROUP BY title",
         True),
        ("What is the average order value per billing country, rounded to 2 decimals?",
         "SELECT billing_country, ROUND(AVG(total), 2) FROM invoices GROUP BY billing_country", True),
    ],
    "hard": [
        ("Which 5 artists have the highest revenue? Show the artist name and the revenue rounded to 2 decimals.",
         "SELECT ar.name, ROUND(SUM(ii.unit_price * ii.quantity), 2) FROM invoice_items ii "
         "JOIN tracks t ON t.track_id = ii.track_id JOIN albums al ON al.album_id = t.album_id "
         "JOIN artists ar ON ar.artist_id = al.artist_id GROUP BY ar.artist_id, ar.name ORDER BY 2 DESC LIMIT 5", True),
        ("What is the revenue of each genre, rounded to 2 decimals?",
         "SELECT g.name, ROUND(SUM(ii.unit_price * ii.quantity), 2) FROM invoice_items ii "
         "JOIN tracks t ON t.track_id = ii.track_id JOIN genres g ON g.genre_id = t.genre_id "
         "GROUP BY g.genre_id, g.name", True),
        ("How many units were sold in each genre?",
         "SELECT g.name, SUM(ii.quantity) FROM invoice_items ii JOIN tracks t ON t.track_id = ii.track_id "
         "JOIN genres g ON g.genre_id = t.genre_id GROUP BY g.genre_id, g.name", True),
        ("How much did each account manager's customers spend in total? Show the manager's last name and the "
         "amount rounded to 2 decimals.",
         "SELECT e.last_name, ROUND(SUM(i.total), 2) FROM employees e "
         "JOIN customers c ON c.support_rep_id = e.employee_id "
         "JOIN invoices i ON i.customer_id = c.customer_id WHERE e.title = 'Sales Support Agent' "
         "GROUP BY e.employee_id, e.last_name", True),
        ("Which employees have nobody reporting to them? Give their first and last names.",
         "SELECT first_name, last_name FROM employees e "
         "WHERE NOT EXISTS (SELECT 1 FROM employees r WHERE r.reports_to = e.employee_id)", False),
        ("What percentage of all tracks are Rock tracks, rounded to 1 decimal?",
         "SELECT ROUND(100.0 * SUM(g.name = 'Rock') / COUNT(*), 1) FROM tracks t "
         "JOIN genres g ON g.genre_id = t.genre_id",
         False),
        ("How much did customers from Brazil spend on Latin tracks, rounded to 2 decimals?",
         "SELECT ROUND(SUM(ii.unit_price * ii.quantity), 2) FROM invoice_items ii "
         "JOIN invoices i ON i.invoice_id = ii.invoice_id JOIN customers c ON c.customer_id = i.customer_id "
         "JOIN tracks t ON t.track_id = ii.track_id JOIN genres g ON g.genre_id = t.genre_id "
         "WHERE c.country = 'Brazil' AND g.name = 'Latin'", False),
        ("Which customers from France bought at least one Jazz track? Give their first and last names.",
         "SELECT DISTINCT c.first_name, c.last_name FROM customers c JOIN invoices i ON i.customer_id = c.customer_id "
         "JOIN invoice_items ii ON ii.invoice_id = i.invoice_id JOIN tracks t ON t.track_id = ii.track_id "
         "JOIN genres g ON g.genre_id = t.genre_id WHERE c.country = 'France' AND g.name = 'Jazz'", False),
        ("How many artists have no albums?",
         "SELECT COUNT(*) FROM artists WHERE artist_id NOT IN (SELECT artist_id FROM albums)", False),
        ("Which customers placed the most invoices? List everyone tied for the most, with first and last names.",
         "SELECT c.first_name, c.last_name FROM customers c JOIN invoices i ON i.customer_id = c.customer_id "
         "GROUP BY c.customer_id, c.first_name, c.last_name HAVING COUNT(*) = "
         "(SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM invoices GROUP BY customer_id))", False),
        ("How many customers in the USA does each sales support agent look after? Show the agent's last name "
         "and the count.",
         "SELECT e.last_name, COUNT(*) FROM employees e JOIN customers c ON c.support_rep_id = e.employee_id "
         "WHERE c.country = 'USA' AND e.title = 'Sales Support Agent' GROUP BY e.employee_id, e.last_name", False),
        ("How many big spenders do we have?",
         "SELECT COUNT(*) FROM customers WHERE customer_id IN "
         "(SELECT customer_id FROM invoices GROUP BY customer_id HAVING SUM(total) > 50)", True),
        ("How many long tracks are there in each genre?",
         "SELECT g.name, COUNT(*) FROM tracks t JOIN genres g ON g.genre_id = t.genre_id "
         "WHERE t.milliseconds > 360000 GROUP BY g.genre_id, g.name", True),
    ],
}

# Tables and columns described as a data team would, with the words people use for them.
MAPPINGS: dict[str, dict] = {
    "artists": {"description": "Recording artists and bands", "synonyms": ["bands", "musicians", "performers"]},
    "albums": {"description": "Albums, each by one artist", "synonyms": ["records", "releases"]},
    "tracks": {"description": "Tracks for sale, each on an album", "synonyms": ["songs", "tunes", "catalog"]},
    "tracks.milliseconds": {"description": "Track length in milliseconds", "synonyms": ["duration", "length"]},
    "tracks.bytes": {"description": "File size in bytes", "synonyms": ["size"]},
    "tracks.unit_price": {"description": "List price of the track in USD", "synonyms": ["price"]},
    "genres": {"description": "Music genres (Rock, Jazz, Latin ...)", "synonyms": ["styles"]},
    "media_types": {"description": "File formats (MPEG audio file ...)", "synonyms": ["formats"]},
    "playlist_track": {"description": "Which tracks are on which playlist"},
    "employees": {"description": "Store staff; reports_to is the employee's manager",
                  "synonyms": ["staff", "staff members", "workers"]},
    "employees.reports_to": {"description": "The manager's employee_id", "synonyms": ["manager", "boss"]},
    "employees.title": {"description": "Job title", "synonyms": ["job title", "role", "position"]},
    "customers": {"description": "Customer accounts", "synonyms": ["clients", "buyers", "listeners"]},
    "customers.support_rep_id": {"description": "The sales support agent (employee) who looks after the customer",
                                 "synonyms": ["support rep", "sales rep", "account manager"]},
    "customers.country": {"description": "The customer's country, full English name (USA, Brazil ...)"},
    "invoices": {"description": "Customer purchases: one invoice per order",
                 "synonyms": ["orders", "sales", "purchases"]},
    "invoices.total": {"description": "Invoice total in USD", "synonyms": ["order total", "amount"]},
    "invoices.invoice_date": {"description": "When the order was placed", "synonyms": ["order date", "sale date"]},
    "invoice_items": {"description": "Invoice lines: one track bought, its unit price and quantity",
                      "synonyms": ["order lines", "line items"]},
}

# Business vocabulary, as a mapping document's top-level sections (imported unless --no-metrics).
DEFINITIONS: dict[str, dict] = {
    "metrics": {
        "revenue": {"sql": "SUM(invoice_items.unit_price * invoice_items.quantity)",
                    "description": "money taken, from invoice lines", "synonyms": ["income", "earnings"]},
        "units sold": {"sql": "SUM(invoice_items.quantity)", "description": "tracks sold, counted by quantity",
                       "synonyms": ["units", "copies sold"]},
        "average order value": {"sql": "AVG(invoices.total)", "description": "mean invoice total",
                                "synonyms": ["aov", "average basket"]},
    },
    "segments": {
        "account managers": {"table": "employees", "where": "title = 'Sales Support Agent'",
                             "description": "employees who look after customers",
                             "synonyms": ["sales agents", "support agents"]},
        "big spenders": {"table": "customers",
                         "where": "customer_id IN (SELECT customer_id FROM invoices GROUP BY customer_id "
                                  "HAVING SUM(total) > 50)",
                         "description": "customers whose invoices total more than 50 USD",
                         "synonyms": ["vip customers", "high spenders"]},
        "long tracks": {"table": "tracks", "where": "milliseconds > 360000",
                        "description": "tracks longer than 6 minutes", "synonyms": ["long songs"]},
    },
}
