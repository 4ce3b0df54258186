"""Multi-step triggers (marketing.md, Triggers; docs/triggers.md).

Pure scenario logic, no I/O: ``definition`` (a trigger document parsed and checked),
``conditions`` (a step's conditions for one customer now, and why), ``hours`` (firing hours
in the owner store's local time), ``scenario`` (a customer's run: step transitions, pause,
periods, step back, full restart, limits and the queue). The durable engine is
``central/marketing/trigger_engine.py``; its SQL lives in ``central/storage/triggers.py``.
"""
