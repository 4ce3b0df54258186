"""The ingest's commits alone on PostgreSQL, 1 and 2 processes (docs/scale.md, "Two workers apply at once").

``bench/sync.py --database ... --workers 2`` measures the whole pipeline (agents, broker, workers); on a shared
machine its wall times move with the other processes. This one takes MQTT and the agents away: each process
calls ``commit_ingest`` with units of ``--batch`` purchases (the sync bench's: 4 stores, 200 customers each,
one line per receipt), 1 process for all four stores, then 2 processes for two stores each (as two workers
holding half the partitions), each on a fresh database. It reports events/s, the CPU seconds of each process
and of its PostgreSQL backend (/proc), and how a commit's wall time splits: before the tail section
(the customers' rows, lots, ledger entries, the register: beside the other commits), waiting for the tail
section, and in it (central/storage/write_lock.py).

    PYTHONPATH=. .venv/bin/python bench/pg_commits.py --database postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scale import _cpu, _drop_pg, _fresh_pg  # noqa: E402
from central.storage import write_lock  # noqa: E402
from central.storage.store import IngestUnit, Store  # noqa: E402
from tests.sync.fakes import FakeAgent  # noqa: E402

STORES = ["S1", "S2", "S3", "S4"]


def _setup(url: str) -> None:
    db = Store(url)
    for store in STORES:
        db.add_store(store, store)
        db.stream_state(store, "a1")
        agent = FakeAgent(store)
        events = [agent.registration(f"{store}-c{i}") for i in range(200)]
        db.commit_ingest(IngestUnit(events=events, pointers={(store, "a1"): (agent.seq, events[-1]["id"])}))
    db.close()


def _units(store: str, events: int, batch: int) -> list[IngestUnit]:
    agent = FakeAgent(store, start_seq=200)
    out = []
    for start in range(0, events, batch):
        chunk = [agent.purchase(f"{store}-c{i % 200}", accrued=100) for i in range(start, min(events, start + batch))]
        out.append(IngestUnit(events=chunk, pointers={(store, "a1"): (agent.seq, chunk[-1]["id"])}))
    return out


class _Timer:
    """Splits each commit's wall time: before the tail section, waiting for it, in it (to the commit's end)."""

    def __init__(self) -> None:
        self.before = self.wait = self.tail = 0.0
        self._start = self._asked = self._got = 0.0
        original = write_lock.serial_section

        def timed(conn: Any) -> None:
            entering = getattr(conn, "concurrent_write", False) and not conn.in_tail
            if entering:
                self._asked = time.perf_counter()
            original(conn)
            if entering:
                self._got = time.perf_counter()

        # the modules that call it took it by name
        from central.points import ledger as points_ledger
        from central.storage import ingest as storage_ingest

        points_ledger.serial_section = timed  # type: ignore[assignment]
        storage_ingest.serial_section = timed  # type: ignore[assignment]

    def commit(self, db: Store, unit: IngestUnit) -> None:
        self._start = time.perf_counter()
        self._asked = self._got = 0.0
        db.commit_ingest(unit)
        end = time.perf_counter()
        if self._got:
            self.before += self._asked - self._start
            self.wait += self._got - self._asked
            self.tail += end - self._got
        else:
            self.tail += end - self._start


def _worker(url: str, stores: list[str], events: int, batch: int, go: Any, out: Any) -> None:
    units = [u for store in stores for u in _units(store, events, batch)]
    units.sort(key=lambda u: u.events[0]["seq"])  # the stores' units interleaved, as they arrive
    db = Store(url)
    backend = int(db.conn.execute("SELECT pg_backend_pid()").fetchone()[0])
    timer = _Timer()
    go.wait()
    cpu0, bcpu0, t0 = time.process_time(), _cpu(backend), time.perf_counter()
    for unit in units:
        timer.commit(db, unit)
    wall = time.perf_counter() - t0
    out.put(
        {
            "events": sum(len(u.events) for u in units),
            "wall": wall,
            "cpu": time.process_time() - cpu0,
            "backend": _cpu(backend) - bcpu0,
            "before": timer.before,
            "wait": timer.wait,
            "tail": timer.tail,
            "retries": db.ingest_retries,
        }
    )
    db.close()


def run(admin: str, processes: int, events: int, batch: int) -> dict[str, Any]:
    url, name = _fresh_pg(admin)
    try:
        _setup(url)
        ctx = mp.get_context("spawn")
        go, out = ctx.Event(), ctx.Queue()
        share = [STORES[i::processes] for i in range(processes)]
        procs = [ctx.Process(target=_worker, args=(url, s, events, batch, go, out)) for s in share]
        for p in procs:
            p.start()
        time.sleep(3)  # each builds its units and connects
        start = time.perf_counter()
        go.set()
        results = [out.get(timeout=900) for _ in procs]
        wall = time.perf_counter() - start
        for p in procs:
            p.join(30)
        return {"wall": wall, "results": results}
    finally:
        _drop_pg(admin, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="a PostgreSQL server's URL (a database is made and dropped)")
    parser.add_argument("--events", type=int, default=10_000, help="purchases per store (4 stores)")
    parser.add_argument("--batch", type=int, default=2_000, help="events per commit")
    args = parser.parse_args()
    total = args.events * len(STORES)
    load = os.getloadavg()[0]
    print(f"commit_ingest on PostgreSQL: {total:,} purchases in units of {args.batch:,} (load {load:.1f})")
    one = 0.0
    for processes in (1, 2):
        got = run(args.database, processes, args.events, args.batch)
        rate = total / got["wall"]
        one = one or rate
        print(
            f"{processes} process{'es' if processes > 1 else '  '}: {rate:8,.0f} events/s"
            + (f" ({rate / one:.2f}x one)" if processes > 1 else "")
            + f" in {got['wall']:.1f} s, load {os.getloadavg()[0]:.1f}"
        )
        for i, r in enumerate(got["results"]):
            n = r["events"]
            print(
                f"   process {i + 1}: CPU {r['cpu']:.1f} s ({r['cpu'] / n * 1e6:.0f} us/event), its backend "
                f"{r['backend']:.1f} s ({r['backend'] / n * 1e6:.0f} us/event); commit wall: before the tail "
                f"{r['before']:.1f} s, waiting for it {r['wait']:.1f} s, in it {r['tail']:.1f} s; "
                f"retried alone {r['retries']}"
            )


if __name__ == "__main__":
    main()
