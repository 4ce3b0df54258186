"""The store agent's card readers and receipt printers: the drivers.

Seams to the rest of the agent (``agent/device_manager.py`` runs them; see docs/devices.md):

* ``readers.CardReader`` (``SerialCardReader``, ``UsbHidCardReader``) calls
  ``on_read(CardRead)`` for every valid read; ``CardRead.identify_body()`` is the
  ``POST /v1/identify`` body.
* ``print_worker.PrintWorker`` drains the durable ``print_queue.PrintQueue``
  (table ``print_jobs`` of the agent's database) into a ``printers.ReceiptPrinter``;
  the service queues ``slip_layout.SlipData`` in the transaction of the receipt.
* ``settings`` checks the agent's ``reader_*``, ``printer_*`` and ``slip_*``
  settings and types them as ``DeviceSettings``
  (``agent.config.load_device_settings``); ``wiring`` builds the devices.
"""
