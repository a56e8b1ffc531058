"""Schema linking: which tables and columns a question is about, within a token budget.

Every table and column is indexed once by the words of its name (snake_case,
camelCase, common abbreviations), its synonyms and description, and the stored
value hints of its columns. A question scores tables through that inverted index
(cost grows with the question, not the schema), the best ones are taken, foreign-key
paths between them are added so joins are possible, and tables are kept while the
rendered schema fits the budget.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.models import Schema, Table
from nlquery.errors import InvalidRequest
from nlquery.semantic import SemanticMapping, definition_name, definition_tables, is_definition, with_comments, words

ABBREVIATIONS = {
    "qty": "quantity", "amt": "amount", "num": "number", "no": "number", "dt": "date", "ts": "timestamp",
    "cust": "customer", "usr": "user", "addr": "address", "desc": "description", "cat": "category",
    "prod": "product", "ord": "order", "inv": "invoice", "acct": "account", "emp": "employee",
    "dept": "department", "txn": "transaction", "tx": "transaction", "pmt": "payment", "bal": "balance",
    "cnt": "count", "pct": "percent", "avg": "average", "min": "minimum", "max": "maximum",
}
STOPWORDS = frozenset(
    "a an the of in on at for to from by with and or is are was were be been what which who whom how many "
    "much show me list give get find all each per do does did have has had their there this that these those "
    "than then as it its into over under between during total number count sum average top most least "
    "last first next this year month week day today yesterday since ago please i we our my".split()
)
CHARS_PER_TOKEN = 4
WEAK_MATCH = 1.5  # a score below this (one column word, a description word) only counts when nothing scores more
DEFAULT_BUDGET_TOKENS = 6000  # schema part of a prompt that fits an 8k-token context


def singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Normalized content words: split, expanded, singular, no stopwords."""
    found = []
    for word in words(text):
        word = ABBREVIATIONS.get(word, word)
        if word not in STOPWORDS and len(word) > 1:
            found.append(singular(word))
    return found


@dataclass
class LinkedSchema:
    """What the planner shows the model: the chosen tables, best first."""

    schema: Schema
    tables: list[Table]
    scores: dict[str, float]
    matched_values: dict[str, list[str]] = field(default_factory=dict)  # "table.column" -> values named
    reasons: dict[str, list[str]] = field(default_factory=dict)
    definitions: list[str] = field(default_factory=list)  # metric:/segment: keys the question names

    @property
    def names(self) -> list[str]:
        return [self.schema.qualified_name(t) for t in self.tables]


class SchemaLinker:
    """Built once per (schema, mappings, hints); :meth:`link` is cheap per question.
    ``dialect``: the source's sqlglot dialect, in which metric and segment definitions
    are read (a PostgreSQL ``col::date`` or ``~`` is not generic SQL)."""

    def __init__(self, schema: Schema, mappings: Mapping[str, SemanticMapping] | None = None,
                 value_hints: Mapping[str, list[Any]] | None = None, *, dialect: str = "") -> None:
        self.schema = schema
        self.mappings = with_comments(schema, mappings or {})
        self.value_hints = dict(value_hints or {})
        self._postings: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
        self._phrases: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
        self._values: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self._tables = {schema.qualified_name(t): t for t in schema.tables}
        self._name_terms = {name: frozenset(terms(t.name)) for name, t in self._tables.items()}
        self._neighbours: dict[str, set[str]] = defaultdict(set)
        self._references: dict[str, list[str]] = defaultdict(list)  # "table.fk_column" -> table it points at
        for name, table in self._tables.items():
            self._index(name, table)
        # Metrics and segments: their names and synonyms as phrases, pointing at their tables.
        self._definitions: dict[str, list[str]] = defaultdict(list)  # phrase -> keys
        self.definition_tables: dict[str, list[str]] = {}
        for key, mapping in self.mappings.items():
            if not is_definition(key):
                continue
            try:
                tables = definition_tables(key, mapping, schema, dialect) + _subquery_tables(mapping, schema, dialect)
            except InvalidRequest:
                continue  # stale: its table is gone
            self.definition_tables[key] = [t for t in dict.fromkeys(tables) if t in self._tables]
            for text in [definition_name(key), *mapping.synonyms]:
                phrase = " ".join(terms(text))
                if phrase:
                    self._definitions[phrase].append(key)
        for key, values in self.value_hints.items():
            for value in values:
                if isinstance(value, str) and value.strip():
                    self._values[value.strip().lower()].append((key, value))
        # Each stored value as the words a question would hold it by, worked out once.
        self._value_phrases = {value: f" {' '.join(words(value))} " for value in self._values}

    def _index(self, name: str, table: Table) -> None:
        for term in terms(table.name):
            self._postings[term].append((name, 3.0, f"table name {table.name}"))
        for column in table.columns:
            for term in terms(column.name):
                self._postings[term].append((name, 1.0, f"column {column.name}"))
        for fk in table.foreign_keys:
            ref = self.schema.table(f"{fk.ref_schema}.{fk.ref_table}" if fk.ref_schema else fk.ref_table)
            if ref is not None:
                other = self.schema.qualified_name(ref)
                self._neighbours[name].add(other)
                self._neighbours[other].add(name)
                if len(fk.columns) == 1 and other != name:
                    self._references[f"{name}.{fk.columns[0]}"].append(other)
        for key in [name] + [f"{name}.{c.name}" for c in table.columns]:
            mapping = self.mappings.get(key)
            if mapping is None:
                continue
            weight = 3.0 if key == name else 2.0
            for synonym in mapping.synonyms:
                phrase = " ".join(terms(synonym))
                if phrase:
                    self._phrases[phrase].append((name, weight, f"synonym '{synonym}' of {key}"))
            for term in set(terms(mapping.description or "")):
                self._postings[term].append((name, 0.5, f"description of {key}"))

    def link(self, question: str, *, budget_tokens: int = DEFAULT_BUDGET_TOKENS, max_tables: int = 12) -> LinkedSchema:
        scores: dict[str, float] = defaultdict(float)
        reasons: dict[str, list[str]] = defaultdict(list)
        question_terms = terms(question)
        present = set(question_terms)
        for term in present:
            counted: set[tuple[str, str]] = set()
            for name, weight, reason in self._postings.get(term, ()):
                kind = reason.split(" ", 1)[0]  # "name" in first_name and last_name is one match
                if (name, kind) in counted:
                    continue
                counted.add((name, kind))
                scores[name] += weight
                reasons[name].append(reason)
        named: set[str] = set()  # tables the question calls by their name or a synonym of it
        for name in list(scores):
            # Every word of the table's own name asked for: "orders" beats "order_lines".
            if self._name_terms[name] <= present:
                scores[name] += 2.0
                named.add(name)
        # Words of a stored value the question names ('Sales Support Agent') are that value,
        # not synonyms of other tables ("sales" = invoices).
        lowered = f" {' '.join(words(question))} "
        mentioned = [v for v, phrase in self._value_phrases.items() if phrase in lowered]
        masked = lowered
        for value in mentioned:
            phrase = self._value_phrases[value]
            if phrase.count(" ") > 2:  # two words or more
                masked = masked.replace(phrase, " | ")
        joined = " ".join(terms(masked))
        for phrase, targets in self._phrases.items():
            if re.search(rf"(^| ){re.escape(phrase)}( |$)", joined):
                for name, weight, reason in targets:
                    scores[name] += weight * max(1, len(phrase.split()))
                    reasons[name].append(reason)
                    if reason.endswith(f" of {name}"):
                        named.add(name)
                    # "each support rep": a synonym of a foreign key means the table it points at.
                    for referenced in self._references.get(reason.rsplit(" of ", 1)[-1], ()):
                        scores[referenced] += weight
                        reasons[referenced].append(f"{reason} -> {referenced}")
        definitions: list[str] = []
        for phrase, keys in self._definitions.items():
            if re.search(rf"(^| ){re.escape(phrase)}( |$)", joined):
                for key in keys:
                    if key not in definitions:
                        definitions.append(key)
                    for table in self.definition_tables.get(key, []):
                        scores[table] += 4.0
                        reasons[table].append(f"{key}")
        matched_values: dict[str, list[str]] = defaultdict(list)
        for value in mentioned:
            targets = self._values[value]
            # "customers from Canada": the value belongs to the table the question names, not to
            # every table that stores it (employees.country, invoices.billing_country ...).
            own = [(key, original) for key, original in targets if key.rsplit(".", 1)[0] in named]
            for key, original in own or targets:
                # "in", "on", "at"...: a stored value only when written exactly (IN = India).
                if value in STOPWORDS and not re.search(rf"\b{re.escape(original)}\b", question):
                    continue
                table = key.rsplit(".", 1)[0]
                several_words = self._value_phrases[value].count(" ") > 2
                scores[table] += 4.0 if several_words else 2.0  # 'Sales Support Agent' is no accident
                reasons[table].append(f"value '{original}' of {key}")
                matched_values[key].append(original)

        matched_tables = {key.rsplit(".", 1)[0] for key in matched_values} | {
            t for d in definitions for t in self.definition_tables.get(d, [])}
        # "customers" names the customers table; support_customers and billing_customers,
        # which only share its word, are other tables: left out when the question names
        # none of their other words.
        shadowed = {n for n in scores if n not in named and n not in matched_tables and any(
            self._name_terms[m] < self._name_terms[n] for m in named)}
        for name in shadowed:
            del scores[name]
        ranked = sorted(scores, key=lambda n: (-scores[n], n))
        if ranked:
            # A table matched by one common column word alone ("last name" -> every table
            # with a name column) is noise next to one the question names; the join paths
            # below still bring in the tables between the chosen ones.
            floor = min(WEAK_MATCH, scores[ranked[0]])
            ranked = [n for n in ranked if scores[n] >= floor]
        chosen = ranked[: max(1, min(max_tables, len(ranked)))] if ranked else self._fallback()
        chosen = self._with_join_paths(chosen, max_tables)
        kept, used = [], 0
        for name in chosen:
            cost = table_tokens(self._tables[name])
            if kept and used + cost > budget_tokens:
                continue
            kept.append(name)
            used += cost
        return LinkedSchema(
            schema=self.schema, tables=[self._tables[n] for n in kept],
            scores={n: round(scores.get(n, 0.0), 2) for n in kept},
            matched_values=dict(matched_values), reasons={n: reasons.get(n, []) for n in kept},
            definitions=[d for d in definitions if set(self.definition_tables.get(d, [])) <= set(kept)],
        )

    def _fallback(self) -> list[str]:
        # Nothing matched: the most connected tables are the likeliest hubs of the schema.
        return sorted(self._tables, key=lambda n: (-len(self._neighbours[n]), n))[:5]

    def _with_join_paths(self, chosen: list[str], max_tables: int) -> list[str]:
        result = list(chosen)
        anchor = chosen[0]
        for target in chosen[1:]:
            for step in self._path(anchor, target):
                if step not in result and len(result) < max_tables + 4:
                    result.append(step)
        return result

    def _path(self, start: str, goal: str, max_depth: int = 3) -> list[str]:
        """Tables on the shortest foreign-key path between two tables (exclusive)."""
        previous: dict[str, str | None] = {start: None}
        queue = deque([(start, 0)])
        while queue:
            node, depth = queue.popleft()
            if node == goal:
                path = []
                while previous[node] is not None:
                    node = previous[node]  # type: ignore[assignment]
                    path.append(node)
                return [p for p in path if p != start]
            if depth < max_depth:
                for nxt in sorted(self._neighbours[node]):
                    if nxt not in previous:
                        previous[nxt] = node
                        queue.append((nxt, depth + 1))
        return []


def _subquery_tables(mapping: SemanticMapping, schema: Schema, dialect: str) -> list[str]:
    """Tables a definition's text reads in a subquery (``customer_id IN (SELECT customer_id
    FROM invoices ...)``): the question needs them linked too."""
    import sqlglot
    from sqlglot import exp

    text = mapping.sql or mapping.where
    try:
        tree = sqlglot.parse_one(text, read=dialect or None) if text else None
    except Exception:  # noqa: BLE001 - definition_tables already said what is wrong
        return []
    found = [schema.table(f"{t.db}.{t.name}" if t.db else t.name) for t in tree.find_all(exp.Table)] if tree else []
    return [schema.qualified_name(t) for t in found if t is not None]


def table_tokens(table: Table) -> int:
    """Rough prompt cost of a table's rendering."""
    chars = len(table.name) + 20 + sum(len(c.name) + len(c.type) + 12 for c in table.columns)
    return chars // CHARS_PER_TOKEN + 1
