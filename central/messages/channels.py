"""Every channel's adapter by name: the SMTP, HTTP gateway, cashier and Telegram adapters
(``adapters.py``) and Web Push (``push.py``, which builds on ``adapters.py``)."""

from __future__ import annotations

from typing import Any

from shared.errors import LoyaltyError

from . import adapters, push


def build(channel: str, settings: dict[str, Any], secrets: dict[str, str]) -> adapters.Adapter:
    """The adapter for a configured channel; :class:`adapters.ChannelSettingsError` for bad settings."""
    if channel == "push":
        return push.PushAdapter(settings, secrets)
    return adapters.build(channel, settings, secrets)


def check(channel: str, settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """The settings checked for ``channel`` (what is saved)."""
    if channel == "push":
        return push.check_push(settings, secrets)
    return adapters.check(channel, settings, secrets)


__all__ = ["LoyaltyError", "build", "check"]
