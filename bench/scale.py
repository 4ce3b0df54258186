"""``bench/sync.py --database postgresql://... --workers N`` (issue 20; docs/scale.md).

Applied events/s of a burst (every event written at once into the agents' outboxes, until each is acknowledged,
so applied and committed), through a real Mosquitto, with ``loyalty-central ingest`` worker processes:

* SQLite, one worker: the baseline, measured in the same run;
* PostgreSQL (a fresh database on the server of ``--database``, dropped after), one worker;
* PostgreSQL, ``--workers`` workers (partition leases, INGEST_PARTITIONS = 16).

Then 1,000 simulated stores (``--stores``) connected at once: one MQTT session each (raw MQTT 3.1.1 sockets
in this process, keepalive pings, a retained 'online' status and an 'offline' last will), held for
``--hold`` seconds; the figure is how many the central database shows online, then after a tenth of them
drop without a goodbye, how many it shows offline (their last will, published by the broker).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

from central.storage.store import Store  # noqa: E402
from shared import wire  # noqa: E402
from tests.sync.broker import Mosquitto  # noqa: E402

STORES = [f"S{i}" for i in range(1, 5)]  # partitions 3, 13, 8, 1 of 16: two workers get two agents each


def _fresh_pg(admin_url: str) -> tuple[str, str]:
    import psycopg

    name = "loyalty_bench_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
    return admin_url.rsplit("/", 1)[0] + "/" + name, name


def _drop_pg(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _prepare(database: str, stores: list[str]) -> None:
    db = Store(database)
    for store in stores:
        db.add_store(store, store)
    db.close()


def _workers(database: str, url: str, count: int, folder: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "LOYALTY_CENTRAL_NIGHTLY_HOUR": "-1", "PYTHONPATH": str(ROOT)}
    if count > 1:
        env["LOYALTY_CENTRAL_INGEST_PARTITIONS"] = "16"
    procs = []
    for i in range(count):
        log = (folder / f"ingest-{i}.log").open("ab")
        with log:
            args = [sys.executable, "-m", "central.cli", "ingest", "--db", database, "--mqtt-url", url]
            if count > 1:
                args += ["--worker", f"w{i + 1}"]
            procs.append(subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=log))
    return procs


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _pg_pids(database: str) -> dict[str, list[int]]:
    """PostgreSQL's processes of a run: the backends of its database, and the server's own (WAL writer,
    checkpointer, ...: shared with whatever else the server does)."""
    if not database.startswith("postgresql://"):
        return {}
    db = Store(database)
    try:
        rows = db.conn.execute(
            "SELECT pid, backend_type, datname FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
        ).fetchall()
    finally:
        db.close()
    name = database.rsplit("/", 1)[1]
    return {
        "postgres backends": [pid for pid, kind, dat in rows if kind == "client backend" and dat == name],
        "postgres server": [pid for pid, kind, _ in rows if kind not in ("client backend", "autovacuum worker")],
    }


#: the CPU seconds each kind of process used during the last burst run (``_burst_run``), and its wall seconds
LAST_CPU: dict[str, float] = {}


def _burst_run(database: str, workers: int, burst: int, folder: Path) -> tuple[float, int, int]:
    """Events/s applied, losses, duplicates (and the CPU each kind of process used: ``LAST_CPU``)."""
    from bench.sync import agent_main

    _prepare(database, STORES)
    broker = Mosquitto(folder / f"broker-{workers}-{uuid.uuid4().hex[:6]}", max_queued=1_000_000).start()
    procs = _workers(database, broker.url, workers, folder)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    queues = [ctx.Queue() for _ in STORES]
    agents = [
        ctx.Process(
            target=agent_main,
            args=(broker.url, store, "bench.sync:sim_agent_factory", queues[i], results),
            daemon=True,
        )
        for i, store in enumerate(STORES)
    ]
    try:
        time.sleep(2 if workers > 1 else 0.5)  # the workers share the partitions out
        for proc in agents:
            proc.start()
        for _ in STORES:
            results.get(timeout=300)
        roles = {
            "ingest workers": [p.pid for p in procs],
            "agents": [p.pid for p in agents if p.pid is not None],
            "broker": [broker.proc.pid] if broker.proc is not None else [],
            **_pg_pids(database),
        }
        before = {role: sum(map(_cpu, pids)) for role, pids in roles.items()}
        for q in queues:
            q.put(("burst", burst // len(STORES)))
        took = [results.get(timeout=900) for _ in STORES]
        after = {role: sum(map(_cpu, pids)) for role, pids in roles.items()}
        LAST_CPU.clear()
        LAST_CPU.update({role: after[role] - before[role] for role in roles})
        LAST_CPU["wall"] = max(t[3] for t in took)
        rate = burst / max(t[3] for t in took)
        for q in queues:
            q.put(("stop",))
        out = [results.get(timeout=120) for _ in STORES]
        db = Store(database)
        lost = dups = 0
        for _, store, last_seq in out:
            count, distinct = db.conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT seq) FROM applied_events WHERE store = ?", (store,)
            ).fetchone()
            lost += last_seq - distinct
            dups += count - distinct
        dups += db.count("ledger") - db.count("applied_events", "kind = 'purchase'")
        db.close()
        return rate, lost, dups
    finally:
        for proc in agents:
            proc.kill()
        for proc in procs:
            proc.kill()
            proc.wait(10)
        broker.stop()


# -- 1,000 stores connected at once: raw MQTT 3.1.1 ----------------------------------------------------------


def _packet(kind: int, body: bytes) -> bytes:
    out, n = bytearray([kind]), len(body)
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out) + body


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def _status(store: str, state: str) -> bytes:
    return wire.encode(
        "status",
        {"store": store, "agent": "a1", "state": state, "at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())},
    )


def _connect(port: int, store: str, keepalive: int) -> socket.socket:
    topic = wire.agent_topic(store, "a1", "status")
    flags = 0x02 | 0x04 | 0x08 | 0x20  # clean session, will flag, will QoS 1, will retain
    body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + _str(f"bench-{store}")
    body += _str(topic) + _str(_status(store, "offline"))
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(_packet(0x10, body))
    ack = sock.recv(4)
    if len(ack) < 4 or ack[0] != 0x20 or ack[3] != 0:
        raise RuntimeError(f"CONNACK refused for {store}: {ack!r}")
    sock.sendall(_packet(0x31, _str(topic) + _status(store, "online")))  # QoS 0, retained
    return sock


def stores_run(database: str, stores: int, hold: float, folder: Path) -> tuple[int, int, int, float]:
    """(online seen, dropped, offline seen, seconds to connect them all)."""
    names = [f"T{i:04d}" for i in range(stores)]
    _prepare(database, names)
    db = Store(database)
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO agents (store, id, created_at, enrolled) VALUES (?, 'a1', '2026-01-01T00:00:00+00:00', 1)"
            " ON CONFLICT DO NOTHING",
            [(n,) for n in names],
        )
    broker = Mosquitto(folder / "broker-stores", max_queued=1_000_000).start()
    procs = _workers(database, broker.url, 1, folder)
    socks: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    try:
        time.sleep(1.0)
        start = time.monotonic()
        for name in names:
            sock = _connect(broker.port, name, keepalive=20)
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
            socks.append(sock)
        connect_time = time.monotonic() - start

        def count(state: str) -> int:
            return db.count("agents", "state = ? AND store LIKE 'T%'", (state,))

        deadline = time.monotonic() + hold
        next_ping = time.monotonic() + 5
        while time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                try:
                    key.fileobj.recv(4096)  # PINGRESPs
                except OSError:
                    pass
            if time.monotonic() >= next_ping:
                for sock in socks:
                    sock.send(b"\xc0\x00")  # PINGREQ: the sessions stay alive past the keepalive
                next_ping = time.monotonic() + 5
        online = count("online")
        dropped = stores // 10
        for sock in socks[:dropped]:
            sel.unregister(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # a reset, no DISCONNECT: the broker publishes the last will
        end = time.monotonic() + 30
        while time.monotonic() < end and count("offline") < dropped:
            for sock in socks[dropped:]:
                try:
                    sock.send(b"\xc0\x00")
                except OSError:
                    pass
            time.sleep(1)
        return online, dropped, count("offline"), connect_time
    finally:
        for sock in socks:
            try:
                sock.close()
            except OSError:
                pass
        db.close()
        for proc in procs:
            proc.kill()
            proc.wait(10)
        broker.stop()


def _load() -> str:
    """The machine's load beside each figure (it is shared)."""
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def _cpu_line(events: int) -> str:
    """The CPU of the last burst run per kind of process: seconds, microseconds per event, share of the wall."""
    wall = LAST_CPU.get("wall", 0.0) or 1.0
    parts = [
        f"{role} {secs:.1f} s ({secs / events * 1e6:.0f} us/event, {secs / wall:.0%})"
        for role, secs in LAST_CPU.items()
        if role != "wall"
    ]
    return f"             CPU in {wall:.1f} s wall: " + "; ".join(parts)


def main(args: Any) -> None:
    admin = args.database
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    burst = args.burst
    print(f"bench/sync.py --database: burst of {burst:,} events from {len(STORES)} agents (applied and acked)")
    rate, lost, dups = _burst_run(str(folder / "central.sqlite"), 1, burst, folder)
    print(f"baseline   SQLite, 1 worker:          {rate:10,.0f} events/s   loss {lost}, duplicates {dups}   {_load()}")
    print(_cpu_line(burst))
    runs = [1] + ([args.workers] if args.workers > 1 else [])
    one = 0.0
    for workers in runs:
        url, name = _fresh_pg(admin)
        try:
            rate_pg, lost, dups = _burst_run(url, workers, burst, folder)
        finally:
            _drop_pg(admin, name)
        one = one or rate_pg
        versus = f", {rate_pg / one:.2f}x one worker" if workers > 1 else ""
        print(
            f"PostgreSQL, {workers} worker{'s' if workers > 1 else ' '}:       {rate_pg:10,.0f} events/s   "
            f"loss {lost}, duplicates {dups}   ({rate_pg / rate:.0%} of SQLite{versus})   {_load()}"
        )
        print(_cpu_line(burst))
    if args.stores:
        url, name = _fresh_pg(admin)
        try:
            online, dropped, offline, took = stores_run(url, args.stores, args.hold, folder)
        finally:
            _drop_pg(admin, name)
        print(
            f"stores     {args.stores:,} connected at once in {took:.1f} s, held {args.hold:.0f} s: "
            f"{online:,} online in the central database; {dropped} dropped without a goodbye -> "
            f"{offline} offline (last will) {'OK' if online == args.stores and offline == dropped else 'FAILED'}"
        )
