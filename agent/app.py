"""The store agent's Flask app.

``create_app(config=None)`` builds it: it loads the configuration
(agent/config.py), opens and migrates the database (agent/store), builds the
service layer (agent/service.py) and registers every blueprint (agent/api).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask

from . import api, device_manager, i18n
from .config import Config, load_config
from .service import Service
from .store import Store
from .store.times import utcnow


@dataclass
class AgentApp:
    """What the app holds for its views: ``app.extensions["loyalty_agent"]``."""

    config: Any  # agent.config.Config
    store: Any  # agent.store.Store
    service: Any  # agent.service.Service


def create_app(config: Mapping[str, Any] | None = None, *, clock: Callable[[], dt.datetime] | None = None) -> Flask:
    """The agent's Flask app.

    :param config: a loaded :class:`agent.config.Config`; or a mapping of
        settings over the defaults (tests: no file, no environment); or None
        to load defaults -> TOML file -> environment.
    :param clock: the current time (tests); default: the system clock.
    """
    if isinstance(config, Config):
        cfg = config
    elif config is not None:
        cfg = load_config(path=None, env={}, overrides=config, use_file=False)
    else:
        cfg = load_config()
    logging.getLogger("loyalty").setLevel(cfg.log_level.upper())
    now = clock or utcnow
    store = Store(cfg.database, agent_id=cfg.effective_agent_id, clock=now)
    app = Flask("agent")  # the package: its folder is the root path, "agent" the logger name, as before
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["loyalty_agent"] = AgentApp(cfg, store, Service(store, cfg, now))
    i18n.init_app(app)
    device_manager.init_app(app)  # card reads -> identifications, operations -> slips (devices start with `serve`)
    api.init_app(app)
    return app
