"""Open and click tracking of email, with signed links (pure: no I/O).

A marketing email of a mailing, when ``PUBLIC_URL`` is set, goes as text *and* HTML
(multipart/alternative): every http(s) link of the text is replaced by a redirect through the
central server, ``/messages/c/<token>`` (the token signs the message's outbox id and the target,
so nobody can make the server redirect elsewhere or count a click for another message), and the
HTML part ends with a 1x1 image ``/messages/o/<token>.gif`` that counts the first opening (only
where the reader loads images: opens are a lower bound; a click counts as an open too). The
unsubscribe link is left as it is. The same message always gets the same links, so a resend after
a crash is byte for byte the same text.
"""

from __future__ import annotations

import base64
import html
import re

from . import tokens

URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)»"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def open_url(public_url: str, key: str, row_id: int) -> str:
    return f"{public_url.rstrip('/')}/messages/o/{tokens.sign(key, 'open', str(row_id))}.gif"


def click_url(public_url: str, key: str, row_id: int, target: str) -> str:
    return f"{public_url.rstrip('/')}/messages/c/{tokens.sign(key, 'click', str(row_id), _b64(target))}"


def read_open(key: str, token: str) -> int | None:
    parts = tokens.verify(key, token.removesuffix(".gif"))
    return int(parts[1]) if parts and len(parts) == 2 and parts[0] == "open" and parts[1].isdigit() else None


def read_click(key: str, token: str) -> tuple[int, str] | None:
    parts = tokens.verify(key, token)
    if not parts or len(parts) != 3 or parts[0] != "click" or not parts[1].isdigit():
        return None
    try:
        target = _unb64(parts[2])
    except (ValueError, UnicodeDecodeError):
        return None
    return (int(parts[1]), target) if URL.fullmatch(target) else None


def track(text: str, public_url: str, key: str, row_id: int, keep: str = "") -> tuple[str, str]:
    """(text with tracked links, its HTML with the opening pixel); ``keep`` (the unsubscribe link) stays."""
    public = public_url.rstrip("/")
    links: list[tuple[str, str]] = []

    def replace(match: re.Match[str]) -> str:
        url = match.group(0)
        tail = ""
        while url and url[-1] in _TRAILING:
            url, tail = url[:-1], url[-1] + tail
        if not url or url == keep or url.startswith(public + "/messages/"):
            return match.group(0)
        tracked = click_url(public_url, key, row_id, url)
        links.append((tracked, url))
        return tracked + tail

    tracked_text = URL.sub(replace, text)
    shown = {tracked: url for tracked, url in links}

    def anchor(match: re.Match[str]) -> str:
        url = match.group(0)
        tail = ""
        while url and url[-1] in _TRAILING:
            url, tail = url[:-1], url[-1] + tail
        label = shown.get(url, url)
        return f'<a href="{html.escape(url)}">{html.escape(label)}</a>{html.escape(tail)}'

    parts, last = [], 0
    for match in URL.finditer(tracked_text):
        parts.append(html.escape(tracked_text[last : match.start()]))
        parts.append(anchor(match))
        last = match.end()
    parts.append(html.escape(tracked_text[last:]))
    body = "".join(parts).replace("\n", "<br>\n")
    pixel = f'<img src="{html.escape(open_url(public_url, key, row_id))}" width="1" height="1" alt="">'
    head = '<!doctype html><html><head><meta charset="utf-8"></head><body>'
    page = f"{head}<div>{body}</div>{pixel}</body></html>"
    return tracked_text, page


_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.I | re.S)


def track_html(page: str, public_url: str, key: str, row_id: int, keep: str = "") -> str:
    """An HTML template's rendering with its http(s) links tracked and the opening pixel before ``</body>``."""
    public = public_url.rstrip("/")

    def replace(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3)).strip()
        if not URL.fullmatch(url) or url == keep or url.startswith(public + "/messages/"):
            return match.group(0)
        tracked = html.escape(click_url(public_url, key, row_id, url))
        return f"{match.group(1)}{match.group(2)}{tracked}{match.group(2)}"

    tracked_page = _HREF.sub(replace, page)
    pixel = f'<img src="{html.escape(open_url(public_url, key, row_id))}" width="1" height="1" alt="">'
    at = tracked_page.lower().rfind("</body>")
    return tracked_page[:at] + pixel + tracked_page[at:] if at >= 0 else tracked_page + pixel
