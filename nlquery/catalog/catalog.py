"""Registered data sources, their schema snapshots and semantic mappings.

Sources are referred to by name or id (``ds_<random>``). Connection settings are
validated field by field; passwords are encrypted at rest and never returned. Every
read and write of the store goes through here; the Engine adds connections.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import os
import secrets as random_ids
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

import connectors
from connectors.models import Schema
from nlquery.catalog import store
from nlquery.catalog.diff import is_empty, schema_diff
from nlquery.catalog.secrets import SecretBox
from nlquery.catalog.store import (
    Store,
    api_tokens,
    audit,
    dumps,
    examples,
    mappings,
    now,
    snapshots,
    sources,
    tool_calls,
)
from nlquery.catalog.validation import (
    ConnectionSettings,
    check_name,
    check_settings,
    stored_connection,
    validate_connection,
)
from nlquery.errors import Conflict, DataSourceNotFound, InvalidRequest
from nlquery.guard import Policy
from nlquery.principal import ALL_SCOPES, DEFAULT_SCOPES, Principal, check_overlay, check_scopes, check_tenant
from nlquery.semantic import SemanticMapping

_CONFIG_FIELDS = {"url", "host", "port", "database", "username", "password", "options"}


@dataclass
class SourceRecord:
    """One registered source as stored (the password stays encrypted in ``secret``)."""

    id: str
    name: str
    type: str
    description: str
    connection: ConnectionSettings
    secret: str | None
    settings: dict[str, Any]
    status: str
    status_reason: str | None
    schema_status: str
    schema_error: str | None
    created_at: Any
    updated_at: Any
    tenant: str = "default"

    @property
    def remote(self) -> bool:
        """Registered by a token holder (HTTP, MCP): egress rules apply to its connections."""
        return bool(self.settings.get("remote"))

    @property
    def policy(self) -> Policy | None:
        data = self.settings.get("policy")
        return Policy(**data) if data else None

    def to_dict(self) -> dict[str, Any]:
        """The API's shape: never a password."""
        data: dict[str, Any] = {
            "id": self.id, "name": self.name, "type": self.type, "description": self.description,
            "status": self.status, "schema_status": self.schema_status,
            "connection": {**self.connection.split_secrets()[0],
                           "password_set": bool(self.secret or self.connection.password_env)},
            "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at),
            "tenant": self.tenant,
        }
        if self.status_reason:
            data["status_reason"] = self.status_reason
        if self.schema_error:
            data["schema_error"] = self.schema_error
        if self.settings.get("policy"):
            data["policy"] = self.settings["policy"]
        return data


def _iso(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("+00:00", "Z") if "+" in text else text + "Z"


@dataclass
class Snapshot:
    version: int
    schema: Schema
    diff: dict[str, Any]
    value_hints: dict[str, list[Any]]
    created_at: Any


# A secret holding more than a password (REST headers, key-like options and URL
# parameters) is JSON behind this prefix; a bare password (every secret before those
# existed) never starts with NUL.
_PACKED = "\x00json:"


def _unpack_secret(value: str | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not value.startswith(_PACKED):
        return {"password": value}
    return {k: v for k, v in json.loads(value[len(_PACKED):]).items() if v not in (None, {}, [])}


class Catalog:
    """The persistent store of sources, snapshots and mappings."""

    def __init__(self, home: Path, url: str | None = None) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        if url is None:
            path = home / "catalog.db"
            _create_private(path)
            url, label = f"sqlite:///{path}", str(path)
        else:
            label = connectors.errors.scrub(url, [])
        self.store = Store(url, label=label)
        self.secrets = SecretBox.from_environment(home)

    def close(self) -> None:
        self.store.close()

    # -- sources -----------------------------------------------------------------
    def add_source(self, name: str, type_name: str, connection: Any, description: str = "",
                   settings: dict[str, Any] | None = None, *, remote: bool = False,
                   tenant: str = "default") -> SourceRecord:
        """Register a source in ``tenant`` (names are unique per tenant). ``remote``: a
        token holder sent it (HTTP, MCP), so the remote gates apply now and egress rules
        whenever it connects."""
        check_name(name)
        check_tenant(tenant)
        validated = validate_connection(type_name, connection, remote=remote, protected=self._protected())
        public, secret_values = validated.split_secrets()
        secret = self._encrypt(secret_values)
        record_id = f"ds_{random_ids.token_hex(8)}"
        stamp = now()
        row = {
            "id": record_id, "name": name, "type": type_name, "description": description or "",
            "connection": dumps(public),
            "secret": secret, "settings": dumps({**check_settings(settings or {}), **({"remote": True} if remote else {})}),
            "status": "disconnected", "status_reason": None, "schema_status": "pending",
            "schema_error": None, "created_at": stamp, "updated_at": stamp, "tenant": tenant,
        }
        try:
            with self.store.transaction() as conn:
                conn.execute(sa.insert(sources).values(**row))
        except IntegrityError:
            raise Conflict(f"a source named {name!r} already exists") from None
        return self.get_source(record_id)

    def list_sources(self, tenant: str | None = None) -> list[SourceRecord]:
        """Every source (``tenant`` None: the operator's view) or one tenant's."""
        query = sa.select(sources).order_by(sources.c.name, sources.c.tenant)
        if tenant is not None:
            query = query.where(sources.c.tenant == tenant)
        with self.store.transaction() as conn:
            rows = conn.execute(query).mappings().all()
        return [_record(row) for row in rows]

    def get_source(self, name_or_id: str, tenant: str | None = None) -> SourceRecord:
        """A source by id or name, seen from ``tenant`` (another tenant's source is not
        found, whether asked for by name or by id). ``tenant`` None is the operator: by
        name, the ``default`` tenant's source first, else the only one of that name."""
        column = sources.c.id if str(name_or_id).startswith("ds_") else sources.c.name
        scoped = (sources.c.tenant == tenant) if tenant is not None else sa.true()
        with self.store.transaction() as conn:
            rows = conn.execute(sa.select(sources).where((column == name_or_id) & scoped)).mappings().all()
            if not rows and column is sources.c.id:  # a source may be *named* ds_...
                rows = conn.execute(sa.select(sources).where((sources.c.name == name_or_id) & scoped)
                                    ).mappings().all()
        if len(rows) > 1:
            preferred = [row for row in rows if row["tenant"] == "default"]
            if len(preferred) != 1:
                tenants = ", ".join(sorted(row["tenant"] for row in rows))
                raise InvalidRequest(f"several sources are named {name_or_id!r} (tenants {tenants}): "
                                     "give its id or a tenant")
            rows = preferred
        if not rows:
            raise DataSourceNotFound(f"no data source named or with id {name_or_id!r}"
                                     + self._did_you_mean(str(name_or_id), tenant))
        return _record(rows[0])

    def _did_you_mean(self, name: str, tenant: str | None = None) -> str:
        """``; did you mean 'shop'?`` for a misspelt source name (case-insensitive), or ''
        (only names ``tenant`` may see)."""
        query = sa.select(sources.c.name)
        if tenant is not None:
            query = query.where(sources.c.tenant == tenant)
        with self.store.transaction() as conn:
            names = list(conn.execute(query).scalars())
        by_folded = {n.lower(): n for n in names}
        close = difflib.get_close_matches(name.lower(), list(by_folded), n=1, cutoff=0.6)
        return f"; did you mean {by_folded[close[0]]!r}?" if close else ""

    def update_source(self, name_or_id: str, *, name: str | None = None, description: str | None = None,
                      connection: Any = None,
                      settings: dict[str, Any] | None = None, remote: bool = False,
                      tenant: str | None = None) -> SourceRecord:
        """Change a source. Connection fields given replace stored ones; a stored secret
        stays only while the connection still goes where it went (a new host, port,
        database, user or URL without its secret drops the secret)."""
        record = self.get_source(name_or_id, tenant)
        values: dict[str, Any] = {"updated_at": now()}
        if name is not None and name != record.name:
            check_name(name)
            values["name"] = name
        if description is not None:
            values["description"] = description
        if connection is not None:
            if not isinstance(connection, dict):
                raise InvalidRequest("connection must be an object")
            stored_public = record.connection.split_secrets()[0]
            merged = {**stored_public, **connection}
            if "password" in connection:
                merged.pop("password_env", None)
            validated = validate_connection(record.type, merged, remote=remote or record.remote,
                                            protected=self._protected())
            public, given = validated.split_secrets()
            moved = validated.destination() != record.connection.destination()
            kept = {} if moved or "password_env" in connection else self._secret_values(record)
            if validated.password_env:
                kept.pop("password", None)
            values["connection"] = dumps(public)
            values["secret"] = self._encrypt({**kept, **given})
        if remote and connection is not None:  # a token holder chose where it goes now
            settings = {**(settings or {}), "remote": True}
        if settings is not None:
            values["settings"] = dumps(check_settings({**record.settings, **settings}))
        try:
            with self.store.transaction() as conn:
                conn.execute(sa.update(sources).where(sources.c.id == record.id).values(**values))
        except IntegrityError:
            raise Conflict(f"a source named {name!r} already exists") from None
        return self.get_source(record.id)

    def remove_source(self, name_or_id: str, tenant: str | None = None) -> SourceRecord:
        record = self.get_source(name_or_id, tenant)
        with self.store.transaction() as conn:
            for table in (mappings, snapshots, examples):  # explicit: SQLite may run without FK cascades
                conn.execute(sa.delete(table).where(table.c.source_id == record.id))
            conn.execute(sa.delete(sources).where(sources.c.id == record.id))
        return record

    def set_status(self, source_id: str, **values: Any) -> None:
        with self.store.transaction() as conn:
            conn.execute(sa.update(sources).where(sources.c.id == source_id).values(updated_at=now(), **values))

    def connection_config(self, record: SourceRecord) -> dict[str, Any]:
        """Keyword arguments for ``connectors.connect`` (secrets decrypted, a password
        read from its environment variable)."""
        settings = record.connection
        public = settings.split_secrets()[0]
        fields = type(settings).join_secrets(public, self._secret_values(record))
        password_env = fields.pop("password_env", None)
        if password_env:
            value = os.environ.get(password_env)
            if value is None:
                raise InvalidRequest(f"the environment variable {password_env} "
                                     f"(password of {record.name}) is not set")
            fields["password"] = value
        # Settings beyond the common fields (a REST source's base_url, headers,
        # endpoints) reach the connector as options.
        options = {**fields.pop("options", {}), **{k: fields.pop(k) for k in list(fields)
                                                   if k not in _CONFIG_FIELDS}}
        return {"type": record.type, **fields, "options": options}

    def _secret_values(self, record: SourceRecord) -> dict[str, Any]:
        if not record.secret:
            return {}
        return _unpack_secret(self.secrets.decrypt(record.secret, what=f"the credentials of {record.name}"))

    def _encrypt(self, values: dict[str, Any]) -> str | None:
        values = {k: v for k, v in values.items() if v not in (None, {}, [])}
        if not values:
            return None
        if set(values) == {"password"}:  # the format every release reads
            return self.secrets.encrypt(values["password"])
        return self.secrets.encrypt(_PACKED + json.dumps(values))

    def _protected(self) -> tuple[Path, ...]:
        """Files no source may open: the catalog database, its WAL and journal, the key."""
        url = self.store.engine.url
        files = [self.home.resolve() / "secret.key"]
        if url.get_backend_name() == "sqlite" and url.database:
            base = Path(url.database).resolve()
            files += [base, *(base.with_name(base.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]
        return tuple(files)

    # -- snapshots -----------------------------------------------------------------
    def save_snapshot(self, source_id: str, schema: Schema, value_hints: dict[str, list[Any]]) -> Snapshot:
        """Store a new version; concurrent writers each get their own version number.

        A schema with no change against the latest version (an empty diff) adds no
        version: the latest one is returned, with this refresh's (empty) diff, its stored
        schema and value hints brought up to date in place (row estimates, comments,
        stored values are not versioned changes)."""
        for _ in range(10):
            previous = self.latest_snapshot(source_id)
            version = (previous.version if previous else 0) + 1
            diff = schema_diff(previous.schema if previous else None, schema)
            if previous is not None and is_empty(diff):
                if previous.schema.to_dict() != schema.to_dict() or previous.value_hints != value_hints:
                    with self.store.transaction() as conn:
                        conn.execute(sa.update(snapshots).where(
                            (snapshots.c.source_id == source_id) & (snapshots.c.version == previous.version)
                        ).values(schema=dumps(schema.to_dict()), value_hints=dumps(value_hints)))
                return Snapshot(previous.version, schema, diff, value_hints, previous.created_at)
            try:
                with self.store.transaction() as conn:
                    conn.execute(sa.insert(snapshots).values(
                        source_id=source_id, version=version, created_at=now(),
                        schema=dumps(schema.to_dict()), diff=dumps(diff), value_hints=dumps(value_hints),
                    ))
            except IntegrityError:
                continue  # another process took this version: diff against it instead
            return Snapshot(version, schema, diff, value_hints, now())
        raise InvalidRequest("could not store the schema snapshot: too many concurrent refreshes")

    def latest_version(self, source_id: str) -> int | None:
        """The newest snapshot's version, without reading the snapshot."""
        with self.store.transaction() as conn:
            return conn.execute(sa.select(sa.func.max(snapshots.c.version))
                                .where(snapshots.c.source_id == source_id)).scalar()

    def latest_snapshot(self, source_id: str) -> Snapshot | None:
        with self.store.transaction() as conn:
            row = conn.execute(
                sa.select(snapshots).where(snapshots.c.source_id == source_id)
                .order_by(snapshots.c.version.desc()).limit(1)
            ).mappings().first()
        if row is None:
            return None
        return Snapshot(row["version"], Schema.from_dict(json.loads(row["schema"])), json.loads(row["diff"]),
                        json.loads(row["value_hints"]), row["created_at"])

    # -- mappings --------------------------------------------------------------------
    def get_mappings(self, source_id: str) -> dict[str, SemanticMapping]:
        with self.store.transaction() as conn:
            rows = conn.execute(sa.select(mappings).where(mappings.c.source_id == source_id)
                                .order_by(mappings.c.key)).mappings().all()
        return {r["key"]: SemanticMapping(r["description"], json.loads(r["synonyms"]),
                                          **json.loads(r["definition"] or "{}")) for r in rows}

    def save_mappings(self, source_id: str, updated: dict[str, SemanticMapping]) -> None:
        stamp = now()
        with self.store.transaction() as conn:
            conn.execute(sa.delete(mappings).where(mappings.c.source_id == source_id))
            if updated:
                conn.execute(sa.insert(mappings), [
                    {"source_id": source_id, "key": key, "description": m.description,
                     "synonyms": dumps(m.synonyms), "updated_at": stamp,
                     "definition": dumps(m.definition) if m.definition else None}
                    for key, m in updated.items()
                ])


    # -- verified examples ----------------------------------------------------------
    def add_example(self, source_id: str, question: str, sql: str) -> dict[str, Any]:
        row = {"id": f"ex_{random_ids.token_hex(6)}", "source_id": source_id, "question": question.strip(),
               "sql": sql.strip(), "created_at": now()}
        with self.store.transaction() as conn:
            conn.execute(sa.insert(examples).values(**row))
        return {k: v for k, v in row.items() if k != "source_id"} | {"created_at": _iso(row["created_at"])}

    def list_examples(self, source_id: str) -> list[dict[str, Any]]:
        with self.store.transaction() as conn:
            rows = conn.execute(sa.select(examples).where(examples.c.source_id == source_id)
                                .order_by(examples.c.created_at, examples.c.id)).mappings().all()
        return [{"id": r["id"], "question": r["question"], "sql": r["sql"], "created_at": _iso(r["created_at"])}
                for r in rows]

    def remove_example(self, source_id: str, example_id: str) -> None:
        with self.store.transaction() as conn:
            deleted = conn.execute(sa.delete(examples).where(
                (examples.c.source_id == source_id) & (examples.c.id == example_id))).rowcount
        if not deleted:
            raise DataSourceNotFound(f"no example {example_id!r} on this source")


    # -- API tokens -------------------------------------------------------------------
    def create_token(self, name: str, *, tenant: str = "default", scopes: Any = None,
                     sources: Any = None, policy: Any = None) -> dict[str, Any]:
        """A new bearer token of ``tenant`` with ``scopes`` (default: all but admin), an
        optional source allow-list and policy overlay; only its SHA-256 digest is stored,
        so it is shown once."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest("a token needs a name")
        check_tenant(tenant)
        granted = check_scopes(DEFAULT_SCOPES if scopes is None else scopes)
        allowed = None if sources is None else sorted({str(s) for s in sources})
        overlay = check_overlay(policy)
        token = f"nlq_{random_ids.token_urlsafe(32)}"
        row = {"id": f"tok_{random_ids.token_hex(6)}", "name": name,
               "digest": hashlib.sha256(token.encode()).hexdigest(), "created_at": now(),
               "tenant": tenant, "scopes": dumps(sorted(granted)),
               "sources": dumps(allowed) if allowed is not None else None,
               "policy": dumps(overlay) if overlay else None}
        with self.store.transaction() as conn:
            conn.execute(sa.insert(api_tokens).values(**row))
        return {**_token_dict(row), "token": token}

    def list_tokens(self) -> list[dict[str, Any]]:
        with self.store.transaction() as conn:
            rows = conn.execute(sa.select(api_tokens).order_by(api_tokens.c.created_at)).mappings().all()
        return [_token_dict(r) for r in rows]

    def active_tokens(self) -> list[tuple[str, Principal]]:
        """``(digest, principal)`` of every token not revoked."""
        with self.store.transaction() as conn:
            rows = conn.execute(sa.select(api_tokens).where(api_tokens.c.revoked_at.is_(None))).mappings().all()
        return [(r["digest"], _token_principal(r)) for r in rows]

    def revoke_token(self, token_id: str) -> None:
        with self.store.transaction() as conn:
            updated = conn.execute(sa.update(api_tokens).where(api_tokens.c.id == token_id)
                                   .values(revoked_at=now())).rowcount
        if not updated:
            raise InvalidRequest(f"no token {token_id!r}")

    def active_token_digests(self) -> list[str]:
        with self.store.transaction() as conn:
            return list(conn.execute(sa.select(api_tokens.c.digest).where(api_tokens.c.revoked_at.is_(None)))
                        .scalars())


    # -- tool-callback idempotency ------------------------------------------------------
    def stored_tool_result(self, execution_id: str) -> Any | None:
        with self.store.transaction() as conn:
            row = conn.execute(sa.select(tool_calls.c.result, tool_calls.c.expires_at)
                               .where(tool_calls.c.execution_id == execution_id)).first()
        if row is None or _aware(row[1]) < now():
            return None
        return json.loads(row[0])

    def store_tool_result(self, execution_id: str, result: Any, retention_s: int) -> None:
        """Keep ``result`` for ``retention_s``; the first writer of an id wins."""
        stamp = now()
        try:
            with self.store.transaction() as conn:
                conn.execute(sa.delete(tool_calls).where(tool_calls.c.expires_at < stamp))
                conn.execute(sa.insert(tool_calls).values(
                    execution_id=execution_id, result=dumps(result),
                    expires_at=stamp + dt.timedelta(seconds=retention_s)))
        except IntegrityError:
            pass  # a concurrent replica stored it first


    # -- audit trail -------------------------------------------------------------------
    def insert_audit(self, rows: list[dict[str, Any]]) -> None:
        """Store audit records (one transaction per batch)."""
        if rows:
            with self.store.transaction() as conn:
                conn.execute(sa.insert(audit), rows)

    def prune_audit(self, before: dt.datetime) -> int:
        with self.store.transaction() as conn:
            return conn.execute(sa.delete(audit).where(audit.c.at < before)).rowcount or 0

    def list_audit(self, *, source: str | None = None, tenant: str | None = None, since: Any = None,
                   until: Any = None, outcome: str | None = None, before_id: int | None = None,
                   after_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Audit records, newest first (or oldest first after ``after_id``, for following)."""
        query = sa.select(audit)
        if source:
            query = query.where((audit.c.source == source) | (audit.c.source_name == source))
        if tenant:
            query = query.where(audit.c.tenant == tenant)
        if since is not None:
            query = query.where(audit.c.at >= since)
        if until is not None:
            query = query.where(audit.c.at < until)
        if outcome == "error":
            query = query.where(audit.c.outcome != "ok")
        elif outcome:
            query = query.where(audit.c.outcome == outcome)
        if before_id is not None:
            query = query.where(audit.c.id < before_id)
        if after_id is not None:
            query = query.where(audit.c.id > after_id).order_by(audit.c.id)
        else:
            query = query.order_by(audit.c.id.desc())
        with self.store.transaction() as conn:
            rows = conn.execute(query.limit(limit)).mappings().all()
        return [_audit_dict(row) for row in rows]


def _create_private(path: Path) -> None:
    """Create the catalog file 0600 before SQLite does: its WAL and shared-memory files
    take the database file's mode, so encrypted secrets and token digests stay the
    owner's."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # a read-only home: the store reports it in its own words


def _aware(value: Any) -> Any:
    return value.replace(tzinfo=dt.timezone.utc) if getattr(value, "tzinfo", 1) is None else value


def _audit_dict(row: Any) -> dict[str, Any]:
    data = {key: row[key] for key in row.keys()}
    data["at"] = _iso(_aware(row["at"]).isoformat())
    data["parameters"] = json.loads(row["parameters"]) if row["parameters"] else None
    return data


def _token_scopes(row: Any) -> frozenset[str]:
    return ALL_SCOPES if row.get("scopes") is None else frozenset(json.loads(row["scopes"]))


def _token_dict(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "tenant": row.get("tenant") or "default",
            "scopes": sorted(_token_scopes(row)),
            "sources": json.loads(row["sources"]) if row.get("sources") else None,
            "policy": json.loads(row["policy"]) if row.get("policy") else None,
            "created_at": _iso(row["created_at"]), "revoked": row.get("revoked_at") is not None}


def _token_principal(row: Any) -> Principal:
    return Principal(tenant=row.get("tenant") or "default", token_id=row["id"], scopes=_token_scopes(row),
                     sources=frozenset(json.loads(row["sources"])) if row.get("sources") else None,
                     overlay=json.loads(row["policy"]) if row.get("policy") else None)


def _record(row: Any) -> SourceRecord:
    return SourceRecord(
        id=row["id"], name=row["name"], type=row["type"], description=row["description"],
        connection=stored_connection(row["type"], json.loads(row["connection"])),
        secret=row["secret"], settings=json.loads(row["settings"] or "{}"),
        status=row["status"], status_reason=row["status_reason"], schema_status=row["schema_status"],
        schema_error=row["schema_error"], created_at=row["created_at"], updated_at=row["updated_at"],
        tenant=row.get("tenant") or "default",
    )


__all__ = ["Catalog", "ConnectionSettings", "Snapshot", "SourceRecord", "store"]
