"""The agent's version: the installed distribution's, or 0.0.0 in a source tree without an install."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loyalty-edge")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
