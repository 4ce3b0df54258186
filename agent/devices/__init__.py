"""The store agent's card readers and receipt printers.

Seams to the rest of the agent (see docs/devices.md):

* ``readers.CardReader`` (``SerialCardReader``, ``UsbHidCardReader``) calls
  ``on_read(CardRead)`` for every valid read; ``CardRead.identify_body()`` is the
  ``POST /v1/identify`` body.
* ``printing.SlipPrinting`` takes a ``slip.SlipData`` per committed receipt
  (``submit``), never blocks or fails the caller, and prints through a durable
  ``print_queue.PrintQueue`` drained by a ``print_worker.PrintWorker``.
* ``config.DeviceSettings`` parses the ``reader_*``, ``printer_*`` and ``slip_*``
  settings (``config.DEVICE_SETTINGS``).
"""
