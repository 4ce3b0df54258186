"""Transport adapters shared by the store agent and the central server (MQTT)."""
