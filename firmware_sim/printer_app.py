"""``loyalty-sim printer``: the simulated printer on a pty and/or TCP, with a control channel."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from .control import CommandError, ControlServer
from .paper import Slip
from .ports import PtyPort, TcpPort, serve_pty
from .printer import SimulatedPrinter
from .render import save_slip

log = logging.getLogger("loyalty_sim.printer")

PRINTER_COMMANDS = """\
paper ok|near-end|out      paper roll state
cover open|closed          cover state
offline | online           printer offline (answers status, prints nothing) or back
power off|on               switched off: no answers at all, data lost
delay SECONDS              wait this long before each status answer
paper-out-after LINES      paper runs out after this many more printed lines
reset                      all faults cleared
status                     JSON: state, slips printed, bytes discarded"""


def handle_printer_command(printer: SimulatedPrinter, line: str) -> str:
    """Apply one control command to ``printer``; return the answer text."""
    words = line.split()
    if not words:
        raise CommandError("empty command")
    cmd, args = words[0].lower(), [w.lower() for w in words[1:]]

    def one(choices: dict[str, dict[str, object]]) -> str:
        if len(args) != 1 or args[0] not in choices:
            raise CommandError(f"{cmd}: expected one of {', '.join(choices)}")
        printer.set_fault(**choices[args[0]])
        return f"{cmd} {args[0]}"

    if cmd == "paper":
        return one({"ok": {"paper": "ok"}, "near-end": {"paper": "near_end"}, "out": {"paper": "out"}})
    if cmd == "cover":
        return one({"open": {"cover_open": True}, "closed": {"cover_open": False}, "close": {"cover_open": False}})
    if cmd in ("offline", "online"):
        printer.set_fault(offline=cmd == "offline")
        return cmd
    if cmd == "power":
        return one({"off": {"powered": False}, "on": {"powered": True}})
    if cmd in ("delay", "paper-out-after"):
        if len(args) != 1:
            raise CommandError(f"{cmd}: expected one number")
        try:
            value = float(args[0]) if cmd == "delay" else int(args[0])
        except ValueError:
            raise CommandError(f"{cmd}: {args[0]!r} is not a number") from None
        if value < 0:
            raise CommandError(f"{cmd}: must not be negative")
        printer.set_fault(**({"delay": value} if cmd == "delay" else {"paper_lines_left": value}))
        return f"{cmd} {args[0]}"
    if cmd == "reset":
        printer.set_fault(paper="ok", cover_open=False, offline=False, powered=True, delay=0.0, paper_lines_left=None)
        return "reset"
    if cmd == "status":
        return json.dumps({**printer.state.describe(), "slips": printer.slips_done, "discarded": printer.discarded})
    raise CommandError(f"unknown command {cmd!r}; commands:\n{PRINTER_COMMANDS}")


class PrinterApp:
    """A simulated printer with its wires, output folder and control socket."""

    def __init__(
        self,
        out_dir: Path,
        columns: int = 42,
        pty: bool = False,
        link: str | None = None,
        tcp: int | None = None,
        control: str | None = None,
        on_slip: Callable[[Slip, Path], None] | None = None,
    ) -> None:
        self.out_dir = out_dir
        self.columns = columns
        self._on_slip = on_slip
        self.printer = SimulatedPrinter(on_slip=self._save, columns=columns)
        self.stop = threading.Event()
        self.pty = PtyPort(link) if pty else None
        self.tcp = TcpPort(tcp, self.printer.data_received) if tcp is not None else None
        self.control = (
            ControlServer(control, lambda line: handle_printer_command(self.printer, line)) if control else None
        )
        self._pump = None
        if self.pty is not None:
            self._pump = threading.Thread(
                target=serve_pty, args=(self.pty, self.printer.data_received, self.stop), daemon=True
            )
            self._pump.start()

    def _save(self, slip: Slip) -> None:
        text_path, _ = save_slip(slip, self.columns, self.out_dir)
        log.info("slip saved: %s", text_path)
        if self._on_slip is not None:
            self._on_slip(slip, text_path)

    def endpoints(self) -> list[str]:
        """What the agent connects to: the pty path and/or host:port."""
        found = []
        if self.pty is not None:
            found.append(self.pty.path)
        if self.tcp is not None:
            found.append(f"{self.tcp.host}:{self.tcp.port}")
        return found

    def close(self) -> None:
        """Stop everything; an unfinished slip is saved as partial."""
        self.stop.set()
        if self._pump is not None:
            self._pump.join(timeout=2)
        for part in (self.tcp, self.control, self.pty):
            if part is not None:
                part.close()
        self.printer.flush()
