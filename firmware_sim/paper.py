"""What lands on the paper: the blocks of one printed slip (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """A run of text in one style."""

    text: str
    bold: bool = False
    width: int = 1  # character width multiplier (GS ! / ESC !)
    height: int = 1
    underline: bool = False
    invert: bool = False


@dataclass(frozen=True, slots=True)
class TextLine:
    """One printed line; ``spans`` empty for a blank line (a feed)."""

    spans: tuple[Span, ...]
    align: str = "left"  # left | center | right

    @property
    def text(self) -> str:
        """The line's characters without styling."""
        return "".join(s.text for s in self.spans)

    @property
    def columns(self) -> int:
        """Columns the line occupies (double-width characters take two)."""
        return sum(len(s.text) * s.width for s in self.spans)

    @property
    def height(self) -> int:
        """Height multiplier of the tallest span."""
        return max((s.height for s in self.spans), default=1)


@dataclass(frozen=True, slots=True)
class Barcode:
    """A 1-D barcode (GS k) with its symbology name and decoded data."""

    symbology: str
    data: str
    align: str = "left"
    height: int = 162
    module: int = 3
    hri: str = "none"  # none | above | below | both


@dataclass(frozen=True, slots=True)
class Code2D:
    """A 2-D code (GS ( k): QR, or another symbology drawn as a labelled box."""

    symbology: str  # "QR" or e.g. "PDF417"
    data: str
    align: str = "left"
    module: int = 3
    ec: str = "L"


@dataclass(frozen=True, slots=True)
class Picture:
    """A raster or bit image, 1 bit per dot, row-major, 1 = black."""

    width: int
    height: int
    bits: bytes
    align: str = "left"


Block = TextLine | Barcode | Code2D | Picture


@dataclass
class Slip:
    """One slip: the blocks printed between two cuts."""

    number: int
    blocks: list[Block] = field(default_factory=list)
    partial: bool = False  # paper ran out, cover opened or the printer went offline mid-slip
    cut: bool = False
    codepages: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        """True when nothing was printed yet."""
        return not self.blocks
