"""SIGKILL the real agent process at random moments of a stream of commits, 24 times.

After each kill the database is opened as the restarted agent would open it,
and must show: every receipt that got a 2xx present exactly once, none
half-written (lines, per-line allocation, effects and outbox event all there
or nothing), balances equal to the sum of the ledger, outbox seq without gaps.
Requests cut off by the kill have an unknown outcome: they are retried after
the restart with the same body and must then succeed exactly once (2xx, one
receipt), which is the till's way to recover.
"""

from __future__ import annotations

import datetime as dt
import http.client
import random
import threading
import time

import pytest

from agent.store import Store
from agent.testing import AgentProcess, card_number, prepare_agent, request

KILLS = 24
CLIENTS = 4
CUSTOMERS = 20
POINTS = 1_000_000
LINES = 3

pytestmark = pytest.mark.slow


def make_receipt(rng: random.Random, receipt_id: str, customers: int = CUSTOMERS) -> dict:
    lines = [
        {"sku": f"SKU-{rng.randint(1, 50)}", "quantity": "1", "amount": rng.randint(1000, 30000)} for _ in range(LINES)
    ]
    total = sum(line["amount"] for line in lines)
    return {
        "receipt_id": receipt_id,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "customer": {"card": card_number(rng.randrange(customers))},
        "lines": lines,
        "redeem": rng.choice([0, 0, total // 20]),
    }


class Stream:
    """Clients committing receipts until the agent dies; records what got a 2xx and what is unknown."""

    def __init__(self, port: int, key: str, cycle: int, rng: random.Random) -> None:
        self.port, self.key, self.cycle, self.rng = port, key, cycle, rng
        self.acked: dict[str, dict] = {}
        self.unknown: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def client(self, n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            self.commit_until_stopped(n, conn)
        finally:
            conn.close()

    def commit_until_stopped(self, n: int, conn: http.client.HTTPConnection) -> None:
        i = 0
        while not self.stop.is_set():
            receipt_id = f"K{self.cycle:02d}-{n}-{i:05d}"
            with self.lock:
                body = make_receipt(self.rng, receipt_id)
            i += 1
            try:
                status, answer = request(self.port, "POST", "/v1/receipts", body, self.key, conn=conn)
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.unknown[receipt_id] = body
                return
            assert status == 201, answer
            with self.lock:
                self.acked[receipt_id] = {"body": body, "answer": answer}

    def run_until_killed(self, agent: AgentProcess, after: float) -> None:
        threads = [threading.Thread(target=self.client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(after)
        agent.kill()
        self.stop.set()
        for t in threads:
            t.join(timeout=30)


def check_database(path, acked: dict[str, dict]) -> set[str]:
    """The invariants after a crash; returns the receipt ids in the database."""
    store = Store(path, agent_id="S001-1")
    try:
        assert store.integrity_check() == ["ok"]
        with store.read() as tx:
            receipts = {r["receipt_id"]: r for r in tx.c.execute("SELECT * FROM receipts").fetchall()}
            seqs = [r[0] for r in tx.c.execute("SELECT seq FROM outbox ORDER BY seq").fetchall()]
            assert seqs == list(range(1, len(seqs) + 1)), "outbox seq has a gap"
            outbox = {e.seq: e for e in tx.outbox_batch(0, 10**9)}
            for receipt_id, done in acked.items():
                row = receipts.get(receipt_id)
                assert row is not None, f"acknowledged receipt {receipt_id} is missing"
                assert (row["accrued"], row["redeemed"]) == (done["answer"]["accrued"], done["answer"]["redeemed"])
            for receipt_id, row in receipts.items():
                lines = tx.receipt_lines(receipt_id)
                assert len(lines) == LINES, f"{receipt_id} is half-written"
                assert sum(line["accrued"] for line in lines) == row["accrued"]
                assert sum(line["redeemed"] for line in lines) == row["redeemed"]
                event = outbox[row["seq"]]
                assert event.kind == "purchase" and event.body["receipt_id"] == receipt_id
                effects = tx.c.execute(
                    "SELECT COALESCE(SUM(points), 0) FROM effects WHERE seq = ?", (row["seq"],)
                ).fetchone()[0]
                assert effects == row["accrued"] - row["redeemed"]
            assert len(outbox) == len(receipts)  # one event per receipt, nothing else
            now = dt.datetime.now(dt.UTC)
            for i in range(CUSTOMERS):
                customer_id = f"c{i:07d}"
                expected = POINTS + sum(
                    r["accrued"] - r["redeemed"] for r in receipts.values() if r["customer_id"] == customer_id
                )
                assert tx.ledger_sum(customer_id) == expected
                assert tx.balance(tx.customer(customer_id), now).balance == expected
        return set(receipts)
    finally:
        store.close()


def test_sigkill_during_commits_loses_nothing_acknowledged(tmp_path):
    rng = random.Random(20261124)
    prepared = prepare_agent(tmp_path / "agent", customers=CUSTOMERS, points=POINTS)
    agent = AgentProcess(prepared, log=tmp_path / "agent.log")
    acked: dict[str, dict] = {}
    unknown: dict[str, dict] = {}
    retried = 0
    for cycle in range(KILLS):
        try:
            agent.start()
        except RuntimeError:
            raise AssertionError((tmp_path / "agent.log").read_text()) from None
        # the till retries what it did not hear back about: same body, same receipt_id
        for receipt_id, body in list(unknown.items()):
            status, answer = request(prepared.port, "POST", "/v1/receipts", body, prepared.key)
            assert status == 201, answer
            acked[receipt_id] = {"body": body, "answer": answer}
            del unknown[receipt_id]
            retried += 1
        stream = Stream(prepared.port, prepared.key, cycle, rng)
        stream.run_until_killed(agent, after=rng.uniform(0.05, 0.6))
        acked.update(stream.acked)
        unknown.update(stream.unknown)
        present = check_database(prepared.database, acked)
        # an unknown outcome is all or nothing: committed whole, or not at all
        assert all(rid in present or rid not in acked for rid in unknown)
    assert len(acked) > KILLS * 5, f"too few commits to mean anything ({len(acked)})"
    print(f"{KILLS} kills, {len(acked)} acknowledged commits, {retried} retried after a kill")


def test_sigterm_stops_cleanly_and_restart_serves_the_same_data(tmp_path):
    import signal

    prepared = prepare_agent(tmp_path / "agent", customers=2)
    agent = AgentProcess(prepared, log=tmp_path / "agent.log")
    agent.start()
    body = make_receipt(random.Random(1), "T-1", customers=2)
    status, first = request(prepared.port, "POST", "/v1/receipts", body, prepared.key)
    assert status == 201
    agent.kill(signal.SIGTERM)
    assert agent.proc.returncode == 0
    agent.start()
    try:
        assert request(prepared.port, "POST", "/v1/receipts", body, prepared.key) == (201, first)
        status, health = request(prepared.port, "GET", "/v1/health", None, None)
        assert health["outbox_depth"] == 1
    finally:
        agent.kill()
