"""The store agent: POS API, cashier page, local SQLite, outbox, devices.

The package itself imports nothing, so ``loyalty-agent --help`` starts fast:
``agent.app.create_app`` builds the Flask app, ``agent.cli`` is the command
line, ``agent.version`` the version (docs/agent.md, Layout).
"""
