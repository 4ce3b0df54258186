"""The sync side of the central server: MQTT ingest, restore recovery, customer deltas,
the publisher of rule sets and messages, the broker's configuration and the embedded broker."""
