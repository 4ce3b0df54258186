"""Loyalty slips: what queueing a slip in the commit's transaction costs, and how soon it is on paper.

Three agent processes (``python -m agent serve``, waitress) in the same run,
each committing the same receipts from one sequential client: without a
printer (the baseline); with a printer configured but unplugged (every
commit queues its slip in its transaction, nothing prints: the cost of
queueing alone); and with the simulated printer on a pty (``loyalty-sim
printer --pty``), waiting for each slip before the next commit (the print
worker's own writes and CPU now share the agent with the commits). Prints
commit latency p50/p99 and the ratio to the baseline, and for the printing
agent the time from the commit's answer to the slip rendered by the
simulator, and slips per second.

    .venv/bin/python bench/slips.py [--receipts 300]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.testing import AgentProcess, card_number, prepare_agent, request  # noqa: E402
from bench.pos_api import percentile  # noqa: E402


def receipt(i: int) -> dict:
    return {
        "receipt_id": f"R-{i:06d}",
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "customer": {"card": card_number(i % 50)},
        "lines": [{"sku": "SKU-9", "name": "Ролл", "category": "ROLLS", "quantity": "1", "amount": 45000}],
    }


def commits(port: int, key: str, receipts: int, slips: Path | None) -> tuple[list[float], list[float]]:
    """Commit latencies, and (with ``slips``) the delay from each answer to its slip on paper."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, to_paper = [], []
    for i in range(receipts):
        t = time.perf_counter()
        status, _ = request(port, "POST", "/v1/receipts", receipt(i), key, conn=conn)
        answered = time.perf_counter()
        latencies.append(answered - t)
        assert status == 201
        if slips is not None:  # one slip at a time: the paper delay of each, not of a backlog
            wanted = slips / f"slip-{i + 1:04d}.txt"
            while not wanted.exists():
                time.sleep(0.0005)
            to_paper.append(time.perf_counter() - answered)
    conn.close()
    return latencies, to_paper


def run(receipts: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        plain = prepare_agent(base / "plain", customers=50)
        printer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "firmware_sim",
                "printer",
                "--pty",
                "--link",
                str(base / "printer"),
                "--out",
                str(base / "slips"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert printer.stdout is not None and printer.stdout.readline()
        printing = prepare_agent(
            base / "printing", customers=50, printer_kind="serial", printer_url=str(base / "printer")
        )
        unplugged = prepare_agent(
            base / "unplugged", customers=50, printer_kind="serial", printer_url=str(base / "no-printer-here")
        )
        results = {}
        with contextlib.ExitStack() as stack:
            stack.callback(printer.terminate)
            for name, prepared, slips in (
                ("no printer", plain, None),
                ("unplugged", unplugged, None),
                ("printing", printing, base / "slips"),
            ):
                agent = AgentProcess(prepared, log=base / f"{name}.log")
                agent.start()
                stack.callback(agent.kill)
                t = time.perf_counter()
                results[name] = commits(prepared.port, prepared.key, receipts, slips)
                results[name] += (time.perf_counter() - t,)
        baseline = statistics.median(results["no printer"][0])
        print(f"{receipts} commits of one customer receipt each, one sequential client, keep-alive:")
        print(f"{'agent':<12} {'commit p50 ms':>14} {'p99 ms':>8} {'p50 / baseline':>15}")
        for name, (latencies, _, _) in results.items():
            print(
                f"{name:<12} {percentile(latencies, 50) * 1e3:>14.2f} {percentile(latencies, 99) * 1e3:>8.2f} "
                f"{statistics.median(latencies) / baseline:>15.2f}"
            )
        latencies, to_paper, elapsed = results["printing"]
        print(
            f"commit answer -> slip rendered by the simulator (9600 baud pty, DLE EOT before and after): "
            f"p50 {percentile(to_paper, 50) * 1e3:.0f} ms, p99 {percentile(to_paper, 99) * 1e3:.0f} ms; "
            f"{receipts / elapsed:.1f} slips/s one after the other"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--receipts", type=int, default=300)
    args = parser.parse_args()
    run(args.receipts)


if __name__ == "__main__":
    main()
