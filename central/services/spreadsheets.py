"""What both file imports (customers: imports.py; receipt history: receipt_import.py) check of an XLSX file
before openpyxl unpacks it."""

from __future__ import annotations

import zipfile
from typing import IO

#: a part of an XLSX file that unzips to more than this, and this many times its packed size, is a zip bomb (a
#: spreadsheet's XML packs 5 to 30 times)
BOMB_BYTES, BOMB_RATIO = 256 << 20, 200


def zip_bomb(source: str | IO[bytes]) -> bool:
    """Whether the XLSX (a zip) at ``source`` has a part that would unpack past :data:`BOMB_BYTES` at more than
    :data:`BOMB_RATIO` times its packed size (``zipfile.BadZipFile`` for a file that is no zip)."""
    with zipfile.ZipFile(source) as packed:
        return any(i.file_size > BOMB_BYTES and i.file_size > BOMB_RATIO * i.compress_size for i in packed.infolist())
