"""The print worker with the printer simulator: a printer fault never loses a slip."""

from __future__ import annotations

from agent.devices.print_queue import StorePrintQueue
from agent.devices.print_worker import PrintWorker
from agent.devices.printers import EscposPrinter
from firmware_sim.control import send_command
from tests.firmware_sim.procs import slip_texts
from tests.polling import wait_for


def make_worker(agent_store, pty_path, statuses=None) -> PrintWorker:  # type: ignore[no-untyped-def]
    worker = PrintWorker(
        StorePrintQueue(agent_store),
        EscposPrinter.serial(pty_path, status_timeout=0.5),
        on_status=statuses.append if statuses is not None else None,
    )
    worker.backoff_min, worker.backoff_max = 0.1, 0.5
    return worker


def test_paper_out_during_printing_keeps_the_slip_queued_until_paper_is_back(printer_sim, agent_store, slip):
    pty_path, _, _, control, out = printer_sim
    statuses: list[str | None] = []
    worker = make_worker(agent_store, pty_path, statuses)
    send_command(control, "paper-out-after 5")
    worker.start()
    try:
        job = worker.submit(slip)  # returns at once: the commit is never held up by the printer
        assert job.status == "pending"
        assert wait_for(lambda: worker.queue.get(slip.slip_id).attempts >= 2)
        assert worker.queue.get(slip.slip_id).status == "pending" and slip_texts(out) == []
        assert slip_texts(out, partial=True)  # the interrupted half slip
        send_command(control, "paper ok")
        assert wait_for(lambda: worker.queue.get(slip.slip_id).status == "printed")
    finally:
        worker.stop()
    (text,) = slip_texts(out)
    assert "Начислено баллов                    101,25" in text and "1 234,56" in text and "КОПИЯ" not in text
    assert statuses == ["paper_out", None]


def test_unreachable_printer_then_reprint_as_copy(printer_sim, agent_store, slip, tmp_path):
    pty_path, _, _, _, out = printer_sim
    worker = PrintWorker(StorePrintQueue(agent_store), EscposPrinter.serial(str(tmp_path / "not-yet")))
    worker.backoff_min = 0.05
    worker.start()
    try:
        worker.submit(slip)
        assert wait_for(lambda: worker.queue.get(slip.slip_id).last_reason == "printer_unreachable")
        (tmp_path / "not-yet").symlink_to(pty_path)  # the printer is plugged in
        assert wait_for(lambda: worker.queue.get(slip.slip_id).status == "printed")
        worker.reprint(slip.slip_id)
        assert wait_for(lambda: len(slip_texts(out)) == 2)
    finally:
        worker.stop()
    first, copy = slip_texts(out)
    assert "КОПИЯ" not in first and copy.lstrip().startswith("КОПИЯ")
    assert worker.queue.get(slip.slip_id).prints == 2


def test_a_slip_that_cannot_be_laid_out_is_retired_not_retried(printer_sim, agent_store):
    worker = make_worker(agent_store, printer_sim[0])
    worker.queue.enqueue("broken", {"store_name": "x"})
    worker.queue.enqueue("test", {"store_name": "Тест", "at": "2026-11-21T17:30:00+03:00"}, kind="test")
    assert worker.drain_once() is True and worker.queue.get("broken").status == "failed"
    assert worker.drain_once() is True and worker.queue.get("test").status == "printed"
    assert worker.drain_once() is None
    (text,) = wait_for(lambda: slip_texts(printer_sim[4]))
    assert "Проверка принтера" in text


def test_new_slips_do_not_hammer_a_failing_printer_but_a_reprint_tries_at_once(agent_store, slip, tmp_path):
    worker = PrintWorker(StorePrintQueue(agent_store), EscposPrinter.serial(str(tmp_path / "unplugged")))
    worker.backoff_min = worker.backoff_max = 30.0  # after the first failure, the next retry is far away
    worker.start()
    try:
        worker.submit(slip)
        assert wait_for(lambda: worker.queue.get(slip.slip_id).attempts == 1)
        for n in range(20):  # a busy till keeps committing while the printer is away
            worker.queue.enqueue(f"R{n}", slip.to_json())
            worker.wake()
        assert worker.queue.get(slip.slip_id).attempts == 1 and worker.state == "printer_unreachable"
        worker.reprint(slip.slip_id)  # the cashier asks: try now
        assert wait_for(lambda: worker.queue.get(slip.slip_id).attempts == 2)
    finally:
        worker.stop()
