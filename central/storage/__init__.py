"""The central database: connection, transactions, migrations, one query module per job, the clock.

The only room of central/ that speaks SQL to the database's tables for the sync and the
server (``store.Store``); the console's services run their own reporting queries through
``Store.rows``. ``db`` gives each web request its own connection.
"""
