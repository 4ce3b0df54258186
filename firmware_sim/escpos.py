"""ESC/POS byte-stream parser: bytes in, commands out, no I/O.

``EscPosParser`` is fed like a ``serial.threaded.Protocol`` (``data_received``)
with whatever chunks the wire delivers, one byte or a megabyte at a time, and
calls ``handler(command)`` for every complete command. Incomplete commands wait
for more bytes; nothing is lost between chunks. The command set is the one a
receipt printer of the Epson TM-T88 family understands (and the Russian
Epson-compatibles: ATOL, Xprinter, Posiflex): text, modes, alignment, feeds,
barcodes (GS k), QR codes (GS ( k), raster images (GS v 0), cuts (GS V) and the
real-time status requests (DLE EOT). Commands the simulator does not model are
skipped by their documented length, so a stream stays in sync; an unknown
command byte is reported as ``Unknown`` and skipped alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ESC, GS, DLE, FS = 0x1B, 0x1D, 0x10, 0x1C
LF, CR, HT, FF, NUL, EOT, DC4, ENQ, CAN = 0x0A, 0x0D, 0x09, 0x0C, 0x00, 0x04, 0x14, 0x05, 0x18


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed command: ``name`` plus its arguments and data."""

    name: str
    args: tuple[int, ...] = ()
    data: bytes = b""


# ESC x / GS x / FS x commands with a fixed number of argument bytes that the
# printer model acts on or that are safe to skip.
_ESC_FIXED: dict[int, tuple[str, int]] = {
    0x40: ("init", 0),  # ESC @
    0x74: ("codepage", 1),  # ESC t n
    0x45: ("bold", 1),  # ESC E n
    0x47: ("double_strike", 1),  # ESC G n
    0x2D: ("underline", 1),  # ESC - n
    0x21: ("print_mode", 1),  # ESC ! n
    0x61: ("align", 1),  # ESC a n
    0x64: ("feed_lines", 1),  # ESC d n
    0x4A: ("feed_dots", 1),  # ESC J n
    0x65: ("reverse_feed", 1),  # ESC e n
    0x4D: ("font", 1),  # ESC M n
    0x7B: ("upside_down", 1),  # ESC { n
    0x32: ("default_line_spacing", 0),  # ESC 2
    0x33: ("line_spacing", 1),  # ESC 3 n
    0x20: ("char_spacing", 1),  # ESC SP n
    0x52: ("intl_charset", 1),  # ESC R n
    0x24: ("abs_position", 2),  # ESC $ nL nH
    0x5C: ("rel_position", 2),  # ESC \ nL nH
    0x3D: ("peripheral", 1),  # ESC = n
    0x25: ("user_charset", 1),  # ESC % n
    0x70: ("drawer_kick", 3),  # ESC p m t1 t2
    0x56: ("rotate", 1),  # ESC V n
    0x72: ("color", 1),  # ESC r n
    0x55: ("unidirectional", 1),  # ESC U n
    0x54: ("print_direction", 1),  # ESC T n
    0x69: ("cut", 0),  # ESC i (legacy partial cut)
    0x6D: ("cut", 0),  # ESC m (legacy partial cut)
    0x4C: ("page_mode", 0),  # ESC L
    0x53: ("standard_mode", 0),  # ESC S
    0x0C: ("print_page", 0),  # ESC FF
}
_GS_FIXED: dict[int, tuple[str, int]] = {
    0x21: ("char_size", 1),  # GS ! n
    0x42: ("invert", 1),  # GS B n
    0x68: ("barcode_height", 1),  # GS h n
    0x77: ("barcode_width", 1),  # GS w n
    0x48: ("hri_position", 1),  # GS H n
    0x66: ("hri_font", 1),  # GS f n
    0x72: ("transmit_status", 1),  # GS r n
    0x49: ("transmit_id", 1),  # GS I n
    0x61: ("asb", 1),  # GS a n
    0x4C: ("left_margin", 2),  # GS L nL nH
    0x57: ("print_width", 2),  # GS W nL nH
    0x50: ("motion_units", 2),  # GS P x y
    0x62: ("smoothing", 1),  # GS b n
    0x24: ("abs_vertical", 2),  # GS $ nL nH
    0x5C: ("rel_vertical", 2),  # GS \ nL nH
    0x3A: ("macro", 0),  # GS :
    0x2F: ("print_downloaded_image", 1),  # GS / m
}
_FS_FIXED: dict[int, tuple[str, int]] = {
    0x26: ("kanji_on", 0),  # FS &
    0x2E: ("kanji_off", 0),  # FS .
    0x21: ("kanji_mode", 1),  # FS ! n
    0x2D: ("kanji_underline", 1),  # FS - n
    0x43: ("kanji_code", 1),  # FS C n
    0x53: ("kanji_spacing", 2),  # FS S n1 n2
    0x57: ("kanji_quad", 1),  # FS W n
    0x70: ("nv_image", 2),  # FS p n m
}


class NeedMore(Exception):
    """The buffer ends inside a command; wait for more bytes."""


class _TooLarge(Exception):
    """A length field asks for more than MAX_BLOCK: treat its first byte as garbage."""


class EscPosParser:
    """Incremental ESC/POS parser in the style of ``serial.threaded.Protocol``.

    Example::

        commands = []
        parser = EscPosParser(commands.append)
        for byte in b"\\x1b@\\x1bt\\x11\\x8f\\xe0\\n":
            parser.data_received(bytes([byte]))
        # commands: init, codepage(17), text(b"\\x8f\\xe0"), lf
    """

    #: a command longer than this (image, QR data) is refused: it guards the
    #: simulator against a garbage length field that would swallow everything
    MAX_BLOCK = 1 << 20

    def __init__(self, handler: Callable[[Command], None]) -> None:
        self.handler = handler
        self._buf = bytearray()

    def data_received(self, data: bytes) -> None:
        """Consume a chunk of the byte stream; emit every complete command."""
        self._buf += data
        pos = 0
        buf = self._buf
        while pos < len(buf):
            try:
                command, end = self._parse(buf, pos)
            except NeedMore:
                break
            except _TooLarge:
                command, end = Command("unknown", args=(buf[pos],)), pos + 1
            pos = end
            if command is not None:
                self.handler(command)
        del buf[:pos]

    def pending(self) -> int:
        """How many bytes wait for the rest of their command."""
        return len(self._buf)

    # -- parsing ---------------------------------------------------------

    def _parse(self, buf: bytearray, pos: int) -> tuple[Command | None, int]:
        b = buf[pos]
        if b >= 0x20 and b != 0x7F:
            end = pos
            while end < len(buf) and buf[end] >= 0x20 and buf[end] != 0x7F:
                end += 1
            return Command("text", data=bytes(buf[pos:end])), end
        if b == LF:
            return Command("lf"), pos + 1
        if b == CR:
            return Command("cr"), pos + 1
        if b == HT:
            return Command("tab"), pos + 1
        if b == FF:
            return Command("form_feed"), pos + 1
        if b == CAN:
            return Command("cancel_page"), pos + 1
        if b == ESC:
            return self._parse_prefixed(buf, pos, "ESC", _ESC_FIXED, self._esc_special)
        if b == GS:
            return self._parse_prefixed(buf, pos, "GS", _GS_FIXED, self._gs_special)
        if b == FS:
            return self._parse_prefixed(buf, pos, "FS", _FS_FIXED, None)
        if b == DLE:
            return self._parse_dle(buf, pos)
        return Command("unknown", args=(b,)), pos + 1

    def _need(self, buf: bytearray, end: int) -> None:
        if end > len(buf):
            raise NeedMore

    def _parse_prefixed(self, buf, pos, prefix, table, special):  # type: ignore[no-untyped-def]
        self._need(buf, pos + 2)
        code = buf[pos + 1]
        if code in table:
            name, nargs = table[code]
            self._need(buf, pos + 2 + nargs)
            return Command(name, args=tuple(buf[pos + 2 : pos + 2 + nargs])), pos + 2 + nargs
        if special is not None:
            found = special(buf, pos, code)
            if found is not None:
                return found
        return Command("unknown", args=(buf[pos], code)), pos + 2

    def _esc_special(self, buf: bytearray, pos: int, code: int) -> tuple[Command, int] | None:
        if code == 0x2A:  # ESC * m nL nH d...: bit image, 8 or 24 dots high
            self._need(buf, pos + 5)
            m, n = buf[pos + 2], buf[pos + 3] | buf[pos + 4] << 8
            size = n * (3 if m in (32, 33) else 1)
            end = pos + 5 + size
            self._need(buf, end)
            return Command("bit_image", args=(m, n), data=bytes(buf[pos + 5 : end])), end
        if code == 0x44:  # ESC D n1 ... NUL: tab stops
            end = buf.find(b"\x00", pos + 2)
            if end < 0:
                self._guard(len(buf) - pos)
                raise NeedMore
            return Command("tabs", data=bytes(buf[pos + 2 : end])), end + 1
        if code == 0x63:  # ESC c 3 n / ESC c 4 n / ESC c 5 n
            self._need(buf, pos + 4)
            return Command("panel", args=(buf[pos + 2], buf[pos + 3])), pos + 4
        if code == 0x26:  # ESC & y c1 c2 [x d...]...: user-defined characters
            self._need(buf, pos + 5)
            y, c1, c2 = buf[pos + 2], buf[pos + 3], buf[pos + 4]
            end = pos + 5
            for _ in range(max(0, c2 - c1 + 1)):
                self._need(buf, end + 1)
                end += 1 + buf[end] * y
            self._need(buf, end)
            return Command("user_chars"), end
        return None

    def _gs_special(self, buf: bytearray, pos: int, code: int) -> tuple[Command, int] | None:
        if code == 0x6B:  # GS k: barcode
            self._need(buf, pos + 3)
            m = buf[pos + 2]
            if m <= 6:  # function A: data ends with NUL
                end = buf.find(b"\x00", pos + 3)
                if end < 0:
                    self._guard(len(buf) - pos)
                    raise NeedMore
                return Command("barcode", args=(m,), data=bytes(buf[pos + 3 : end])), end + 1
            self._need(buf, pos + 4)  # function B: length byte
            n = buf[pos + 3]
            end = pos + 4 + n
            self._need(buf, end)
            return Command("barcode", args=(m,), data=bytes(buf[pos + 4 : end])), end
        if code == 0x28:  # GS ( fn pL pH ...: two-byte length blocks (QR, graphics, ...)
            self._need(buf, pos + 5)
            fn = buf[pos + 2]
            size = buf[pos + 3] | buf[pos + 4] << 8
            self._guard(size)
            end = pos + 5 + size
            self._need(buf, end)
            body = bytes(buf[pos + 5 : end])
            if fn == 0x6B and len(body) >= 2:  # GS ( k cn fn [m] data
                return Command("code2d", args=(body[0], body[1]), data=body[2:]), end
            return Command("gs_paren", args=(fn,), data=body), end
        if code == 0x38 and pos + 2 < len(buf) and buf[pos + 2] == 0x4C:  # GS 8 L: 4-byte length
            self._need(buf, pos + 7)
            size = int.from_bytes(buf[pos + 3 : pos + 7], "little")
            self._guard(size)
            end = pos + 7 + size
            self._need(buf, end)
            return Command("gs_paren", args=(0x4C,), data=bytes(buf[pos + 7 : end])), end
        if code == 0x76:  # GS v 0 m xL xH yL yH d...: raster image
            self._need(buf, pos + 8)
            m = buf[pos + 3]
            xbytes = buf[pos + 4] | buf[pos + 5] << 8
            rows = buf[pos + 6] | buf[pos + 7] << 8
            self._guard(xbytes * rows)
            end = pos + 8 + xbytes * rows
            self._need(buf, end)
            return Command("raster", args=(m, xbytes, rows), data=bytes(buf[pos + 8 : end])), end
        if code == 0x56:  # GS V m [n]: cut
            self._need(buf, pos + 3)
            m = buf[pos + 2]
            if m in (0, 1, 48, 49):
                return Command("cut", args=(m,)), pos + 3
            self._need(buf, pos + 4)
            return Command("cut", args=(m, buf[pos + 3])), pos + 4
        return None

    def _parse_dle(self, buf: bytearray, pos: int) -> tuple[Command, int]:
        self._need(buf, pos + 2)
        code = buf[pos + 1]
        if code == EOT:  # DLE EOT n [a]: real-time status
            self._need(buf, pos + 3)
            n = buf[pos + 2]
            if n == 7:  # ink status takes one more byte
                self._need(buf, pos + 4)
                return Command("rt_status", args=(n, buf[pos + 3])), pos + 4
            return Command("rt_status", args=(n,)), pos + 3
        if code == ENQ:  # DLE ENQ n: real-time request
            self._need(buf, pos + 3)
            return Command("rt_request", args=(buf[pos + 2],)), pos + 3
        if code == DC4:  # DLE DC4 fn ...: real-time pulse, power-off, clear buffer
            self._need(buf, pos + 3)
            fn = buf[pos + 2]
            extra = {1: 2, 2: 2, 7: 2, 8: 7}.get(fn, 0)
            self._need(buf, pos + 3 + extra)
            return Command("rt_dc4", args=(fn, *buf[pos + 3 : pos + 3 + extra])), pos + 3 + extra
        return Command("unknown", args=(DLE, code)), pos + 2

    def _guard(self, size: int) -> None:
        if size > self.MAX_BLOCK:
            raise _TooLarge
