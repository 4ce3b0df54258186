"""The print queue in the agent's database: durable, idempotent, ordered, atomic with the receipt."""

from __future__ import annotations

import pytest

from agent.devices.errors import SlipNotFound
from agent.devices.print_queue import StorePrintQueue
from agent.store import Store


@pytest.fixture
def queue(agent_store):
    return StorePrintQueue(agent_store)


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


def test_enqueue_inside_the_receipts_transaction_is_atomic(agent_store, queue):
    with pytest.raises(RuntimeError), agent_store.write() as tx:
        tx.enqueue_print_job("R1", {"n": 1}, "loyalty_slip", "default", agent_store.clock())
        raise RuntimeError("the commit of the receipt failed")  # rolls back: the slip goes too
    assert queue.get("R1") is None
    with agent_store.write() as tx:
        assert tx.enqueue_print_job("R2", {"n": 2}, "loyalty_slip", "default", agent_store.clock())
    assert queue.get("R2") is not None


def test_the_queue_survives_a_reopen(tmp_path):
    path = tmp_path / "agent.sqlite"
    store = Store(path)
    StorePrintQueue(store).enqueue("R1", {"n": 1})
    store.close()
    reopened = Store(path)
    try:
        assert StorePrintQueue(reopened).next().payload == {"n": 1}
    finally:
        reopened.close()
