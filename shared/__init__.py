"""Pure domain logic of loyalty-edge: no I/O here (see shared/README.md)."""
