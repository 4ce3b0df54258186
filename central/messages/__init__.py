"""Messages to customers (room ready, empty for now): campaigns and their delivery move in here
(docs/architecture.md)."""
