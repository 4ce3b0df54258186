"""Messages to customers: the pure domain (no I/O) -- templates, consent rules, quiet hours, signing.

* :mod:`.templates` renders a template per channel and language in Jinja2's sandbox from an
  explicit :class:`~.templates.Variables` object (no loops, no method calls, bounded output).
* :mod:`.rules` decides who may get what: consent per channel, marketing vs service messages,
  quiet hours in the customer's home store's time zone, the frequency cap, addresses.
* :mod:`.tokens` signs unsubscribe links so they cannot be forged.

Storage lives in ``central/storage/messages.py``, the sender and its channel adapters in
:mod:`.sender` and :mod:`.adapters`, the console's service API in ``central/services/messages.py``.
See docs/messages.md.
"""
