"""The simulated receipt printer: ESC/POS commands in, paper and status bytes out.

``SimulatedPrinter`` behaves like an Epson-compatible thermal printer (TM-T88
family) seen from its data port. It is transport-agnostic: a pty, a TCP
connection or the simulated USB bulk endpoints call ``data_received(bytes)``
and pass a ``reply(bytes)`` function for what the printer sends back (status
answers). Faults are set on ``state`` (``FaultState``) from the CLI, the
control socket or a test.

While paper is out, the cover open or the printer offline, a real printer
stops printing; whether the host's later bytes are buffered depends on the
model and the interface. The simulator takes the strict view: everything
printable that arrives then is discarded (counted in ``discarded``) and a
slip interrupted that way is saved as *partial*. That is the case the agent's
print queue must survive: it reprints the slip once the printer is ready.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .escpos import Command, EscPosParser
from .paper import Barcode, Code2D, Picture, Slip, Span, TextLine

log = logging.getLogger("loyalty_sim.printer")

#: ESC t n -> Python codec, as in Epson's TM-T88V/TM-T20 code page tables
EPSON_CODEPAGES: dict[int, str] = {
    0: "cp437",
    2: "cp850",
    3: "cp860",
    4: "cp863",
    5: "cp865",
    16: "cp1252",
    17: "cp866",
    18: "cp852",
    19: "cp858",
    34: "cp855",
    35: "cp861",
    36: "cp862",
    37: "cp864",
    38: "cp869",
    39: "iso8859_2",
    40: "iso8859_15",
    45: "cp1250",
    46: "cp1251",
    47: "cp1253",
    48: "cp1254",
    49: "cp1255",
    50: "cp1256",
    51: "cp1257",
    52: "cp1258",
}

#: GS k m -> symbology (function A: m 0-6, function B: m 65-79)
BARCODE_TYPES: dict[int, str] = {
    0: "UPC-A",
    1: "UPC-E",
    2: "EAN13",
    3: "EAN8",
    4: "CODE39",
    5: "ITF",
    6: "CODABAR",
    65: "UPC-A",
    66: "UPC-E",
    67: "EAN13",
    68: "EAN8",
    69: "CODE39",
    70: "ITF",
    71: "CODABAR",
    72: "CODE93",
    73: "CODE128",
    74: "GS1-128",
    75: "GS1 DataBar",
    76: "GS1 DataBar Truncated",
    77: "GS1 DataBar Limited",
    78: "GS1 DataBar Expanded",
}
_2D_NAMES = {48: "PDF417", 49: "QR", 50: "MaxiCode", 51: "GS1 DataBar", 52: "Composite", 53: "Aztec", 54: "DataMatrix"}
_ALIGN = {0: "left", 48: "left", 1: "center", 49: "center", 2: "right", 50: "right"}
_HRI = {0: "none", 48: "none", 1: "above", 49: "above", 2: "below", 50: "below", 3: "both", 51: "both"}
_PRINTING = {"text", "lf", "feed_lines", "feed_dots", "barcode", "raster", "bit_image", "cut", "form_feed"}


@dataclass
class FaultState:
    """What is wrong with the printer right now (all fine by default)."""

    paper: str = "ok"  # ok | near_end | out
    cover_open: bool = False
    offline: bool = False  # offline with no cause of its own (DLE EOT 1 bit 3): answers status, prints nothing
    powered: bool = True  # False: no answers at all, data lost (switched off, cable pulled)
    delay: float = 0.0  # seconds before each status answer ("slow answers")
    paper_lines_left: int | None = None  # paper runs out after this many more printed lines

    @property
    def printing_stopped(self) -> bool:
        """True when the mechanism does not print (the printer is offline)."""
        return not self.powered or self.paper == "out" or self.cover_open or self.offline

    def describe(self) -> dict[str, object]:
        """The state as JSON-ready data (for the control channel)."""
        return {
            "paper": self.paper,
            "cover_open": self.cover_open,
            "offline": self.offline,
            "powered": self.powered,
            "delay": self.delay,
            "paper_lines_left": self.paper_lines_left,
        }


class SimulatedPrinter:
    """Epson-compatible printer model; feed it bytes, collect slips.

    :param on_slip: called with every finished (cut or interrupted) ``Slip``
    :param columns: characters per line in font A (42 on 80 mm paper, 32 on 58 mm)
    """

    def __init__(self, on_slip: Callable[[Slip], None] | None = None, columns: int = 42) -> None:
        self.on_slip = on_slip
        self.columns = columns
        self.state = FaultState()
        self.discarded = 0
        self.slips_done = 0
        self._lock = threading.RLock()
        self._parser = EscPosParser(self._execute)
        self._reply: Callable[[bytes], None] = lambda data: None
        self._slip = Slip(number=1)
        self._reset_modes()

    # -- wire side -------------------------------------------------------

    def data_received(self, data: bytes, reply: Callable[[bytes], None] | None = None) -> None:
        """Bytes from the host; ``reply`` sends the printer's answers back on the same link."""
        with self._lock:
            if reply is not None:
                self._reply = reply
            if not self.state.powered:
                self.discarded += len(data)
                return
            self._parser.data_received(data)

    def set_fault(self, **changes: object) -> None:
        """Change the fault state (paper, cover_open, offline, powered, delay, paper_lines_left)."""
        with self._lock:
            for key, value in changes.items():
                if not hasattr(self.state, key):
                    raise ValueError(f"unknown printer state {key!r}")
                setattr(self.state, key, value)
            log.info("printer state: %s", self.state.describe())

    def flush(self) -> None:
        """Finish a slip left without a cut (at shutdown) so nothing printed is lost."""
        with self._lock:
            self._end_line(force=False)
            if not self._slip.empty:
                self._finish_slip(partial=True)

    # -- command execution ---------------------------------------------

    def _reset_modes(self) -> None:
        self.codepage = 0
        self.bold = False
        self.underline = False
        self.invert = False
        self.wmul = self.hmul = 1
        self.align = "left"
        self.barcode_height, self.barcode_module, self.hri = 162, 3, "none"
        self.qr_module, self.qr_ec, self.qr_data = 3, "L", b""
        self._spans: list[Span] = []
        self._line_align: str | None = None
        self._line_cols = 0

    def _execute(self, cmd: Command) -> None:
        name = cmd.name
        if name == "rt_status":
            self._answer(self._rt_status(cmd.args[0]))
            return
        if name == "transmit_status":
            self._answer(self._gs_r_status(cmd.args[0]))
            return
        if name == "transmit_id":
            self._answer(self._printer_id(cmd.args[0]))
            return
        if self.state.printing_stopped and (name in _PRINTING or (name == "code2d" and cmd.args[1] == 81)):
            self.discarded += 1
            return
        handler = getattr(self, f"_do_{name}", None)
        if handler is not None:
            handler(cmd)
        elif name == "unknown":
            log.warning("unknown ESC/POS byte(s) %s skipped", " ".join(f"{b:02X}" for b in cmd.args))

    def _do_init(self, cmd: Command) -> None:
        self._end_line(force=False)
        self._reset_modes()

    def _do_codepage(self, cmd: Command) -> None:
        n = cmd.args[0]
        if n not in EPSON_CODEPAGES:
            log.warning("ESC t %d: code page not in the Epson table; keeping %s", n, EPSON_CODEPAGES[self.codepage])
            return
        self.codepage = n

    def _do_bold(self, cmd: Command) -> None:
        self.bold = bool(cmd.args[0] & 1)

    _do_double_strike = _do_bold

    def _do_underline(self, cmd: Command) -> None:
        self.underline = cmd.args[0] in (1, 2, 49, 50)

    def _do_invert(self, cmd: Command) -> None:
        self.invert = bool(cmd.args[0] & 1)

    def _do_print_mode(self, cmd: Command) -> None:
        n = cmd.args[0]
        self.bold = bool(n & 0x08)
        self.hmul = 2 if n & 0x10 else 1
        self.wmul = 2 if n & 0x20 else 1
        self.underline = bool(n & 0x80)

    def _do_char_size(self, cmd: Command) -> None:
        n = cmd.args[0]
        self.wmul, self.hmul = ((n >> 4) & 7) + 1, (n & 7) + 1

    def _do_align(self, cmd: Command) -> None:
        self.align = _ALIGN.get(cmd.args[0], self.align)
        if not self._spans:  # like a real printer: effective at the start of a line only
            self._line_align = None

    def _do_text(self, cmd: Command) -> None:
        codec = EPSON_CODEPAGES[self.codepage]
        self._slip.codepages.add(codec)
        for char in cmd.data.decode(codec, errors="replace"):
            if self._line_cols + self.wmul > self.columns:  # the printer wraps long lines
                self._end_line(force=True)
            self._add_char(char)

    def _add_char(self, char: str) -> None:
        if self._line_align is None:
            self._line_align = self.align
        style = (self.bold, self.wmul, self.hmul, self.underline, self.invert)
        last = self._spans[-1] if self._spans else None
        if last is not None and (last.bold, last.width, last.height, last.underline, last.invert) == style:
            self._spans[-1] = Span(last.text + char, *style)
        else:
            self._spans.append(Span(char, *style))
        self._line_cols += self.wmul

    def _do_lf(self, cmd: Command) -> None:
        self._end_line(force=True)

    def _do_tab(self, cmd: Command) -> None:
        for _ in range(8 - self._line_cols % 8):
            self._add_char(" ")

    def _do_feed_lines(self, cmd: Command) -> None:
        self._end_line(force=False)
        for _ in range(cmd.args[0]):
            self._end_line(force=True)

    def _do_feed_dots(self, cmd: Command) -> None:
        self._end_line(force=False)
        for _ in range(cmd.args[0] // 24):
            self._end_line(force=True)

    def _end_line(self, force: bool) -> None:
        """Print the buffered line (``force``: even an empty one, i.e. a line feed)."""
        if not self._spans and not force:
            return
        self._emit(TextLine(tuple(self._spans), self._line_align or self.align))
        self._spans, self._line_align, self._line_cols = [], None, 0

    def _emit(self, block: TextLine | Barcode | Code2D | Picture) -> None:
        if self.state.printing_stopped:
            self.discarded += 1
            return
        self._slip.blocks.append(block)
        left = self.state.paper_lines_left
        if left is not None:
            left -= 1
            self.state.paper_lines_left = left
            if left <= 0:
                log.info("paper ran out while printing slip %d", self._slip.number)
                self.state.paper, self.state.paper_lines_left = "out", None
                self._spans, self._line_cols = [], 0
                self._finish_slip(partial=True)

    def _do_barcode_height(self, cmd: Command) -> None:
        self.barcode_height = cmd.args[0] or 162

    def _do_barcode_width(self, cmd: Command) -> None:
        self.barcode_module = cmd.args[0]

    def _do_hri_position(self, cmd: Command) -> None:
        self.hri = _HRI.get(cmd.args[0], "none")

    def _do_barcode(self, cmd: Command) -> None:
        self._end_line(force=False)
        symbology = BARCODE_TYPES.get(cmd.args[0], f"type {cmd.args[0]}")
        data = cmd.data.decode("ascii", errors="replace")
        if symbology in ("CODE128", "GS1-128") and len(data) >= 2 and data[0] == "{":
            data = _code128_text(data)
        self._emit(Barcode(symbology, data, self.align, self.barcode_height, self.barcode_module, self.hri))

    def _do_code2d(self, cmd: Command) -> None:
        cn, fn = cmd.args
        if cn == 49:  # QR
            if fn == 67 and cmd.data:
                self.qr_module = cmd.data[0]
            elif fn == 69 and cmd.data:
                self.qr_ec = {48: "L", 49: "M", 50: "Q", 51: "H"}.get(cmd.data[0], "L")
            elif fn == 80:
                self.qr_data = cmd.data[1:]  # first byte is m (48)
            elif fn == 81:
                self._end_line(force=False)
                self._emit(
                    Code2D("QR", self.qr_data.decode("utf-8", errors="replace"), self.align, self.qr_module, self.qr_ec)
                )
            return
        if fn == 80:
            self.qr_data = cmd.data[1:]
        elif fn == 81:
            self._end_line(force=False)
            self._emit(Code2D(_2D_NAMES.get(cn, f"2D {cn}"), self.qr_data.decode("latin-1"), self.align))

    def _do_raster(self, cmd: Command) -> None:
        self._end_line(force=False)
        _, xbytes, rows = cmd.args
        self._emit(Picture(xbytes * 8, rows, cmd.data, self.align))

    def _do_bit_image(self, cmd: Command) -> None:
        """ESC *: column-major 8- or 24-dot stripes, converted to row-major bits."""
        m, n = cmd.args
        height = 24 if m in (32, 33) else 8
        per_col = height // 8
        xbytes = (n + 7) // 8
        rows = bytearray(xbytes * height)
        for x in range(n):
            for k in range(per_col):
                byte = cmd.data[x * per_col + k]
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        y = k * 8 + bit
                        rows[y * xbytes + x // 8] |= 0x80 >> (x % 8)
        self._emit(Picture(xbytes * 8, height, bytes(rows), self.align))

    def _do_cut(self, cmd: Command) -> None:
        self._end_line(force=False)
        if len(cmd.args) == 2 and cmd.args[0] in (65, 66):
            for _ in range(cmd.args[1] // 24):
                self._end_line(force=True)
        self._finish_slip(partial=False)

    def _finish_slip(self, partial: bool) -> None:
        slip = self._slip
        slip.partial, slip.cut = partial, not partial
        self._slip = Slip(number=slip.number + 1)
        self.slips_done += 1
        log.info("slip %d %s (%d blocks)", slip.number, "interrupted" if partial else "cut", len(slip.blocks))
        if self.on_slip is not None:
            self.on_slip(slip)

    # -- status answers (Epson TM-T88 bit layout) -------------------------

    def _rt_status(self, n: int) -> bytes | None:
        s = self.state
        if n == 1:  # printer status: bit 3 offline
            return bytes([0x12 | (0x08 if s.printing_stopped else 0)])
        if n == 2:  # offline cause: bit 2 cover open, bit 5 stopped by paper end (bit 6, error, not modelled)
            return bytes([0x12 | (0x04 if s.cover_open else 0) | (0x20 if s.paper == "out" else 0)])
        if n == 3:  # error cause: nothing modelled
            return bytes([0x12])
        if n == 4:  # paper roll sensor: bits 2-3 near end, bits 5-6 roll end
            near = 0x0C if s.paper in ("near_end", "out") else 0
            return bytes([0x12 | near | (0x60 if s.paper == "out" else 0)])
        return None

    def _gs_r_status(self, n: int) -> bytes | None:
        if n in (1, 49):
            s = self.state
            return bytes([(0x03 if s.paper in ("near_end", "out") else 0) | (0x0C if s.paper == "out" else 0)])
        if n in (2, 50):
            return b"\x00"
        return None

    def _printer_id(self, n: int) -> bytes | None:
        fixed = {1: b"\x20", 49: b"\x20", 2: b"\x02", 50: b"\x02", 3: b"\x10", 51: b"\x10"}
        if n in fixed:
            return fixed[n]
        text = {65: b"1.00 ESC/POS", 66: b"LOYALTY-SIM", 67: b"SIM-T88", 68: b"000001"}.get(n)
        return b"_" + text + b"\x00" if text else None

    def _answer(self, data: bytes | None) -> None:
        if data is None:
            return
        if self.state.delay:
            time.sleep(self.state.delay)
        try:
            self._reply(data)
        except OSError as exc:  # the host went away before the answer
            log.info("status answer not delivered: %s", exc)


def _code128_text(data: str) -> str:
    """Human text of ESC/POS CODE128 data: drop the {A/{B/{C code-set selectors, expand set C pairs."""
    out, i, code_set = [], 0, "B"
    while i < len(data):
        if data[i] == "{" and i + 1 < len(data):
            sel = data[i + 1]
            if sel in "ABC":
                code_set = sel
            elif sel == "{":
                out.append("{")
            i += 2
            continue
        if code_set == "C":
            out.append(f"{ord(data[i]):02d}")
        else:
            out.append(data[i])
        i += 1
    return "".join(out)
