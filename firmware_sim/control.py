"""The control channel: text commands over a Unix socket, one line each way.

A running simulator listens on ``--control PATH``; a test, a script or a
technician sends a line such as ``paper out`` and reads one line back, which
starts with ``ok`` or ``error``::

    loyalty-sim control /tmp/printer.ctl paper out
    loyalty-sim control /tmp/printer.ctl status

The same commands are accepted on a simulator's standard input (the reader)
and in scenario files, so a rehearsal can be typed, scripted or driven from a
test with ``send_command``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("loyalty_sim.control")


class CommandError(ValueError):
    """A control command that is unknown or malformed; the message says what is accepted."""


class ControlServer:
    """Serve ``handle(line) -> answer`` on a Unix socket at ``path``."""

    def __init__(self, path: str | Path, handle: Callable[[str], str]) -> None:
        self.path = Path(path)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for raw in self.rfile:
                    line = raw.decode("utf-8", errors="replace").strip()
                    if line:
                        self.wfile.write((answer(line) + "\n").encode("utf-8"))

        def answer(line: str) -> str:
            try:
                return "ok " + handle(line) if handle is not None else "ok"
            except CommandError as exc:
                return f"error {exc}"
            except Exception as exc:  # a control command must never kill the simulator
                log.exception("control command %r failed", line)
                return f"error {type(exc).__name__}: {exc}"

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

        self.server = Server(str(self.path), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving and remove the socket file."""
        self.server.shutdown()
        self.server.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def send_command(path: str | Path, line: str, timeout: float = 10.0) -> str:
    """Send one command line to a simulator's control socket; return its answer line.

    :raises CommandError: when the simulator answers ``error ...``
    :raises OSError: when nothing listens at ``path``
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(line.strip().encode("utf-8") + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    text = answer.decode("utf-8").strip()
    if text.startswith("error"):
        raise CommandError(text[len("error") :].strip())
    return text[len("ok") :].strip()
