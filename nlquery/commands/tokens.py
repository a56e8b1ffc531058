"""``nlquery tokens``: bearer tokens of the HTTP API and MCP over HTTP, stored hashed in
the catalog, each with a tenant, scopes, and optionally a source allow-list and a
stricter exposure policy."""

from __future__ import annotations

import click
from rich.markup import escape

from nlquery.commands.common import engine, json_option, out, print_json
from nlquery.principal import SCOPES


@click.group()
def tokens() -> None:
    """API tokens (besides NLQUERY_API_TOKENS). Only a hash is stored: a token is shown once."""


@tokens.command("create")
@click.argument("name")
@click.option("--tenant", default="default", show_default=True,
              help="The tenant the token acts for: it sees only that tenant's sources.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES),
              help="Repeatable. Default: sources:read, sources:write, query, ask (every scope but admin).")
@click.option("--source", "sources", multiple=True, metavar="NAME",
              help="Repeatable: limit the token to these sources (names or ids).")
@click.option("--deny-table", "deny_tables", multiple=True, metavar="TABLE",
              help="Repeatable: a table this token may not read (on top of each source's policy).")
@click.option("--deny-column", "deny_columns", multiple=True, metavar="TABLE.COLUMN",
              help="Repeatable: a column this token may not read (on top of each source's policy).")
@click.option("--max-rows", type=click.IntRange(min=0), default=None,
              help="A row cap for this token, below the service's.")
@json_option
def create(name: str, tenant: str, scopes: tuple[str, ...], sources: tuple[str, ...], deny_tables: tuple[str, ...],
           deny_columns: tuple[str, ...], max_rows: int | None, as_json: bool) -> None:
    """Create a token called NAME and print it (once)."""
    policy = {"denied_tables": list(deny_tables), "denied_columns": list(deny_columns), "max_rows": max_rows}
    with engine() as e:
        data = e.create_token(name, tenant=tenant, scopes=list(scopes) or None, sources=list(sources) or None,
                              policy={k: v for k, v in policy.items() if v not in (None, [])} or None)
    if as_json:
        print_json(data)
        return
    out.print(f"Token {data['id']} ({escape(name)}, tenant {escape(data['tenant'])}, scopes "
              f"{', '.join(data['scopes'])}): [bold]{data['token']}[/bold]\nStore it now: it is not shown again.")


@tokens.command("list")
@json_option
def list_tokens(as_json: bool) -> None:
    """List tokens with their tenant and scopes (never their values)."""
    with engine() as e:
        data = e.list_tokens()
    if as_json:
        print_json({"tokens": data})
        return
    for token in data:
        limits = []
        if token["sources"]:
            limits.append("sources " + ",".join(token["sources"]))
        if token["policy"]:
            limits.append("policy " + ", ".join(f"{k}={v}" for k, v in token["policy"].items()))
        out.print(f"{token['id']}  {escape(token['name'])}  tenant={escape(token['tenant'])}  "
                  f"scopes={','.join(token['scopes'])}  {token['created_at']}"
                  + "".join(f"  {escape(limit)}" for limit in limits)
                  + ("  [red]revoked[/red]" if token["revoked"] else ""))


@tokens.command("revoke")
@click.argument("token_id")
@json_option
def revoke(token_id: str, as_json: bool) -> None:
    """Revoke a token by id (it stops working within seconds)."""
    with engine() as e:
        data = e.revoke_token(token_id)
    if as_json:
        print_json(data)
    else:
        out.print(f"Revoked {token_id}")
