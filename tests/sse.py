"""A small server-sent-events client for tests: reads a real HTTP stream block by block."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SseBlock:
    """One block of a stream (up to a blank line): its fields and its comment lines."""

    fields: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)

    @property
    def data(self) -> Any:
        return json.loads(self.fields["data"])


class SseClient:
    """``GET path`` on 127.0.0.1:port, kept open; ``block()`` reads the next block (socket timeout applies)."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 10) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        self.status = self.response.status

    def block(self) -> SseBlock:
        """The next block; EOFError when the server ended the stream."""
        block = SseBlock()
        while True:
            line = self.response.readline()
            if not line:
                raise EOFError("the stream ended")
            text = line.decode("utf-8").rstrip("\r\n")
            if not text:
                if block.fields or block.comments:
                    return block
                continue
            if text.startswith(":"):
                block.comments.append(text[1:].strip())
            else:
                name, _, value = text.partition(":")
                block.fields[name] = value[1:] if value.startswith(" ") else value

    def event(self, name: str = "identification") -> SseBlock:
        """The next block that is an event called ``name`` (keep-alives are skipped)."""
        while True:
            block = self.block()
            if block.fields.get("event") == name:
                return block

    def close(self) -> None:
        # the response first: a socket closed while its file is open is only closed for real when the
        # file is collected, and collected in the wrong order it warns (ResourceWarning)
        self.response.close()
        self.conn.close()
