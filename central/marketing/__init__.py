"""Marketing tools (room ready, empty for now): customer segments, RFM analysis, triggers,
promotions and promo codes move in here (docs/architecture.md)."""
