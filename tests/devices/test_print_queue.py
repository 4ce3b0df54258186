"""The SQLite print queue: durable, idempotent, ordered, joins the caller's transaction."""

from __future__ import annotations

import pytest
import sqlite_utils

from agent.devices.errors import SlipNotFound
from agent.devices.print_queue import SqlitePrintQueue


@pytest.fixture
def queue(queue_db):
    return SqlitePrintQueue(queue_db)


def test_fifo_and_idempotent_enqueue(queue):
    first = queue.enqueue("R1", {"n": 1})
    queue.enqueue("R2", {"n": 2})
    again = queue.enqueue("R1", {"n": "changed"})
    assert again.id == first.id and again.payload == {"n": 1}
    assert queue.next().slip_id == "R1" and queue.pending_count() == 2
    queue.mark_printed(first.id)
    assert queue.next().slip_id == "R2" and queue.get("R1").prints == 1 and queue.get("R1").printed_at


def test_failed_attempts_keep_the_job_pending(queue):
    job = queue.enqueue("R1", {})
    queue.mark_failed(job.id, "paper_out", "printer serial /dev/pts/3: paper out")
    queue.mark_failed(job.id, "cover_open", "cover open")
    job = queue.get("R1")
    assert (job.status, job.attempts, job.last_reason) == ("pending", 2, "cover_open")
    queue.mark_failed(job.id, "bad_slip", "no store name", final=True)
    assert queue.get("R1").status == "failed" and queue.next() is None


def test_reprint(queue):
    job = queue.enqueue("R1", {})
    queue.mark_printed(job.id)
    assert queue.next() is None
    assert queue.reprint("R1").status == "pending" and queue.next().prints == 1
    with pytest.raises(SlipNotFound) as caught:
        queue.reprint("nope")
    assert caught.value.to_dict()["code"] == "slip_not_found"


def test_printers_have_separate_queues(queue):
    queue.enqueue("R1", {}, printer="till-2")
    assert queue.next() is None and queue.next("till-2").slip_id == "R1"


def test_enqueue_inside_the_callers_transaction_is_atomic(queue_db, queue):
    conn = queue_db.conn
    conn.execute("CREATE TABLE receipts (id TEXT PRIMARY KEY)")
    conn.execute("INSERT INTO receipts VALUES ('R1')")  # opens the caller's transaction
    queue.enqueue("R1", {"n": 1})
    conn.rollback()  # the commit of the receipt failed: the slip goes too
    assert queue.get("R1") is None
    conn.execute("INSERT INTO receipts VALUES ('R2')")
    queue.enqueue("R2", {"n": 2})
    conn.commit()
    assert queue.get("R2") is not None


def test_the_queue_survives_a_reopen(tmp_path):
    path = tmp_path / "agent.db"
    SqlitePrintQueue(sqlite_utils.Database(path)).enqueue("R1", {"n": 1})
    reopened = SqlitePrintQueue(sqlite_utils.Database(path))
    assert reopened.next().payload == {"n": 1}
    assert set(reopened.db["print_jobs"].columns_dict) >= {"slip_id", "payload", "status", "attempts", "prints"}
