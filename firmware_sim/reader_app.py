"""``loyalty-sim reader``: a card reader / scanner on a pty, driven by commands.

Commands (arguments, scenario files, standard input and the control socket
all speak them)::

    swipe CARD [TRACKS]     a magnetic-stripe swipe (TRACKS 1, 2 or 12; default from --tracks)
    scan TEXT               a barcode scan
    qr TEXT                 a QR scan
    noise N                 N random bytes of line noise
    partial CARD            the first half of a swipe, never finished
    raw HEX                 these bytes exactly
    disconnect SECONDS      unplug, wait, plug back (the device node disappears meanwhile)
    unplug | plug           one half of that
    wait-open [SECONDS]     wait until the agent opens the port (default 10 s)
    sleep SECONDS           pause (scenarios)
    framing NAME            switch framing: line, stx-etx, stx-etx-lrc
    status                  JSON: framing, plugged, what was sent

The simulator also plays the wire between two serial devices set up
differently: when the agent opens the port at another baud rate or
character format than the reader's (``--baud``, ``--bytesize``, ``--parity``),
what arrives is garbage, as on a real cable, and the log says why.
"""

from __future__ import annotations

import json
import logging
import random
import shlex
import termios
import threading
import time
from pathlib import Path
from typing import Any

from . import cards
from .control import CommandError
from .ports import PtyPort

log = logging.getLogger("loyalty_sim.reader")

_UNOPENED_SPEED = termios.B50  # set on a fresh pty; any real open (pyserial) changes it
_SPEEDS = {
    getattr(termios, f"B{b}"): b
    for b in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
    if hasattr(termios, f"B{b}")
}


class ReaderApp:
    """A simulated serial card reader (magnetic stripe and/or scanner) on a pty."""

    def __init__(
        self,
        link: str | None = None,
        framing: str = "line",
        tracks: str = "2",
        track_lrc: bool = False,
        suffix: bytes = b"\r",
        scan_suffix: bytes = b"\r\n",
        aim: bool = False,
        baud: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        seed: int = 0,
    ) -> None:
        if framing not in cards.FRAMINGS:
            raise ValueError(f"unknown framing {framing!r}; one of {', '.join(cards.FRAMINGS)}")
        self.framing, self.tracks, self.track_lrc = framing, tracks, track_lrc
        self.suffix, self.scan_suffix, self.aim = suffix, scan_suffix, aim
        self.baud, self.bytesize, self.parity = baud, bytesize, parity.upper()
        self.rng = random.Random(seed)
        self.sent: list[str] = []
        self.port = PtyPort(link)
        self._mark_unopened()
        self._lock = threading.Lock()

    # -- the wire --------------------------------------------------------

    def _mark_unopened(self) -> None:
        attrs = termios.tcgetattr(self.port.slave)
        attrs[4] = attrs[5] = _UNOPENED_SPEED
        termios.tcsetattr(self.port.slave, termios.TCSANOW, attrs)

    def agent_settings(self) -> tuple[int, int, str] | None:
        """(baud, bytesize, parity) the agent configured, or None while nobody opened the port."""
        if not self.port.plugged:
            return None
        attrs = termios.tcgetattr(self.port.slave)
        if attrs[5] == _UNOPENED_SPEED:
            return None
        cflag = attrs[2]
        size = {termios.CS5: 5, termios.CS6: 6, termios.CS7: 7, termios.CS8: 8}[cflag & termios.CSIZE]
        parity = "N" if not cflag & termios.PARENB else ("O" if cflag & termios.PARODD else "E")
        return _SPEEDS.get(attrs[5], 0), size, parity

    def wait_open(self, timeout: float = 10.0) -> bool:
        """Block until the agent opens the port; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.agent_settings() is not None:
                return True
            time.sleep(0.02)
        return False

    def send(self, data: bytes, what: str) -> None:
        """Put bytes on the wire as the agent's port settings would receive them."""
        with self._lock:
            agent = self.agent_settings()
            if agent is not None and agent != (self.baud, self.bytesize, self.parity):
                log.warning(
                    "agent opened the port as %s, the reader sends %s: the agent receives garbage",
                    _fmt(agent),
                    _fmt((self.baud, self.bytesize, self.parity)),
                )
                data = bytes((b * 7 + 0x5A) & 0xFF for b in data)
            self.port.write(data)
            self.sent.append(what)
            log.info("sent %s (%d bytes)", what, len(data))

    # -- commands ----------------------------------------------------------

    def handle(self, line: str) -> str:
        """Run one command line; return the answer text."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not words:
            raise CommandError("empty command")
        cmd, args = words[0].lower(), words[1:]
        method = getattr(self, "_cmd_" + cmd.replace("-", "_"), None)
        if method is None:
            raise CommandError(f"unknown command {cmd!r}; see loyalty-sim reader --help")
        try:
            return method(*args)
        except TypeError:
            raise CommandError(f"{cmd}: wrong number of arguments") from None
        except OSError as exc:
            raise CommandError(f"{cmd}: the port is unplugged ({exc})") from None

    def _cmd_swipe(self, card: str, tracks: str | None = None) -> str:
        _check_card(card)
        data = cards.swipe_bytes(card, self.framing, tracks or self.tracks, self.track_lrc, self.suffix)
        self.send(data, f"swipe {card}")
        return f"swipe {card}"

    def _scan(self, text: str, symbology: str | None) -> bytes:
        line = cards.scan_bytes(text, symbology if self.aim else None, self.scan_suffix)
        if self.framing == "line":
            return line
        return cards.frame(line[: -len(self.scan_suffix)], self.framing)  # STX readers frame scans too

    def _cmd_scan(self, text: str) -> str:
        self.send(self._scan(text, "ean13" if len(text) == 13 else "code128"), f"scan {text}")
        return f"scan {text}"

    def _cmd_qr(self, text: str) -> str:
        self.send(self._scan(text, "qr"), f"qr {text}")
        return f"qr {text}"

    def _cmd_noise(self, count: str) -> str:
        n = _number(count, int, "noise")
        self.send(cards.noise_bytes(n, self.rng), f"noise {n}")
        return f"noise {n}"

    def _cmd_partial(self, card: str) -> str:
        _check_card(card)
        whole = cards.swipe_bytes(card, self.framing, self.tracks, self.track_lrc, self.suffix)
        self.send(whole[: len(whole) // 2], f"partial {card}")
        return f"partial {card}"

    def _cmd_raw(self, hexdata: str) -> str:
        try:
            data = bytes.fromhex(hexdata)
        except ValueError:
            raise CommandError(f"raw: {hexdata!r} is not hex") from None
        self.send(data, f"raw {hexdata}")
        return f"raw {len(data)} bytes"

    def _cmd_unplug(self) -> str:
        self.port.unplug()
        return "unplugged"

    def _cmd_plug(self) -> str:
        self.port.plug()
        self._mark_unopened()
        return f"plugged {self.port.path}"

    def _cmd_disconnect(self, seconds: str = "1") -> str:
        self.port.unplug()
        time.sleep(_number(seconds, float, "disconnect"))
        return self._cmd_plug()

    def _cmd_wait_open(self, seconds: str = "10") -> str:
        if not self.wait_open(_number(seconds, float, "wait-open")):
            raise CommandError("nobody opened the port in time")
        return "opened " + _fmt(self.agent_settings() or (0, 0, "?"))

    def _cmd_sleep(self, seconds: str) -> str:
        time.sleep(_number(seconds, float, "sleep"))
        return "slept"

    def _cmd_framing(self, name: str) -> str:
        if name not in cards.FRAMINGS:
            raise CommandError(f"framing: one of {', '.join(cards.FRAMINGS)}")
        self.framing = name
        return f"framing {name}"

    def _cmd_status(self) -> str:
        agent = self.agent_settings()
        return json.dumps(
            {
                "framing": self.framing,
                "plugged": self.port.plugged,
                "path": self.port.path,
                "agent": _fmt(agent) if agent else None,
                "sent": self.sent[-20:],
            }
        )

    def close(self) -> None:
        """Unplug for good."""
        self.port.unplug()


def load_scenario(path: Path) -> list[str]:
    """Command lines of a scenario file (YAML or JSON list of strings or one-key mappings)."""
    import yaml

    try:
        doc: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CommandError(f"cannot read scenario {path}: {exc}") from None
    steps = doc.get("steps") if isinstance(doc, dict) else doc
    if not isinstance(steps, list):
        raise CommandError(f"scenario {path}: expected a list of steps (or a mapping with 'steps')")
    lines = []
    for number, step in enumerate(steps, start=1):
        if isinstance(step, str):
            lines.append(step)
        elif isinstance(step, dict) and len(step) == 1:
            ((cmd, arg),) = step.items()
            args = arg if isinstance(arg, list) else ([] if arg is None else [arg])
            lines.append(" ".join([str(cmd), *(shlex.quote(str(a)) for a in args)]))
        else:
            raise CommandError(f"scenario {path}: step {number} must be a string or a one-key mapping")
    return lines


def _check_card(card: str) -> None:
    if not card.isdigit() or not 1 <= len(card) <= 19:
        raise CommandError(f"card number must be 1-19 digits, not {card!r}")


def _number(text: str, kind: type, cmd: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise CommandError(f"{cmd}: {text!r} is not a number") from None
    if value < 0:
        raise CommandError(f"{cmd}: must not be negative")
    return value


def _fmt(settings: tuple[int, int, str]) -> str:
    baud, size, parity = settings
    return f"{baud} {size}{parity}1"
