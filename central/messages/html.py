"""HTML email bodies: what a template's HTML may hold, and the text part made from it (pure: no I/O).

An email template may have an HTML body (``message_templates.html``). It is rendered in the same
Jinja2 sandbox as text templates, with every variable HTML-escaped (central/messages/templates.py),
and its text part (``text/plain``, for readers that show no HTML, and for spam filters) is made from
the rendered HTML by :func:`to_text`: paragraphs and line breaks kept, links as "label (URL)",
list items with a bullet, styles and scripts dropped.

:func:`check_html` refuses, when the template is saved, what has no place in an email and could act
in a reader or in the console's preview: scripts, frames, objects, forms, ``<base>``, ``<meta>``
refreshes, event handler attributes (``onclick``...), and ``javascript:``/``vbscript:``/``data:``
URLs (``data:image/...`` stays allowed in ``src``). The console shows the preview in a sandboxed
iframe (no scripts, no same origin) all the same.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from .templates import TemplateError

REFUSED_TAGS = frozenset(
    {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input", "button", "base", "link"}
)
URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "background", "poster", "xlink:href"})
_BAD_SCHEME = re.compile(r"^\s*(javascript|vbscript|data)\s*:", re.I)
_DATA_IMAGE = re.compile(r"^\s*data:image/(png|gif|jpeg|webp);", re.I)
BLOCKS = frozenset(
    {"p", "div", "br", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "hr", "blockquote"}
)
SKIPPED = frozenset({"style", "head", "title", "script"})


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.problem:
            return
        if tag in REFUSED_TAGS:
            self.problem = f"<{tag}> is not allowed in an email"
            return
        for name, value in attrs:
            if name.startswith("on"):
                self.problem = f"the attribute {name} (a script) is not allowed in an email"
                return
            if tag == "meta" and name == "http-equiv":
                self.problem = "<meta http-equiv> is not allowed in an email"
                return
            if name in URL_ATTRIBUTES and value and _BAD_SCHEME.match(html.unescape(value)):
                if not (name == "src" and _DATA_IMAGE.match(html.unescape(value))):
                    self.problem = f"the link {value[:40]!r} in {name} is not allowed in an email"
                    return
            if name == "style" and value and re.search(r"expression\s*\(|javascript:", value, re.I):
                self.problem = "a script in a style attribute is not allowed in an email"
                return


def check_html(source: str, field: str = "html") -> None:
    """:class:`TemplateError` if the HTML holds what an email may not (see the module docstring)."""
    checker = _Checker()
    checker.feed(source)
    checker.close()
    if checker.problem:
        raise TemplateError(f"{field}: {checker.problem}")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED:
            self.skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n• ")
        elif tag in BLOCKS:
            self.out.append("\n\n")
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))
            self.out.append("\x00")  # where the label starts

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in SKIPPED:
            self.skip -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self.skip = max(0, self.skip - 1)
        elif tag == "a" and self.links:
            href = self.links.pop()
            start = max(i for i, part in enumerate(self.out) if part == "\x00")
            label = re.sub(r"\s+", " ", "".join(self.out[start + 1 :])).strip()
            del self.out[start:]
            if href and re.match(r"https?://|mailto:", href) and href != label:
                self.out.append(f"{label} ({href})" if label else href)
            else:
                self.out.append(label)
        elif tag in BLOCKS and tag not in ("br", "li"):
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(re.sub(r"\s+", " ", data))


def to_text(source: str) -> str:
    """The plain-text part of a rendered HTML email."""
    parser = _Text()
    parser.feed(source)
    parser.close()
    text = "".join(p for p in parser.out if p != "\x00")
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
