"""``nlquery tokens``: bearer tokens of the HTTP API, stored hashed in the catalog."""

from __future__ import annotations

import click
from rich.markup import escape

from nlquery.commands.common import engine, json_option, out, print_json


@click.group()
def tokens() -> None:
    """API tokens (besides NLQUERY_API_TOKENS). Only a hash is stored: a token is shown once."""


@tokens.command("create")
@click.argument("name")
@json_option
def create(name: str, as_json: bool) -> None:
    """Create a token called NAME and print it (once)."""
    with engine() as e:
        data = e.catalog.create_token(name)
    if as_json:
        print_json(data)
        return
    out.print(f"Token {data['id']} ({escape(name)}): [bold]{data['token']}[/bold]\nStore it now: it is not shown again.")


@tokens.command("list")
@json_option
def list_tokens(as_json: bool) -> None:
    """List tokens (never their values)."""
    with engine() as e:
        data = e.catalog.list_tokens()
    if as_json:
        print_json({"tokens": data})
        return
    for token in data:
        out.print(f"{token['id']}  {escape(token['name'])}  {token['created_at']}"
                  + ("  [red]revoked[/red]" if token["revoked"] else ""))


@tokens.command("revoke")
@click.argument("token_id")
@json_option
def revoke(token_id: str, as_json: bool) -> None:
    """Revoke a token by id (it stops working within seconds)."""
    with engine() as e:
        e.catalog.revoke_token(token_id)
    if as_json:
        print_json({"id": token_id, "revoked": True})
    else:
        out.print(f"Revoked {token_id}")
