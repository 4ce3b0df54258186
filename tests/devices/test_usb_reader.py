"""UsbHidCardReader through pyusb on the simulated backend: HID POS and keyboard readers, unplugging."""

from __future__ import annotations

import queue

from agent.devices.readers import UsbHidCardReader
from firmware_sim import cards
from firmware_sim.usb_backend import HidPosScanner, KeyboardCardReader, SimUsbBackend

CARD = "7700000000000017"


def test_hidpos_scanner_and_keyboard_reader():
    scanner, swiper = HidPosScanner(), KeyboardCardReader()
    backend = SimUsbBackend([scanner, swiper])
    reads: queue.Queue = queue.Queue()
    readers = [
        UsbHidCardReader(0x0C2E, 0x0B8F, reads.put, "scanner", "hidpos", backend),
        UsbHidCardReader(0x0801, 0x0001, reads.put, "swiper", "keyboard", backend),
    ]
    for reader in readers:
        reader.start()
    try:
        assert all(r.wait_state("connected", 5) for r in readers)
        scanner.scan(CARD, "]C0")
        first = reads.get(timeout=5)
        swiper.swipe(cards.swipe_text(CARD, "12"))
        second = reads.get(timeout=5)
        scanner.scan("loyalty:" + "t" * 80, "]Q1")
        third = reads.get(timeout=5)
        scanner.scan("7700000000000018x", "]C0")  # not a card: discarded
        swiper.type_text("garbage\r")
        assert readers[0].wait_state("connected", 0.1)
    finally:
        for reader in readers:
            reader.stop()
    assert (first.reader_id, first.kind, first.number, first.symbology) == ("scanner", "barcode", CARD, "code128")
    assert (second.reader_id, second.kind, second.number) == ("swiper", "track", CARD)
    assert third.kind == "qr" and third.token == "loyalty:" + "t" * 80
    assert reads.empty()


def test_usb_reader_unplugged_and_plugged_back():
    scanner = HidPosScanner()
    backend = SimUsbBackend([scanner])
    reads: queue.Queue = queue.Queue()
    reader = UsbHidCardReader(0x0C2E, 0x0B8F, reads.put, backend=backend)
    reader.start()
    try:
        assert reader.wait_state("connected", 5)
        backend.unplug(scanner)
        assert reader.wait_state("disconnected", 5)
        backend.plug(scanner)
        assert reader.wait_state("connected", 10)
        scanner.scan(CARD, "]C0")
        assert reads.get(timeout=5).number == CARD
    finally:
        reader.stop()
    assert reader.stats.connects == 2


def test_absent_usb_reader_keeps_retrying():
    reader = UsbHidCardReader(0x0C2E, 0x0B8F, print, backend=SimUsbBackend([]))
    reader.start()
    try:
        assert reader.wait_state("disconnected", 5)
    finally:
        reader.stop()
    assert "not plugged in" in reader.stats.last_error
