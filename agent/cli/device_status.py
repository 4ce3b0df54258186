"""The devices' state for ``loyalty-agent status``: asked of the running agent, else read from the database.

Whether the reader is connected and what the printer last said lives in the
``serve`` process, so ``status`` asks it (``GET /v1/health`` on loopback, one
second at most). When the agent is not running, the database still tells how
many slips wait and why the last attempt failed.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

from ..config import Config
from ..devices.printers import describe_reason
from ..store import Store


def devices_status(config: Config, store: Store) -> dict[str, Any]:
    """``{"source": "agent" | "database", "reader": ..., "printer": ...}`` (None: not configured)."""
    live = _ask_agent(config)
    if live is not None:
        return {"source": "agent", **live}
    with store.read() as tx:
        waiting, failure = tx.pending_print_jobs(), tx.last_print_failure()
    reader = printer = None
    if config.reader_kind != "none":
        reader = {
            "id": config.reader_id,
            "kind": config.reader_kind,
            "device": config.reader_url or config.reader_usb_id,
            "terminal": config.effective_reader_terminal or None,
            "state": "not running",
        }
    if config.printer_kind != "none" or waiting:
        printer = {
            "kind": config.printer_kind,
            "device": f"{config.printer_kind} {config.printer_url or config.printer_usb_id}",
            "state": failure[0] if failure else "not running",
            "slips_waiting": waiting,
        }
    return {"source": "database", "reader": reader, "printer": printer}


def _ask_agent(config: Config) -> dict[str, Any] | None:
    host = "127.0.0.1" if config.listen_host in ("0.0.0.0", "::", "") else config.listen_host
    conn = http.client.HTTPConnection(host, config.listen_port, timeout=1)
    try:
        conn.request("GET", "/v1/health")
        response = conn.getresponse()
        body = json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    if not isinstance(body, dict) or body.get("agent_id") != config.effective_agent_id or "devices" not in body:
        return None  # another program (or another agent) on that port
    return {k: body["devices"].get(k) for k in ("reader", "printer")}


_PRINTER_WORDS = {"ok": "ok", "unknown": "no slip printed yet", "stopped": "stopped", "not running": "not running"}


def describe_devices(devices: dict[str, Any]) -> list[str]:
    """The lines ``status`` prints about the reader and the printer."""
    suffix = "" if devices["source"] == "agent" else " (the agent is not running)"
    reader, printer = devices["reader"], devices["printer"]
    lines = []
    if reader is None:
        lines.append("card reader: none configured")
    else:
        extra = f", {reader['reads']} read(s), {reader['discarded']} frame(s) discarded" if "reads" in reader else ""
        lines.append(
            f"card reader {reader['id']} ({reader['kind']} {reader['device'] or '-'}) for terminal "
            f"{reader['terminal'] or '-'}: {reader['state']}{extra}{suffix}"
        )
    if printer is None:
        lines.append("printer: none configured")
    else:
        state = printer["state"]
        shown = _PRINTER_WORDS.get(state) or describe_reason(state, "en")
        lines.append(
            f"printer {printer['device'] or printer['kind']}: {shown},"
            f" {printer['slips_waiting']} slip(s) waiting{suffix}"
        )
    return lines
