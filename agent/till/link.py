"""The link that connects a tablet or a till PC's browser to the cashier page with its key.

``loyalty-agent terminals add P03 --till`` prints it (and a QR code of it
for a tablet's camera). The key travels in the URL fragment (``#key=...``):
browsers never send the fragment to the server, so it stays out of access
logs and proxies; the page stores it and removes it from the address bar.
"""

from __future__ import annotations

import io
import socket
from urllib.parse import quote

from ..config import Config

_ANY_ADDRESS = ("0.0.0.0", "::", "")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def till_base_url(config: Config) -> str:
    """Where the agent's page is reached: its listen address, or this PC's name when it listens on all."""
    host = config.listen_host
    if host in _ANY_ADDRESS:
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.listen_port}"


def till_link(base_url: str, key: str) -> str:
    """The page's address with the terminal key in its fragment."""
    return f"{base_url.rstrip('/')}/till/#key={quote(key, safe='')}"


def listens_on_loopback(config: Config) -> bool:
    return config.listen_host in _LOOPBACK


def qr_text(data: str) -> str:
    """A QR code of ``data`` drawn with text blocks, for a terminal."""
    import qrcode

    code = qrcode.QRCode(border=2)
    code.add_data(data)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()
