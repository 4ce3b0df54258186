"""transport/mqtt.py under load from several threads: one writer on the socket at a time."""

from __future__ import annotations

import threading

from tests.polling import wait_for

from .clients import Listener


def test_big_and_small_publishes_from_several_threads_never_interleave_on_the_socket(mosquitto):
    # paho run by our own loop (not loop_start) wrote from the publishing thread too: a small message
    # published while the link thread was still sending a big one went out in the middle of its bytes,
    # and the broker dropped the connection ("malformed packet") for seconds (a snapshot page, acks)
    receiver = Listener(mosquitto.url, ["t/#"], "receiver")
    sender = Listener(mosquitto.url, [], "sender")
    big = b"x" * 8_000_000

    def small() -> None:
        for n in range(40):
            sender.link.publish(f"t/small/{n}", b"y")

    for _ in range(10):
        sender.link.publish("t/big", big)
        threads = [threading.Thread(target=small) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # fewer than Mosquitto's max_queued_messages (1000) behind the receiver, which drops the rest
    assert wait_for(lambda: len(receiver.messages) == 10 + 10 * 2 * 40, 20), len(receiver.messages)
    assert sender.link.connects == 1 and "malformed" not in mosquitto.log_text()
    receiver.stop()
    sender.stop()
