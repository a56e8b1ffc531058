"""Schema linking: which tables and columns a question is about, within a token budget.

Every table and column is indexed once by the words of its name (snake_case,
camelCase, common abbreviations), its synonyms and description, and the stored
value hints of its columns. A question scores tables through that inverted index
(cost grows with the question, not the schema), the best ones are taken, foreign-key
paths between them are added so joins are possible, and tables are kept while the
rendered schema fits the budget.

Wide schemas (hundreds of crm_customers, billing_invoices ... beside the real tables):
a word many tables share weighs less (its weight is shared out, per kind: names,
columns, descriptions), except among the tables a named table joins; a table's name
weighs by the share of its words asked for; a table is named by words a synonym,
metric or segment does not stand for, and not when its other words are columns of
another named table ("per billing country" of invoices is no billing_invoices).
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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
NAME_WEIGHT = 3.0  # a table's name, shared out among its words
COMMON_WORD_TABLES = 3  # a word of up to this many tables' names and columns weighs fully; beyond, it is shared out
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


class _Posting(NamedTuple):
    """One indexed word of a table: in its name, a column's name or a description."""

    table: str
    weight: float
    reason: str
    kind: str  # "name", "column", "description"
    column: str | None = None


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
        self._postings: dict[str, list[_Posting]] = defaultdict(list)
        self._phrases: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
        self._values: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self._tables = {schema.qualified_name(t): t for t in schema.tables}
        self._name_terms = {name: frozenset(terms(t.name)) for name, t in self._tables.items()}
        self._column_terms = {name: frozenset(w for c in t.columns for w in terms(c.name))
                              for name, t in self._tables.items()}
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
        self._longest_phrase = max((len(p.split()) for p in [*self._phrases, *self._definitions]), default=1)
        # A word found in many tables (name, country, the customers of crm_customers and
        # support_customers) says little about any one of them: its weight is shared out.
        # Counted per kind: the names, the columns, the descriptions of tables.
        spread: dict[tuple[str, str], set[str]] = defaultdict(set)
        for term, postings in self._postings.items():
            for posting in postings:
                spread[term, posting.kind].add(posting.table)
        self._rarity = {key: min(1.0, COMMON_WORD_TABLES / len(tables)) for key, tables in spread.items()}
        # Each stored value as the words a question would hold it by, worked out once.
        self._value_phrases = {value: f" {' '.join(words(value))} " for value in self._values}

    def _known(self, term: str) -> str:
        """``term`` or the indexed word it inflects: ordered -> order, invoiced -> invoice,
        billing -> bill (only when the index has the shorter word and not the term)."""
        if term in self._postings:
            return term
        for suffix in ("d", "ed", "ing", "er"):
            stem = term.removesuffix(suffix)
            if stem != term and len(stem) > 2 and stem in self._postings:
                return stem
        return term

    def _explains(self, table: str, other: str) -> bool:
        """``other``'s name shares a word of ``table``'s name and every other word of it is a
        word of ``table``'s columns (billing_invoices beside invoices with billing_country)."""
        mine, theirs = self._name_terms[table], self._name_terms[other]
        return bool(mine & theirs) and theirs - mine <= self._column_terms[table]

    def _index(self, name: str, table: Table) -> None:
        name_terms = terms(table.name)
        for term in name_terms:
            # Shared by the name's words: "items" is more of order_items than of tmp_order_items.
            weight = NAME_WEIGHT / len(name_terms)
            self._postings[term].append(_Posting(name, weight, f"table name {table.name}", "name"))
        for column in table.columns:
            column_terms = terms(column.name)
            for term in column_terms:
                self._postings[term].append(_Posting(name, 1.0, f"column {column.name}", "column", column.name))
            if len(column_terms) > 1:  # "per billing country" names billing_country, however common its words
                self._phrases[" ".join(column_terms)].append((name, 1.0, f"column name of {name}.{column.name}"))
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
                self._postings[term].append(_Posting(name, 0.5, f"description of {key}", "description"))

    def link(self, question: str, *, budget_tokens: int = DEFAULT_BUDGET_TOKENS, max_tables: int = 12) -> LinkedSchema:
        scores: dict[str, float] = defaultdict(float)
        reasons: dict[str, list[str]] = defaultdict(list)
        present = {self._known(term) for term in terms(question)}
        # Words of a stored value the question names ('Sales Support Agent') are that value,
        # not synonyms of other tables ("sales" = invoices).
        lowered = f" {' '.join(words(question))} "
        mentioned = [v for v, phrase in self._value_phrases.items() if phrase in lowered]
        masked = lowered
        for value in mentioned:
            phrase = self._value_phrases[value]
            if phrase.count(" ") > 2:  # two words or more
                masked = masked.replace(phrase, " | ")
        joined = " ".join(self._known(term) for term in terms(masked))
        named: set[str] = set()  # tables the question calls by their name or a synonym of it
        consumed: set[str] = set()  # words a synonym, metric or segment stands for
        pointed_at: set[str] = set()  # ... and the tables they are of ("long tracks": tracks)
        spans = _spans(joined, self._longest_phrase)
        for phrase, targets in ((p, self._phrases[p]) for p in spans if p in self._phrases):
            if " " in phrase:  # "order total" is the word order once its stopword is gone: no phrase
                consumed.update(phrase.split())
            for name, weight, reason in targets:
                pointed_at.add(name)
                scores[name] += weight * max(1, len(phrase.split()))
                reasons[name].append(reason)
                if reason.endswith(f" of {name}"):
                    named.add(name)
                # "each support rep": a synonym of a foreign key means the table it points at.
                for referenced in self._references.get(reason.rsplit(" of ", 1)[-1], ()):
                    scores[referenced] += weight
                    reasons[referenced].append(f"{reason} -> {referenced}")
        definitions: list[str] = []
        for phrase, keys in ((p, self._definitions[p]) for p in spans if p in self._definitions):
            if " " in phrase:
                consumed.update(phrase.split())
            for key in keys:
                if key not in definitions:
                    definitions.append(key)
                for table in self.definition_tables.get(key, []):
                    pointed_at.add(table)
                    scores[table] += 4.0
                    reasons[table].append(f"{key}")
        # Every word of the table's own name asked for: "orders" beats "order_lines". Not by
        # words a stored value, synonym or definition stands for ("support rep" is no
        # support_customers table).
        said = set(joined.split())
        naming = said - consumed
        by_name = {p.table for term in said for p in self._postings.get(term, ()) if p.kind == "name"
                   and self._name_terms[p.table] <= (said if p.table in pointed_at else naming)}
        # "per billing country": billing is the billing_country of the invoices named, not a
        # billing_invoices table.
        by_name -= {n for n in by_name for m in by_name if m != n and self._explains(m, n)
                    and (self._name_terms[m] < self._name_terms[n] or not self._explains(n, m))}
        for name in by_name:
            scores[name] += 2.0
        named |= by_name
        beside_named = {t for name in named for t in self._neighbours[name]} | named
        for term in present:
            counted: set[tuple[str, str]] = set()
            for posting in self._postings.get(term, ()):
                if (posting.table, posting.kind) in counted:
                    continue  # "name" in first_name and last_name is one match
                counted.add((posting.table, posting.kind))
                # Among the tables a named one joins (invoices beside customers), a column word
                # is as telling as in a small schema, however many other tables have one.
                beside = posting.kind == "column" and posting.table in beside_named
                scores[posting.table] += posting.weight * (1.0 if beside else self._rarity[term, posting.kind])
                reasons[posting.table].append(posting.reason)
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
        # Nothing matched: the most connected tables that hold data (stored values, a row
        # estimate) are the likeliest hubs of the schema.
        holding = {key.rsplit(".", 1)[0] for key in self.value_hints}
        holding |= {n for n, t in self._tables.items() if t.row_estimate}
        return sorted(self._tables, key=lambda n: (n not in holding, -len(self._neighbours[n]), n))[:5]

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


def _spans(text: str, longest: int) -> list[str]:
    """Every run of up to ``longest`` consecutive words of ``text``, each once, in order:
    the phrases a question can hold, looked up rather than searched for."""
    found = text.split()
    spans = (" ".join(found[i:j]) for i in range(len(found)) for j in range(i + 1, min(i + longest, len(found)) + 1))
    return list(dict.fromkeys(spans))


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
