"""``loyalty-agent outbox``: what waits to go to the central server (depth, age, events)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import config_option, configured_store, format_age


@click.group()
def outbox() -> None:
    """Events waiting for the central server's acknowledgement."""


@outbox.command("depth")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def outbox_depth(config_file: Path | None, as_json: bool) -> None:
    """How many events wait, how old the oldest is, the central link and the last sync.

    Example:

    \b
        loyalty-agent outbox depth
    """
    from ..store.times import utcnow

    with configured_store(config_file) as (config, store), store.read() as tx:
        data = {
            "outbox_depth": tx.outbox_depth(),
            "oldest_outbox_age_seconds": tx.oldest_outbox_age(utcnow()),
            "next_seq": tx.next_seq(),
            "link": tx.state("link") or ("offline" if config.broker_url else "standalone"),
            "last_sync_at": tx.state("last_sync_at"),
        }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(
        f"{data['outbox_depth']} event(s) waiting, oldest {format_age(data['oldest_outbox_age_seconds'])}; "
        f"next seq {data['next_seq']}; link {data['link']}, last sync {data['last_sync_at'] or 'never'}"
    )


@outbox.command("list")
@config_option
@click.option("--limit", default=20, show_default=True, help="How many events (oldest first).")
@click.option("--after", "after_seq", default=0, show_default=True, help="Start after this seq.")
def outbox_list(config_file: Path | None, limit: int, after_seq: int) -> None:
    """The oldest waiting events: seq, id, kind, when written, receipt or customer.

    Example:

    \b
        loyalty-agent outbox list --limit 5
    """
    with configured_store(config_file) as (_, store):
        events = store.outbox_batch(after_seq, limit)
    if not events:
        click.echo("the outbox is empty: the central server has acknowledged everything")
    for event in events:
        what = event.body.get("receipt_id") or event.body.get("customer_id") or event.body.get("operation_id") or ""
        click.echo(f"{event.seq}\t{event.id}\t{event.kind}\t{event.created_at}\t{what}")
