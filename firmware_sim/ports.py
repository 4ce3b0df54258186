"""The simulator's wires: pseudo-terminals and TCP sockets.

``PtyPort`` is a pseudo-terminal pair in raw mode. The agent opens the slave
side (``path``) exactly as it opens ``/dev/ttyUSB0``; the simulator reads and
writes the master side. With ``link`` set, a symlink at that path points at
the current slave: ``unplug()`` removes it and closes the pair (the agent's
reads fail as on a pulled USB-serial adapter, and the device node is gone),
``plug()`` makes a new pair and points the link at it again, as a device node
comes back under the same name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pty
import select
import socket
import socketserver
import threading
import tty
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("loyalty_sim.ports")


class PtyPort:
    """A raw pseudo-terminal pair; the agent opens ``path``."""

    def __init__(self, link: str | Path | None = None) -> None:
        self.link = Path(link) if link else None
        self.master = self.slave = -1
        self.slave_name = ""
        self._lock = threading.Lock()
        self.plug()

    @property
    def path(self) -> str:
        """What the agent opens: the link if there is one, else the slave device."""
        return str(self.link) if self.link else self.slave_name

    @property
    def plugged(self) -> bool:
        """True while the pair exists."""
        return self.master >= 0

    def plug(self) -> None:
        """Create the pty pair (and the link); no-op when already plugged."""
        with self._lock:
            if self.master >= 0:
                return
            self.master, self.slave = pty.openpty()
            # raw: no echo, no CR/LF translation; bytes pass exactly as written
            tty.setraw(self.slave)
            tty.setraw(self.master)
            self.slave_name = os.ttyname(self.slave)
            if self.link:
                tmp = self.link.with_name(self.link.name + ".new")
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                tmp.symlink_to(self.slave_name)
                tmp.replace(self.link)
            log.info("pty plugged: %s", self.path)

    def unplug(self) -> None:
        """Close the pair and remove the link: the device is gone."""
        with self._lock:
            if self.master < 0:
                return
            if self.link:
                with contextlib.suppress(FileNotFoundError):
                    self.link.unlink()
            for fd in (self.master, self.slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.master = self.slave = -1
            log.info("pty unplugged: %s", self.path)

    close = unplug

    def write(self, data: bytes) -> None:
        """Send bytes to the agent (raises OSError when unplugged)."""
        fd = self.master
        if fd < 0:
            raise OSError("pty is unplugged")
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def read(self, timeout: float) -> bytes | None:
        """Bytes the agent wrote, b"" on timeout, None when unplugged."""
        fd = self.master
        if fd < 0:
            return None
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                return b""
            return os.read(fd, 65536)
        except (OSError, ValueError):
            return None if self.master < 0 else b""


def serve_pty(port: PtyPort, on_data: Callable[[bytes, Callable[[bytes], None]], None], stop: threading.Event) -> None:
    """Pump bytes from the pty into ``on_data(data, reply)`` until ``stop`` is set."""
    while not stop.is_set():
        data = port.read(0.1)
        if data:
            on_data(data, port.write)
        elif data is None:
            stop.wait(0.1)


class TcpPort:
    """A TCP listener (like a network printer's port 9100); one thread per connection."""

    def __init__(
        self, port: int, on_data: Callable[[bytes, Callable[[bytes], None]], None], host: str = "127.0.0.1"
    ) -> None:
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                log.info("tcp connection from %s", self.client_address)
                while not outer.stopping:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        break
                    if not data:
                        break
                    on_data(data, sock.sendall)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.stopping = False
        self.server = Server((host, port), Handler)
        self.host, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop listening."""
        self.stopping = True
        self.server.shutdown()
        self.server.server_close()
