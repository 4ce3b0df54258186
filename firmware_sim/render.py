"""Render a simulated slip as plain text and as a PNG picture (Pillow).

Text: one line per printed line, aligned within the paper's columns; codes as
``[BARCODE CODE128 7700000000000017]`` and ``[QR 7700000000000017]`` so a test
or a technician can read what was encoded. PNG: the paper as a thermal
printer would mark it, 12 dots per column and 24 per line (font A at
180 dpi); barcodes drawn with python-barcode, QR codes with qrcode (both come
with python-escpos), raster images bit for bit. Text uses DejaVu Sans Mono
(Debian ``fonts-dejavu-core``), which covers Cyrillic; without it the PNG
falls back to Pillow's built-in font and says so in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .paper import Barcode, Block, Code2D, Picture, Slip, TextLine

log = logging.getLogger("loyalty_sim.render")

DOT_W, DOT_H = 12, 24  # one font-A character cell in printer dots
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF", "/usr/local/share/fonts")
_fonts: dict[tuple[bool, int], ImageFont.ImageFont | ImageFont.FreeTypeFont] = {}


def render_text(slip: Slip, columns: int) -> str:
    """The slip as plain text, one printed line per line."""
    lines = []
    for block in slip.blocks:
        if isinstance(block, TextLine):
            lines.append(_aligned(block.text, block.columns, block.align, columns))
        elif isinstance(block, Barcode):
            lines.append(_aligned(f"[BARCODE {block.symbology} {block.data}]", None, block.align, columns))
        elif isinstance(block, Code2D):
            lines.append(_aligned(f"[{block.symbology} {block.data}]", None, block.align, columns))
        elif isinstance(block, Picture):
            lines.append(_aligned(f"[IMAGE {block.width}x{block.height}]", None, block.align, columns))
    if slip.partial:
        lines.append("[INTERRUPTED: paper out, cover open or offline]")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _aligned(text: str, width: int | None, align: str, columns: int) -> str:
    width = len(text) if width is None else width
    room = max(0, columns - width)
    if align == "center":
        return " " * (room // 2) + text
    if align == "right":
        return " " * room + text
    return text


def render_png(slip: Slip, columns: int) -> Image.Image:
    """The slip as a black-on-white picture, paper width ``columns`` x 12 dots."""
    width = columns * DOT_W
    pieces = [_block_image(block, width) for block in slip.blocks]
    height = sum(p.height for p in pieces) + 2 * DOT_H
    paper = Image.new("L", (width, max(height, DOT_H)), 255)
    y = DOT_H // 2
    for block, piece in zip(slip.blocks, pieces, strict=True):
        paper.paste(piece, (_x_offset(piece.width, width, block.align), y))
        y += piece.height
    if slip.partial:
        ImageDraw.Draw(paper).line([(0, height - 4), (width, height - 12)], fill=0, width=3)
    return paper


def save_slip(slip: Slip, columns: int, out_dir: Path) -> tuple[Path, Path]:
    """Write ``slip-NNNN[.partial].txt`` and ``.png`` into ``out_dir``; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"slip-{slip.number:04d}" + (".partial" if slip.partial else "")
    text_path, png_path = out_dir / f"{stem}.txt", out_dir / f"{stem}.png"
    render_png(slip, columns).save(png_path)
    # the text file is written last: a watcher that sees it can read both
    tmp = text_path.with_suffix(".tmp")
    tmp.write_text(render_text(slip, columns), encoding="utf-8")
    tmp.replace(text_path)
    return text_path, png_path


def _x_offset(piece_width: int, paper_width: int, align: str) -> int:
    room = max(0, paper_width - piece_width)
    return {"center": room // 2, "right": room}.get(align, 0)


def _block_image(block: Block, paper_width: int) -> Image.Image:
    if isinstance(block, TextLine):
        return _text_image(block)
    if isinstance(block, Barcode):
        return _fit(_barcode_image(block), paper_width)
    if isinstance(block, Code2D):
        return _fit(_code2d_image(block), paper_width)
    bits = Image.frombytes("1", (block.width, block.height), block.bits)
    return _fit(Image.eval(bits.convert("L"), lambda v: 255 - v), paper_width)


def _font(bold: bool, size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    key = (bold, size)
    if key not in _fonts:
        name = "DejaVuSansMono-Bold.ttf" if bold else "DejaVuSansMono.ttf"
        for folder in _FONT_DIRS:
            path = Path(folder) / name
            if path.exists():
                _fonts[key] = ImageFont.truetype(str(path), size)
                break
        else:
            log.warning("DejaVu Sans Mono not found (apt-get install fonts-dejavu-core); using Pillow's font")
            _fonts[key] = ImageFont.load_default(size)
    return _fonts[key]


def _text_image(line: TextLine) -> Image.Image:
    height = DOT_H * line.height
    img = Image.new("L", (max(1, line.columns * DOT_W), height), 255)
    draw = ImageDraw.Draw(img)
    x = 0
    for span in line.spans:
        font = _font(span.bold, 20 * span.height)
        cell_w = DOT_W * span.width
        span_w = cell_w * len(span.text)
        if span.invert:
            draw.rectangle([x, 0, x + span_w - 1, height - 1], fill=0)
        for i, char in enumerate(span.text):
            # each glyph is drawn into its own cell, then stretched for double width
            cell = Image.new("L", (DOT_W * span.height, height), 0 if span.invert else 255)
            ImageDraw.Draw(cell).text((0, 0), char, font=font, fill=255 if span.invert else 0)
            img.paste(cell.resize((cell_w, height)), (x + i * cell_w, 0))
        if span.underline:
            draw.line([(x, height - 2), (x + span_w, height - 2)], fill=0, width=2)
        x += span_w
    return img


def _barcode_image(block: Barcode) -> Image.Image:
    import barcode
    from barcode.writer import ImageWriter

    name = {
        "CODE128": "code128",
        "GS1-128": "gs1_128",
        "EAN13": "ean13",
        "EAN8": "ean8",
        "UPC-A": "upca",
        "CODE39": "code39",
        "ITF": "itf",
        "CODABAR": "codabar",
    }.get(block.symbology)
    try:
        if name is None:
            raise ValueError(f"no renderer for {block.symbology}")
        options = {
            "module_width": block.module * 0.1,
            "module_height": block.height * 0.125 / 2,
            "write_text": block.hri != "none",
            "quiet_zone": 2.0,
            "dpi": 203,
        }
        coded = barcode.get(name, block.data, writer=ImageWriter())
        return coded.render(options).convert("L")
    except Exception as exc:  # a malformed code still gets drawn, as a labelled box
        log.warning("barcode %s %r drawn as a box: %s", block.symbology, block.data, exc)
        return _box(f"{block.symbology} {block.data}")


def _code2d_image(block: Code2D) -> Image.Image:
    if block.symbology != "QR":
        return _box(f"{block.symbology} {block.data}")
    import qrcode

    ec = {
        "L": qrcode.constants.ERROR_CORRECT_L,
        "M": qrcode.constants.ERROR_CORRECT_M,
        "Q": qrcode.constants.ERROR_CORRECT_Q,
        "H": qrcode.constants.ERROR_CORRECT_H,
    }[block.ec]
    code = qrcode.QRCode(box_size=max(1, block.module) * 2, border=2, error_correction=ec)
    code.add_data(block.data)
    code.make(fit=True)
    return code.make_image().get_image().convert("L")


def _box(label: str) -> Image.Image:
    img = Image.new("L", (max(DOT_W * 12, DOT_W * len(label) + 8), DOT_H * 3), 255)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, img.width - 1, img.height - 1], outline=0, width=2)
    draw.text((4, DOT_H), label, font=_font(False, 20), fill=0)
    return img


def _fit(img: Image.Image, width: int) -> Image.Image:
    if img.width <= width:
        return img
    return img.resize((width, max(1, img.height * width // img.width)))
