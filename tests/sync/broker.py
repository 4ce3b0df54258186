"""A real Mosquitto for tests and benchmarks: free port, generated config, kill -9 and restart.

Persistence is on (saved every second), so a restart keeps sessions and
retained messages as a production broker would; a kill -9 loses what was not
saved yet, as a crash does.
"""

from __future__ import annotations

import getpass
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free port below the kernel's ephemeral range: a broker stopped and started again on it cannot find it
    taken meanwhile as the source port of some outgoing connection (a port the kernel picks, as ``bind(0)``
    does, can be: "Address already in use" on restart under a parallel test run)."""
    pick = random.SystemRandom()  # not the random module's state: hypothesis seeds that in every worker
    high = _ephemeral_low() - 1
    for _ in range(200):
        port = pick.randint(min(20000, high - 1000), high)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    """One broker process on 127.0.0.1:port; ``restart()`` keeps the port and the data."""

    def __init__(
        self,
        workdir: Path,
        *,
        password_file: Path | None = None,
        acl_file: Path | None = None,
        port: int | None = None,
        max_queued: int | None = 1000,
        extra: list[str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.password_file = password_file
        self.acl_file = acl_file
        self.max_queued = max_queued
        #: more lines after the listener (e.g. the ``loyalty.conf`` that ``loyalty-central broker-config``
        #: writes, which then brings the password file, the ACL and the rest)
        self.extra = list(extra or [])
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        lines = [
            # started as root, Mosquitto would switch to the mosquitto user and could not write here
            f"user {getpass.getuser()}",
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if self.max_queued is not None:
            lines.append(f"max_queued_messages {self.max_queued}")
        lines += self.extra
        if self.password_file is not None:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        elif not any(line.startswith("allow_anonymous") for line in self.extra):
            lines.append("allow_anonymous true")
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> Mosquitto:
        self.write_config()
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log_text()}")

    def kill(self) -> None:
        """kill -9: no clean shutdown, no final save."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self, down_for: float = 0.0) -> None:
        self.kill()
        time.sleep(down_for)
        for _ in range(100):  # the port may linger for a moment
            try:
                self.start()
                return
            except RuntimeError:
                time.sleep(0.1)
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
