"""Who may do what in the console: roles, permissions and store scope, checked in the service layer.

Every service function takes the :class:`Actor` first and checks it before
touching anything; views and templates only *hide* what the actor may not
do, they never decide it. A store manager sees only the stores assigned to
them: their customers, their receipts and their rule sets. Which customers
are theirs is the ``STORE_MANAGER_SCOPE`` setting (:attr:`Actor.scope`):
``home`` -- registered at one of their stores; ``shopped`` (the default) --
also those who bought at one of them, whom they may see but not change
(:meth:`Actor.require_home`). Reaching anything else -- by URL too -- is
:class:`Forbidden` for an object in another store's scope, and
:class:`~central.storage.store.NotFound` is never used to hide it (the console says
"not yours", which is what a manager needs to know).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.errors import LoyaltyError

ADMIN, MARKETER, STORE_MANAGER, VIEWER = "admin", "marketer", "store_manager", "viewer"
ROLES = (ADMIN, MARKETER, STORE_MANAGER, VIEWER)

#: what each role may do; "*.read" style names, checked by :meth:`Actor.require`
_READ = {"customers.read", "cards.read", "rules.read", "transactions.read", "stores.read", "export"}
PERMISSIONS: dict[str, frozenset[str]] = {
    ADMIN: frozenset(
        _READ
        | {
            "customers.write",
            "cards.write",
            "cards.manage",
            "rules.write",
            "levels.write",
            "programs.write",
            "fields.write",
            "import",
            "stores.write",
            "users.manage",
            "audit.read",
            "sync.resolve",
            "tokens.manage",
            "messages.channels",
            "messages.write",
            "messages.send",
        }
    ),
    MARKETER: frozenset(
        _READ
        | {
            "customers.write",
            "cards.write",
            "cards.manage",
            "rules.write",
            "levels.write",
            "programs.write",
            "fields.write",
            "import",
            "audit.read",
            "messages.write",
            "messages.send",
        }
    ),
    STORE_MANAGER: frozenset(_READ | {"customers.write", "cards.write", "rules.write"}),
    VIEWER: frozenset(_READ),
}


class Forbidden(LoyaltyError):
    """The actor's role or store scope does not allow this."""

    code = "forbidden"
    status = 403


class FormError(LoyaltyError, ValueError):
    """A form's input is wrong; ``errors`` maps each form field to its message. Nothing was changed."""

    code = "validation_error"
    status = 422

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "errors": self.errors}


class BadQuery(FormError):
    """A page's query parameter cannot be read (a broken page link, a search with control characters): 400."""

    code = "bad_request"
    status = 400


@dataclass(frozen=True)
class Actor:
    """A signed-in console user (or the command line, which acts as an administrator)."""

    id: int | None
    username: str
    role: str
    stores: frozenset[str] = frozenset()
    #: a store manager's customers: "home" (registered at their stores) or "shopped" (bought there too, read-only)
    scope: str = "shopped"

    @property
    def scoped(self) -> bool:
        """Limited to assigned stores (a store manager)."""
        return self.role == STORE_MANAGER

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    def require(self, permission: str) -> None:
        """:class:`Forbidden` unless the role has ``permission``."""
        if not self.can(permission):
            raise Forbidden(f"{self.username} ({self.role}) may not do this ({permission})")

    def require_store(self, store: str | None) -> None:
        """:class:`Forbidden` if a store manager reaches outside their stores."""
        if self.scoped and store not in self.stores:
            raise Forbidden(f"store {store} is not assigned to {self.username}")

    def require_home(self, home_store: str | None, what: str) -> None:
        """:class:`Forbidden` if a store manager changes a customer registered at another store."""
        if self.scoped and home_store not in self.stores:
            raise Forbidden(
                f"{what} is registered at store {home_store}, not at {', '.join(sorted(self.stores))}:"
                " a store manager may see but not change it"
            )

    def require_stores(self, stores: Iterable[str | None]) -> None:
        for store in stores:
            self.require_store(store)

    def visible_stores(self, all_stores: Iterable[str]) -> list[str]:
        """The stores this actor may see, in the order given."""
        return [s for s in all_stores if not self.scoped or s in self.stores]


#: the command line (users add, import, nightly): every permission, no scope
SYSTEM = Actor(None, "system", ADMIN)
