"""Channel secrets at rest: AES-256-GCM with a key kept in a file beside the database (the instance folder).

The database alone (a copied file, a backup, a dump) does not give the SMTP password or a gateway's
token; the key file ``message-secrets.key`` (32 random bytes, mode 0600, made on first use next to
``DATABASE``, so ``instance/`` by default) does. Stored form (``message_channels.secrets``)::

    {"sealed": "<base64 nonce + ciphertext>", "names": ["password", ...]}

The names stay readable so the console can show which secrets are set (masked) without the key.
A row written before sealing (a plain JSON object of values) is still read as it is and sealed at
its next save. A database moved without its key file reads its secrets as empty strings: the
channel then fails with a clear "secret unreadable" reason until they are typed again.
"""

from __future__ import annotations

import base64
import json
import os
import secrets as _secrets
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE = "message-secrets.key"
_AAD = b"loyalty-edge message channel secrets v1"
_lock = threading.Lock()
_memory_key = _secrets.token_bytes(32)  # a ":memory:" database lives and dies with the process


class UnreadableSecrets(Exception):
    """The key file does not open these secrets (a database moved without its key)."""


def key_path(db_path: str) -> Path:
    """Beside a SQLite file; for a server database (a ``postgresql://`` URL) in ``LOYALTY_SECRETS_DIR``,
    else ``instance/`` of the working directory (docs/scale.md: back it up with the database)."""
    if "://" in db_path:
        folder = Path(os.environ.get("LOYALTY_SECRETS_DIR") or "instance").resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return folder / KEY_FILE
    return Path(db_path).resolve().parent / KEY_FILE


def key_for(db_path: str) -> bytes:
    """The key of this database's instance folder, made once (0600) when missing."""
    if db_path == ":memory:":
        return _memory_key
    path = key_path(db_path)
    with _lock:
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            key = _secrets.token_bytes(32)
            # written whole under a temporary name, then linked into place: another process making the
            # same key at the same moment either wins (its key is read back) or loses; none reads half a key
            tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{threading.get_ident()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, key)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                key = path.read_bytes()
            finally:
                tmp.unlink()
    if len(key) != 32:
        raise UnreadableSecrets(f"{path} is not a 32-byte key")
    return key


def seal(db_path: str, values: dict[str, str]) -> str:
    """The stored text of ``values``: encrypted, with their names in clear."""
    nonce = _secrets.token_bytes(12)
    plain = json.dumps(values, sort_keys=True).encode()
    box = AESGCM(key_for(db_path)).encrypt(nonce, plain, _AAD)
    return json.dumps({"sealed": base64.b64encode(nonce + box).decode("ascii"), "names": sorted(values)})


def names(text: str) -> list[str]:
    doc = json.loads(text or "{}")
    return list(doc["names"]) if "sealed" in doc else sorted(doc)


def open_(db_path: str, text: str) -> dict[str, str]:
    """The values of a stored text; :class:`UnreadableSecrets` when this key does not open them."""
    doc = json.loads(text or "{}")
    if "sealed" not in doc:  # written before sealing: read as it is (sealed at the next save)
        return {str(k): str(v) for k, v in doc.items()}
    raw = base64.b64decode(doc["sealed"])
    try:
        plain = AESGCM(key_for(db_path)).decrypt(raw[:12], raw[12:], _AAD)
    except (InvalidTag, ValueError) as exc:
        raise UnreadableSecrets(f"the channel's secrets do not open with {key_path(db_path)}") from exc
    return dict(json.loads(plain))
