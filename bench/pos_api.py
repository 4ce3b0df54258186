"""POS API benchmark: quote + commit of 10-line receipts over real HTTP on loopback.

One agent process (``python -m agent serve``, waitress) with 100,000
customers; the load comes from separate client processes. Prints:

* latency p50/p99 of ``GET /v1/health`` (the baseline: HTTP + auth-free
  Flask round trip on this machine, measured in the same run),
  ``POST /v1/receipts/quote`` and ``POST /v1/receipts`` from one sequential
  client, and their ratio to the baseline;
* commits per second with several concurrent clients;
* the agent's resident memory after the run.

Goals (issue 3): p99 <= 10 ms, >= 500 commits/s, RSS <= 100 MB.

    .venv/bin/python bench/pos_api.py [--customers 100000] [--receipts 2000] [--seconds 10] [--clients 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.testing import AgentProcess, card_number, prepare_agent, request  # noqa: E402

LINES = 10
CATEGORIES = ["SUSHI", "ROLLS", "DRINKS", "TOBACCO", "BIZLUNCH", None]


def make_receipt(rng: random.Random, receipt_id: str | None, customers: int, redeem: bool, codes: bool = False) -> dict:
    lines = []
    for _ in range(LINES):
        quantity = rng.randint(1, 3)
        price = rng.randint(50, 2000) * 100
        lines.append(
            {
                "sku": f"SKU-{rng.randint(1, 5000)}",
                "name": "Товар",
                "category": rng.choice(CATEGORIES),
                "quantity": str(quantity),
                "price": price,
                "amount": price * quantity,
            }
        )
    body = {
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "customer": {"card": card_number(rng.randrange(customers))},
        "lines": lines,
        "redeem": rng.randint(1, 50) * 100 if redeem else 0,
    }
    if receipt_id:
        body["receipt_id"] = receipt_id
    if codes:  # a multi-use code of bench/promotions.py's list (the 20 promotions are installed)
        from bench.promotions import code

        body["promo_codes"] = [code()]
    return body


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def sequential_client(port: int, key: str, customers: int, receipts: int, out: mp.Queue, codes: bool = False) -> None:
    """One till: health baseline, then quote + commit per receipt, each timed."""
    rng = random.Random(1)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    timings: dict[str, list[float]] = {"health": [], "quote": [], "commit": []}
    for _ in range(receipts):
        t = time.perf_counter()
        status, _ = request(port, "GET", "/v1/health", None, None, conn=conn)
        timings["health"].append(time.perf_counter() - t)
        assert status == 200
    for i in range(receipts):
        body = make_receipt(rng, f"SEQ-{i:06d}", customers, redeem=i % 3 == 0, codes=codes)
        t = time.perf_counter()
        status, answer = request(port, "POST", "/v1/receipts/quote", body, key, conn=conn)
        timings["quote"].append(time.perf_counter() - t)
        assert status == 200, answer
        t = time.perf_counter()
        status, answer = request(port, "POST", "/v1/receipts", body, key, conn=conn)
        timings["commit"].append(time.perf_counter() - t)
        assert status == 201, answer
    conn.close()
    out.put(timings)


def load_client(
    port: int, key: str, customers: int, seconds: float, n: int, out: mp.Queue, codes: bool = False
) -> None:
    """A till committing as fast as the agent answers, for ``seconds``."""
    rng = random.Random(100 + n)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    # bodies encoded up front, so that the clients take as little of the machine's CPU as they can
    payloads = [
        json.dumps(make_receipt(rng, f"LOAD-{n}-{j:07d}", customers, redeem=j % 3 == 0, codes=codes)).encode()
        for j in range(int(seconds * 2000))
    ]
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and done < len(payloads):
        conn.request("POST", "/v1/receipts", body=payloads[done], headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 201, response.status
        done += 1
    conn.close()
    out.put(done)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(customers: int, receipts: int, seconds: float, clients: int, promotions: bool = False) -> None:
    from shared import accrual

    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        prepared = prepare_agent(Path(folder) / "agent", customers=customers, points=500_000)
        print(f"prepared {customers} customers in {time.perf_counter() - t:.1f} s; calculator engine: {accrual.ENGINE}")
        if promotions:
            from agent.store import Store
            from bench.promotions import twenty

            store = Store(prepared.database)
            store.set_promotions(twenty())
            store.close()
            print("20 promotions installed (bench/promotions.py); every receipt carries a promo code")
        agent = AgentProcess(prepared, log=Path(folder) / "agent.log")
        agent.start()
        try:
            ctx = mp.get_context("spawn")
            out: mp.Queue = ctx.Queue()
            proc = ctx.Process(
                target=sequential_client, args=(prepared.port, prepared.key, customers, receipts, out, promotions)
            )
            proc.start()
            timings = out.get()
            proc.join()
            base = statistics.median(timings["health"])
            print(f"\nsequential, one client, {receipts} receipts of {LINES} lines (keep-alive):")
            print(f"{'request':<10} {'p50 ms':>8} {'p99 ms':>8} {'p50 / health':>13}")
            for name, values in timings.items():
                p50, p99 = percentile(values, 50), percentile(values, 99)
                print(f"{name:<10} {p50 * 1e3:>8.2f} {p99 * 1e3:>8.2f} {p50 / base:>13.1f}")
            pair = [q + c for q, c in zip(timings["quote"], timings["commit"], strict=True)]
            print(
                f"quote+commit p50 {percentile(pair, 50) * 1e3:.2f} ms, p99 {percentile(pair, 99) * 1e3:.2f} ms; "
                f"sequential commits/s (quote+commit pairs): {len(pair) / sum(pair):.0f}"
            )

            procs = [
                ctx.Process(
                    target=load_client, args=(prepared.port, prepared.key, customers, seconds, n, out, promotions)
                )
                for n in range(clients)
            ]
            for p in procs:
                p.start()
            time.sleep(min(3.0, 0.2 + seconds * 0.05))  # let the clients encode their bodies first
            cpu, t = cpu_seconds(agent.pid), time.perf_counter()
            total = sum(out.get() for _ in procs)
            elapsed = time.perf_counter() - t
            cpu = cpu_seconds(agent.pid) - cpu
            for p in procs:
                p.join()
            print(
                f"\nload: {clients} concurrent clients, commits only, {seconds:.0f} s: "
                f"{total} commits, {total / elapsed:.0f} commits/s"
            )
            print(
                f"agent CPU per commit: {cpu / total * 1e3:.2f} ms "
                f"(one core's worth: {total / cpu:.0f} commits/s); agent used {cpu / elapsed:.0%} of a core"
            )
            rss = agent.rss_kib()
            print(f"agent resident memory after the run: {rss / 1024:.1f} MiB")
            print("\ngoals: p99 <= 10 ms, >= 500 commits/s, RSS <= 100 MB")
        finally:
            agent.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--receipts", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--clients",
        type=int,
        default=2,
        help="concurrent load clients (each one is a process that shares the CPU with the agent)",
    )
    parser.add_argument(
        "--promotions", action="store_true", help="the 20 promotions of bench/promotions.py, with codes"
    )
    args = parser.parse_args()
    run(args.customers, args.receipts, args.seconds, args.clients, args.promotions)


if __name__ == "__main__":
    main()
