"""A real NATS cluster with its MQTT interface (nats-server, Debian's package): the clustered-broker option of
docs/scale.md. Three nodes on free loopback ports, JetStream on each (NATS keeps MQTT sessions, QoS 1 messages
and retained messages in JetStream streams replicated across the cluster)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from .broker import free_port


def nats_server() -> str | None:
    return shutil.which("nats-server") or next(
        (p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if Path(p).exists()), None
    )


class NatsCluster:
    def __init__(
        self, folder: Path, nodes: int = 3, users: dict[str, str] | None = None, auth: str | None = None
    ) -> None:
        self.folder = folder
        self.names = [f"n{i + 1}" for i in range(nodes)]
        self.client = {n: free_port() for n in self.names}
        self.route = {n: free_port() for n in self.names}
        self.mqtt = {n: free_port() for n in self.names}
        self.users = users
        self.auth = auth  # an authorization block as written (broker-config --nats)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, node: str) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt[node]}"

    def _config(self, node: str) -> Path:
        routes = ", ".join(f"nats-route://127.0.0.1:{self.route[n]}" for n in self.names if n != node)
        auth = ""
        if self.users:
            entries = ", ".join(f'{{user: "{u}", password: "{p}"}}' for u, p in self.users.items())
            auth = f"authorization {{ users: [{entries}] }}\n"
        if self.auth:
            auth = self.auth
        cluster = ""
        if len(self.names) > 1:
            cluster = f'cluster {{ name: "loyalty", listen: "127.0.0.1:{self.route[node]}", routes: [{routes}] }}\n'
        text = (
            f'server_name: "{node}"\nlisten: "127.0.0.1:{self.client[node]}"\n'
            f'jetstream {{ store_dir: "{self.folder / node}" }}\n'
            + cluster
            + f'mqtt {{ listen: "127.0.0.1:{self.mqtt[node]}", stream_replicas: {min(3, len(self.names))} }}\n'
            + auth
        )
        path = self.folder / f"{node}.conf"
        path.write_text(text)
        return path

    def start(self, timeout: float = 30.0) -> NatsCluster:
        self.folder.mkdir(parents=True, exist_ok=True)
        for node in self.names:
            self.start_node(node)
        deadline = time.monotonic() + timeout
        for node in self.names:
            while not _answers(self.mqtt[node]):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"NATS node {node} did not open its MQTT port: {self.log(node)}")
                time.sleep(0.2)
        return self

    def start_node(self, node: str) -> None:
        server = nats_server()
        assert server is not None
        log = (self.folder / f"{node}.log").open("ab")
        with log:
            self.procs[node] = subprocess.Popen([server, "-c", str(self._config(node))], stdout=log, stderr=log)

    def kill(self, node: str) -> None:
        proc = self.procs.pop(node, None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def log(self, node: str) -> str:
        path = self.folder / f"{node}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        for node in list(self.procs):
            proc = self.procs.pop(node)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False
