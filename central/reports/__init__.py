"""Reports (room ready, empty for now): the head office's reports and their exports move in here
(today's console report queries live in central/services/reports.py; docs/architecture.md)."""
