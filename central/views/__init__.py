"""Blueprints of the central web app, split by area (the console's come later)."""
