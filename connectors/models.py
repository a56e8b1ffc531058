"""Plain dataclass models of what a connector reads and returns.

``to_dict()`` gives the Data Sources API's JSON shape
(``tables[{name, columns[{name, type, nullable}]}]``) plus nlquery's extra fields;
``from_dict()`` reads it back, so snapshots round-trip through JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TableKind = Literal["table", "view", "materialized_view", "collection", "endpoint"]


@dataclass(slots=True)
class Column:
    """One column. ``type`` is the short name the database uses (``varchar``, ``uuid``);
    ``full_type`` keeps length/precision (``character varying(255)``) when it differs."""

    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    comment: str | None = None
    full_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        for key in ("default", "comment", "full_type"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass
class ForeignKey:
    """A (possibly composite) foreign key: ``columns`` reference ``ref_columns`` of the
    referred table, position by position."""

    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    ref_schema: str | None = None
    name: str | None = None


@dataclass
class UniqueConstraint:
    columns: list[str]
    name: str | None = None


@dataclass
class Index:
    name: str
    columns: list[str]
    unique: bool = False


@dataclass
class Table:
    """A table, view or materialized view. ``row_estimate`` is the database's own
    statistic (cheap, possibly stale), ``None`` when it keeps none."""

    name: str
    columns: list[Column] = field(default_factory=list)
    schema: str | None = None
    kind: TableKind = "table"
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    unique_constraints: list[UniqueConstraint] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    comment: str | None = None
    row_estimate: int | None = None

    def column(self, name: str) -> Column | None:
        """The column called ``name`` (exact match first, then case-insensitive)."""
        for col in self.columns:
            if col.name == name:
                return col
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "schema": self.schema,
            "kind": self.kind,
            "columns": [c.to_dict() for c in self.columns],
            "primary_key": list(self.primary_key),
            "foreign_keys": [asdict(fk) for fk in self.foreign_keys],
            "unique_constraints": [asdict(u) for u in self.unique_constraints],
            "indexes": [asdict(i) for i in self.indexes],
        }
        if self.comment is not None:
            data["comment"] = self.comment
        if self.row_estimate is not None:
            data["row_estimate"] = self.row_estimate
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Table:
        return cls(
            name=data["name"],
            schema=data.get("schema"),
            kind=data.get("kind", "table"),
            columns=[Column(**c) for c in data.get("columns", [])],
            primary_key=list(data.get("primary_key", [])),
            foreign_keys=[ForeignKey(**fk) for fk in data.get("foreign_keys", [])],
            unique_constraints=[UniqueConstraint(**u) for u in data.get("unique_constraints", [])],
            indexes=[Index(**i) for i in data.get("indexes", [])],
            comment=data.get("comment"),
            row_estimate=data.get("row_estimate"),
        )


@dataclass
class Schema:
    """Every table a source exposes. ``default_schema`` is the one unqualified names
    resolve to (``public``, the MySQL database, ``main``)."""

    tables: list[Table] = field(default_factory=list)
    default_schema: str | None = None
    # Built-in functions the database itself declares free of side effects (PostgreSQL:
    # IMMUTABLE or STABLE in pg_catalog), read at introspection; the guard admits them.
    read_only_functions: list[str] = field(default_factory=list)
    _lookup: Any = field(default=None, init=False, repr=False, compare=False)

    def qualified_name(self, table: Table) -> str:
        """``name`` in the default schema, ``schema.name`` elsewhere."""
        if table.schema is None or table.schema == self.default_schema:
            return table.name
        return f"{table.schema}.{table.name}"

    def table(self, name: str) -> Table | None:
        """Find a table by bare or ``schema.table`` name; exact match first, then
        case-insensitive, so ``Customers`` finds ``customers``."""
        exact, folded = self._index()
        return exact.get(name) or folded.get(name.lower())

    def _index(self) -> tuple[dict[str, Table], dict[str, Table]]:
        # Built once (rebuilt if tables were added or removed): lookups stay O(1) on
        # schemas of thousands of tables.
        if self._lookup is None or self._lookup[0] != len(self.tables):
            exact: dict[str, Table] = {}
            folded: dict[str, Table] = {}
            # Qualified names first, so a bare name prefers the default schema's table.
            keyed = [(self.qualified_name(t), t) for t in self.tables]
            keyed += [(f"{t.schema}.{t.name}", t) for t in self.tables if t.schema]
            keyed += [(t.name, t) for t in self.tables]
            for key, table in keyed:
                exact.setdefault(key, table)
                folded.setdefault(key.lower(), table)
            self._lookup = (len(self.tables), exact, folded)
        return self._lookup[1], self._lookup[2]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "default_schema": self.default_schema,
            "tables": [t.to_dict() for t in self.tables],
        }
        if self.read_only_functions:
            data["read_only_functions"] = list(self.read_only_functions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        return cls(
            tables=[Table.from_dict(t) for t in data.get("tables", [])],
            default_schema=data.get("default_schema"),
            read_only_functions=list(data.get("read_only_functions") or []),
        )


@dataclass
class QueryResult:
    """Rows of a read, JSON-safe. ``truncated`` is true when the row cap cut rows off."""

    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    execution_time_ms: float
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "rows": self.rows,
            "row_count": self.row_count,
            "execution_time_ms": self.execution_time_ms,
            "truncated": self.truncated,
        }
