"""Schema linking on real-sized schemas: right tables, join paths, within budget."""

from __future__ import annotations

import pytest

from connectors.models import Column, ForeignKey, Schema, Table
from nlquery.planner.linking import SchemaLinker, table_tokens, terms
from nlquery.semantic import merge


def big_schema(extra: int = 2000) -> Schema:
    tables = [
        Table("customers", [Column("id", "int"), Column("name", "text"), Column("created_at", "timestamp")],
              primary_key=["id"]),
        Table("orders", [Column("id", "int"), Column("cust_id", "int"), Column("total_amt", "numeric")],
              primary_key=["id"], foreign_keys=[ForeignKey(["cust_id"], "customers", ["id"])]),
        Table("order_lines", [Column("id", "int"), Column("ord_id", "int"), Column("sku_id", "int")],
              foreign_keys=[ForeignKey(["ord_id"], "orders", ["id"]), ForeignKey(["sku_id"], "skus", ["id"])]),
        Table("skus", [Column("id", "int"), Column("label", "text")], primary_key=["id"]),
    ]
    tables += [Table(f"telemetry_{i}", [Column("id", "int"), Column(f"sensor_reading_{i}", "float")])
               for i in range(extra)]
    return Schema(tables=tables)


@pytest.fixture(scope="module")
def linker():
    schema = big_schema()
    mappings = merge({}, {"customers": {"synonyms": ["clients"]}, "skus": {"synonyms": ["products"]}}, schema)
    return SchemaLinker(schema, mappings, {"orders.status": ["shipped", "pending"]})


def test_words_are_split_and_abbreviations_expanded():
    assert terms("cust_id") == ["customer", "id"] and terms("qtyOrdered") == ["quantity", "ordered"]


def test_synonym_finds_the_table_among_thousands(linker):
    linked = linker.link("How many clients do we have?")
    assert linked.names[0] == "customers"
    assert not any(n.startswith("telemetry_") for n in linked.names)


def test_abbreviated_columns_are_found(linker):
    assert linker.link("total amount of orders").names[0] == "orders"


def test_join_path_between_chosen_tables_is_added(linker):
    linked = linker.link("products bought by clients")
    assert {"customers", "skus"} <= set(linked.names)
    assert {"orders", "order_lines"} <= set(linked.names)  # the path between them


def test_value_hints_point_at_their_table(linker):
    linked = linker.link("how many shipped?")
    assert linked.names[0] == "orders" and linked.matched_values == {"orders.status": ["shipped"]}


def test_the_budget_is_respected(linker):
    linked = linker.link("telemetry sensor reading", budget_tokens=200)
    assert sum(table_tokens(t) for t in linked.tables) <= 200


def test_an_unmatched_question_falls_back_to_hub_tables(linker):
    linked = linker.link("xyzzy plugh")
    assert linked.tables and linked.names[0] in {"orders", "customers", "order_lines", "skus"}


def _people() -> tuple[SchemaLinker, Schema]:
    schema = Schema(tables=[
        Table("customers", [Column("id", "int"), Column("country", "text"), Column("rep_id", "int")],
              primary_key=["id"], foreign_keys=[ForeignKey(["rep_id"], "employees", ["id"])]),
        Table("employees", [Column("id", "int"), Column("country", "text")], primary_key=["id"]),
    ])
    countries = ["Argentina", "Brazil", "Canada", "Chile", "Denmark", "France", "Germany", "India", "Italy",
                 "Japan", "Norway", "Spain", "USA"]
    mappings = merge({}, {"customers": {"synonyms": ["clients"]}}, schema)
    return SchemaLinker(schema, mappings, {"customers.country": countries, "employees.country": ["Canada", "USA"]}), schema


@pytest.mark.parametrize("question", ["How many customers are from Canada?", "How many clients are from Canada?"])
def test_a_value_counts_for_the_table_the_question_names(question):
    linker, _ = _people()
    linked = linker.link(question)
    assert linked.matched_values == {"customers.country": ["Canada"]} and linked.names == ["customers"]


def test_a_value_no_named_table_holds_counts_everywhere():
    linker, _ = _people()
    assert set(linker.link("Who is in Canada?").matched_values) == {"customers.country", "employees.country"}


def test_the_values_the_question_names_are_shown_first():
    from nlquery.planner.prompt import hinted_columns

    linker, _ = _people()
    linked = linker.link("How many customers live in the USA?")
    hints = hinted_columns("How many customers live in the USA?", linked, linker.value_hints)
    assert hints["customers.country"][0] == "USA" and len(hints["customers.country"]) == 13


def _store() -> SchemaLinker:
    schema = Schema(tables=[
        Table("employees", [Column("employee_id", "int"), Column("first_name", "text"), Column("last_name", "text"),
                            Column("title", "text")], primary_key=["employee_id"]),
        Table("customers", [Column("customer_id", "int"), Column("first_name", "text"), Column("last_name", "text"),
                            Column("support_rep_id", "int")], primary_key=["customer_id"],
              foreign_keys=[ForeignKey(["support_rep_id"], "employees", ["employee_id"])]),
        Table("invoices", [Column("invoice_id", "int"), Column("customer_id", "int"), Column("total", "numeric")],
              primary_key=["invoice_id"], foreign_keys=[ForeignKey(["customer_id"], "customers", ["customer_id"])]),
        Table("artists", [Column("artist_id", "int"), Column("name", "text")], primary_key=["artist_id"]),
        Table("genres", [Column("genre_id", "int"), Column("name", "text")], primary_key=["genre_id"]),
    ])
    mappings = merge({}, {
        "invoices": {"synonyms": ["sales"]},
        "customers.support_rep_id": {"synonyms": ["support rep"]},
        "segment:big spenders": {"table": "customers", "where": "customer_id IN (SELECT customer_id FROM invoices "
                                                                 "GROUP BY customer_id HAVING SUM(total) > 50)"},
    }, schema)
    return SchemaLinker(schema, mappings, {"employees.title": ["Sales Support Agent", "IT Staff"]})


def test_a_synonym_of_a_foreign_key_links_the_table_it_points_at():
    assert "employees" in _store().link("How many customers does each support rep look after?").names


def test_words_of_a_named_stored_value_are_not_synonyms_of_other_tables():
    linked = _store().link("Which employees are Sales Support Agent?")
    assert linked.matched_values == {"employees.title": ["Sales Support Agent"]}
    assert "invoices" not in linked.names  # "sales" was part of the value, not the invoices synonym


def test_one_common_column_word_does_not_link_every_table():
    names = _store().link("Show the last name of every employee").names
    assert names[0] == "employees" and not {"artists", "genres"} & set(names)


def test_a_segment_links_the_tables_its_condition_reads():
    assert {"customers", "invoices"} <= set(_store().link("How many big spenders do we have?").names)


def test_a_table_named_only_by_a_word_of_another_tables_name_is_left_out():
    schema = Schema(tables=[
        Table("customers", [Column("customer_id", "int"), Column("city", "text")], primary_key=["customer_id"]),
        Table("support_customers", [Column("id", "int"), Column("city", "text")], primary_key=["id"]),
        Table("invoices", [Column("invoice_id", "int"), Column("customer_id", "int")], primary_key=["invoice_id"],
              foreign_keys=[ForeignKey(["customer_id"], "customers", ["customer_id"])]),
        Table("invoice_items", [Column("invoice_id", "int"), Column("price", "numeric")],
              foreign_keys=[ForeignKey(["invoice_id"], "invoices", ["invoice_id"])]),
    ])
    mappings = merge({}, {"metric:revenue": {"sql": "SUM(invoice_items.price)"}}, schema)
    linker = SchemaLinker(schema, mappings, {})
    assert "support_customers" not in linker.link("Which cities do customers live in?").names
    assert "support_customers" in linker.link("Which cities do support customers live in?").names
    # a table a metric reads stays, whatever its name shares
    assert {"invoices", "invoice_items"} <= set(linker.link("What is the revenue per invoice?").names)


def _store_among_distractors(count: int = 300) -> SchemaLinker:
    """The store's tables hidden among ``count`` tables that share its words: crm_customers,
    billing_invoices ..., with country, name, quantity columns and keys to each other."""
    store = _store().schema.tables + [
        Table("invoice_lines", [Column("line_id", "int"), Column("invoice_id", "int"), Column("quantity", "int"),
                                Column("billing_country", "text")], primary_key=["line_id"],
              foreign_keys=[ForeignKey(["invoice_id"], "invoices", ["invoice_id"])]),
    ]
    nouns = ["customers", "invoices", "employees", "orders", "accounts", "payments"]
    domains = ["crm", "billing", "support", "sales", "legacy", "hr", "web", "erp", "stg", "audit"]
    distractors = []
    for index in range(count):
        name = f"{domains[index % len(domains)]}_{nouns[index // len(domains) % len(nouns)]}"
        name += f"_{index // (len(domains) * len(nouns))}" if index >= len(domains) * len(nouns) else ""
        columns = [Column("id", "int"), Column("name", "text"), Column("country", "text"), Column("quantity", "int")]
        keys = []
        if distractors:
            parent = distractors[index // 2].name
            columns.append(Column(f"{parent}_id", "int"))
            keys.append(ForeignKey([f"{parent}_id"], parent, ["id"]))
        distractors.append(Table(name, columns, primary_key=["id"], foreign_keys=keys))
    schema = Schema(tables=store + distractors)
    plain = _store()
    return SchemaLinker(schema, plain.mappings, plain.value_hints)


@pytest.mark.parametrize("question", [
    "How many customers are there in each country?",
    "Which 3 customers have the most invoices?",
    "How many customers does each support rep look after?",
    "What is the total quantity per billing country?",
    "Which employees are Sales Support Agent?",
])
def test_among_distractors_the_same_tables_are_linked_as_in_the_plain_schema(question):
    wide = _store_among_distractors()
    plain = SchemaLinker(Schema(tables=wide.schema.tables[:6]), wide.mappings, wide.value_hints)
    assert wide.link(question).names == plain.link(question).names


def test_a_word_many_tables_share_weighs_less_than_a_rare_one():
    wide = _store_among_distractors()
    # quantity is a column of 300 tables, billing of one real one: the lines table wins
    assert wide.link("Total quantity by billing country").names[0] == "invoice_lines"


def test_a_column_word_of_a_named_tables_neighbour_keeps_its_weight():
    # customer_id is everywhere among the distractors; beside the customers named, the
    # invoices that point at them are the join, whatever else shares the word
    assert "invoices" in _store_among_distractors().link("Which customers have the most invoices?").names


def test_an_inflected_word_finds_the_indexed_one():
    assert _store().link("What was invoiced?").names[0] == "invoices"


def test_a_named_table_whose_other_words_are_a_named_tables_column_is_left_out():
    wide = _store_among_distractors()
    # "billing" is invoice_lines.billing_country, not the billing_invoices table
    names = wide.link("How many invoice lines per billing country?").names
    assert "billing_invoices" not in names and names[0] == "invoice_lines"
    # while a question that asks for it by its whole name gets it
    assert "billing_invoices" in wide.link("How many billing invoices are there?").names
