"""Byte framing of card readers, in the style of ``serial.threaded.Protocol``.

A framing protocol is fed bytes (``data_received``) in whatever chunks the
port delivers and calls ``on_frame(payload)`` for every complete frame. It
never raises on bad input: a frame that is too long, a frame cut short (the
reader calls ``idle()`` after a quiet spell, and ``connection_lost`` on
unplug) or a checksum mismatch is passed to ``on_discard(reason, data)`` so
the reader can log it. No I/O, no clock: tests feed bytes one at a time.

Framings (``FRAMINGS``):

* ``line``: payload ends at CR or LF (CR LF counts once); barcode/QR scanners
  and ASCII magnetic-stripe readers (``;7700...?`` CR).
* ``stx-etx``: STX payload ETX; bytes outside a frame are noise.
* ``stx-etx-lrc``: STX payload ETX LRC, LRC = XOR of payload and ETX.
"""

from __future__ import annotations

from collections.abc import Callable

STX, ETX, CR, LF = 0x02, 0x03, 0x0D, 0x0A
FRAMINGS = ("line", "stx-etx", "stx-etx-lrc")
MAX_FRAME = 1024  # longer than any swipe (~120 bytes) or a QR token we accept

FrameHandler = Callable[[bytes], None]
DiscardHandler = Callable[[str, bytes], None]


class Framing:
    """Base of the framing protocols: buffer, limits, discards."""

    def __init__(
        self, on_frame: FrameHandler, on_discard: DiscardHandler | None = None, max_frame: int = MAX_FRAME
    ) -> None:
        self.on_frame = on_frame
        self.on_discard = on_discard or (lambda reason, data: None)
        self.max_frame = max_frame
        self.buffer = bytearray()
        self.skipping = False  # the frame grew too long and was dropped: skip the rest of it

    def connection_made(self, transport: object) -> None:
        """A port was (re)opened: start clean."""
        self.buffer.clear()
        self.skipping = False

    def connection_lost(self, exc: BaseException | None) -> None:
        """The port went away: a frame in progress is lost."""
        self._drop("port closed mid-frame")
        self.skipping = False

    def idle(self) -> None:
        """Nothing arrived for a while: a frame in progress is a partial frame."""
        self._drop("partial frame (no terminator before the pause)")
        self.skipping = False

    def data_received(self, data: bytes) -> None:
        """Consume bytes from the port."""
        for byte in data:
            self._byte(byte)

    def _byte(self, byte: int) -> None:
        raise NotImplementedError

    def _drop(self, reason: str) -> None:
        if self.buffer:
            data = bytes(self.buffer)
            self.buffer.clear()
            self.on_discard(reason, data)

    def _append(self, byte: int) -> None:
        if self.skipping:
            return
        if len(self.buffer) >= self.max_frame:
            # the tail of an endless line is no swipe: it would read as a card number never swiped
            self._drop(f"frame longer than {self.max_frame} bytes")
            self.skipping = True
            return
        self.buffer.append(byte)


class LineFraming(Framing):
    """Frames end at CR or LF; empty lines (the LF of CR LF) are ignored."""

    def _byte(self, byte: int) -> None:
        if byte in (CR, LF):
            self.skipping = False
            if self.buffer:
                frame = bytes(self.buffer)
                self.buffer.clear()
                self.on_frame(frame)
            return
        self._append(byte)


class StxEtxFraming(Framing):
    """Frames between STX and ETX, optionally followed by an LRC byte."""

    def __init__(
        self,
        on_frame: FrameHandler,
        on_discard: DiscardHandler | None = None,
        max_frame: int = MAX_FRAME,
        lrc: bool = False,
    ) -> None:
        super().__init__(on_frame, on_discard, max_frame)
        self.lrc = lrc
        self._state = "out"  # out | in | lrc
        self._noise = 0

    def _byte(self, byte: int) -> None:
        if self._state == "lrc":
            self._state = "out"
            frame = bytes(self.buffer)
            self.buffer.clear()
            expected = ETX
            for b in frame:
                expected ^= b
            if byte == expected:
                self.on_frame(frame)
            else:
                self.on_discard(f"LRC mismatch (got {byte:02X}, expected {expected:02X})", frame)
            return
        if byte == STX:
            self.skipping = False
            if self._state == "in":
                self._drop("new STX inside a frame (partial frame)")
            self._flush_noise()
            self._state = "in"
            return
        if self._state == "out":
            self._noise += 1  # counted, reported once the next frame starts
            return
        if byte == ETX and self.skipping:
            self.skipping = False
            self._state = "out"  # its LRC byte, if any, counts as noise
            return
        if byte == ETX:
            if self.lrc:
                self._state = "lrc"
                return
            self._state = "out"
            frame = bytes(self.buffer)
            self.buffer.clear()
            self.on_frame(frame)
            return
        self._append(byte)

    def idle(self) -> None:
        """A pause: drop a partial frame and report noise seen outside frames."""
        self._state = "out"
        super().idle()
        self._flush_noise()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The port went away."""
        self._state = "out"
        super().connection_lost(exc)
        self._noise = 0

    def _flush_noise(self) -> None:
        if self._noise:
            self.on_discard(f"{self._noise} byte(s) outside STX/ETX frames", b"")
            self._noise = 0


def make_framing(name: str, on_frame: FrameHandler, on_discard: DiscardHandler | None = None) -> Framing:
    """The framing protocol called ``name`` (one of ``FRAMINGS``)."""
    if name == "line":
        return LineFraming(on_frame, on_discard)
    if name in ("stx-etx", "stx-etx-lrc"):
        return StxEtxFraming(on_frame, on_discard, lrc=name == "stx-etx-lrc")
    raise ValueError(f"unknown framing {name!r}; one of {', '.join(FRAMINGS)}")
