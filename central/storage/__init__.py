"""The central database: connection, transactions, migrations, one query module per job, the clock.

The room of central/ that speaks SQL to the database's tables (``store.Store``), for the sync,
the server and the console's services (those not yet moved still run their own queries through
``Store.rows``: tests/test_architecture.py lists the clean ones). ``db`` gives each web request
its own connection.
"""
