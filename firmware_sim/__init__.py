"""Simulated hardware (card readers, receipt printers) that speaks the real bytes."""
