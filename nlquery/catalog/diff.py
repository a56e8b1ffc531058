"""What changed between two schema snapshots."""

from __future__ import annotations

from typing import Any

from connectors.models import Schema


def schema_diff(before: Schema | None, after: Schema) -> dict[str, Any]:
    """Tables and columns added or removed, and columns whose type or nullability
    changed. ``before=None`` (first extraction) reports every table as added."""
    old = {before.qualified_name(t): t for t in before.tables} if before else {}
    new = {after.qualified_name(t): t for t in after.tables}
    diff: dict[str, Any] = {
        "tables_added": sorted(set(new) - set(old)),
        "tables_removed": sorted(set(old) - set(new)),
        "columns_added": [],
        "columns_removed": [],
        "columns_changed": [],
    }
    for name in sorted(set(old) & set(new)):
        old_columns = {c.name: c for c in old[name].columns}
        new_columns = {c.name: c for c in new[name].columns}
        diff["columns_added"] += [f"{name}.{c}" for c in new_columns if c not in old_columns]
        diff["columns_removed"] += [f"{name}.{c}" for c in old_columns if c not in new_columns]
        for column in (c for c in new_columns if c in old_columns):
            was, now = old_columns[column], new_columns[column]
            if (was.type, was.full_type, was.nullable) != (now.type, now.full_type, now.nullable):
                diff["columns_changed"].append({
                    "column": f"{name}.{column}",
                    "before": {"type": was.full_type or was.type, "nullable": was.nullable},
                    "after": {"type": now.full_type or now.type, "nullable": now.nullable},
                })
    return diff


def is_empty(diff: dict[str, Any]) -> bool:
    return not any(diff[key] for key in diff)
