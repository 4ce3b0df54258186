"""Promo codes (marketing.md, "Promo codes"): generation, the check character and the keyed tag; pure.

A generated code is ``PREFIX + BODY + TAG + CHECK``:

* ``BODY``: random characters of :data:`ALPHABET` (23 characters, none of the look-alikes
  0 O 1 I L 2 Z 5 S 8 B G 6);
* ``TAG``: ``tag_length`` characters of HMAC-SHA256(list key, PREFIX + BODY), so a till that holds
  the list's key refuses a made-up code even offline (one chance in 23^tag_length to pass);
* ``CHECK``: one character, sum of (position x value) mod 23 over everything before it, so a typo
  (one wrong character, two neighbours swapped) is told apart from an unknown code.

Codes are compared normalised: upper case, without spaces and dashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

ALPHABET = "ACDEFHJKMNPQRTUVWXY3479"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_BASE = len(ALPHABET)


def normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def check_char(text: str) -> str:
    """The check character of ``text`` (weights 1, 2, 3, ... mod 23: a prime, so every single change
    and every swap of two neighbours changes it)."""
    total = 0
    for i, ch in enumerate(text, 1):
        total += i * _VALUE.get(ch, ord(ch))
    return ALPHABET[total % _BASE]


def tag(key: bytes, text: str, length: int) -> str:
    if length <= 0:
        return ""
    digest = hmac.digest(key, text.encode(), "sha256")
    return "".join(ALPHABET[b % _BASE] for b in digest[:length])


def make(key: bytes, prefix: str, body: str, tag_length: int, check: bool = True) -> str:
    code = prefix + body + tag(key, prefix + body, tag_length)
    return code + check_char(code) if check else code


def generate(
    count: int, length: int, *, key: bytes, prefix: str = "", tag_length: int = 3, check: bool = True
) -> list[str]:
    """``count`` distinct codes with a random body of ``length`` characters (numpy for the characters and
    check characters, one HMAC per code: 1,000,000 in about 2 s).

    :raises ValueError: the body is too short for that many distinct codes (kept under 1/1000 full).
    """
    import numpy as np

    if count < 0 or length < 1:
        raise ValueError("count must be >= 0 and length >= 1")
    if count * 1000 > _BASE**length:
        raise ValueError(f"a body of {length} characters is too short for {count} codes; use a longer one")
    prefix = normalise(prefix)
    if count == 0:
        return []
    letters = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
    rows = np.empty((0, length), dtype=np.uint8)
    while len(rows) < count:
        need = (count - len(rows)) * length * 12 // 10 + length
        raw = np.frombuffer(secrets.token_bytes(need), dtype=np.uint8)
        raw = raw[raw < 230] % _BASE  # 230 = 10 x 23: every character equally likely
        fresh = raw[: len(raw) // length * length].reshape(-1, length)
        rows = _distinct(np.concatenate([rows, fresh]))
    rows = rows[np.random.default_rng(secrets.randbits(64)).permutation(len(rows))[:count]]
    heads = np.concatenate([np.tile(np.frombuffer(prefix.encode(), dtype=np.uint8), (count, 1)), letters[rows]], 1)
    width = heads.shape[1]
    flat = heads.tobytes()
    mac = _hmac_sha256(key)
    tags = (
        np.frombuffer(
            b"".join([mac(flat[i : i + width])[:tag_length] for i in range(0, len(flat), width)]), dtype=np.uint8
        ).reshape(count, tag_length)
        % _BASE
    )
    full = np.concatenate([heads, letters[tags]], 1)
    if check:
        values = np.array([_VALUE.get(ch, ord(ch)) for ch in prefix], dtype=np.int64)
        values = np.concatenate([np.tile(values, (count, 1)), rows.astype(np.int64), tags.astype(np.int64)], 1)
        weights = np.arange(1, values.shape[1] + 1, dtype=np.int64)
        full = np.concatenate([full, letters[(values @ weights) % _BASE][:, None]], 1)
    text = full.tobytes().decode("ascii")
    size = full.shape[1]
    return [text[i : i + size] for i in range(0, len(text), size)]


def _hmac_sha256(key: bytes) -> Any:
    """HMAC-SHA256 with the key's pads hashed once (RFC 2104; the same bytes as ``hmac.digest``, 2x faster
    for many short messages)."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def mac(message: bytes) -> bytes:
        i = inner.copy()
        i.update(message)
        o = outer.copy()
        o.update(i.digest())
        return o.digest()

    return mac


def _distinct(rows: Any) -> Any:
    """The distinct rows (bodies) of a uint8 matrix of character indexes."""
    import numpy as np

    if rows.shape[1] <= 13:  # 23**13 < 2**64: a row is one integer
        numbers = rows.astype(np.uint64) @ (np.uint64(_BASE) ** np.arange(rows.shape[1], dtype=np.uint64))
        _, first = np.unique(numbers, return_index=True)
        return rows[first]
    return np.unique(rows, axis=0)


def well_formed(code: str, check: bool) -> bool:
    """The check character matches (always True without one)."""
    return not check or (len(code) > 1 and check_char(code[:-1]) == code[-1])


def genuine(code: str, key: bytes, prefix: str, tag_length: int, check: bool) -> bool:
    """The code's tag is the list key's HMAC of its prefix and body (constant-time comparison)."""
    head = code[:-1] if check else code
    if tag_length <= 0:
        return True
    if len(head) <= len(prefix) + tag_length or not head.startswith(prefix):
        return False
    body, got = head[:-tag_length], head[-tag_length:]
    # compare_digest raises on text that is not ASCII (typed at the till): no tag is made of such letters
    return got.isascii() and hmac.compare_digest(tag(key, body, tag_length), got)


def list_key(secret: bytes, list_id: str) -> bytes:
    """A list's HMAC key, derived from the chain's secret: each list's key goes to the agents of its stores."""
    return hmac.digest(secret, b"loyalty-edge promo list " + list_id.encode(), "sha256")[:16]


def fingerprint(codes: Iterable[str]) -> str:
    """A short digest of a set of codes (to tell uploads apart)."""
    h = hashlib.sha256()
    for code in sorted(codes):
        h.update(code.encode() + b"\n")
    return h.hexdigest()[:16]


def problems_of(codes: Sequence[str]) -> list[str]:
    """Codes that are empty or too long after normalising (an upload's checks)."""
    return [c for c in codes if not normalise(c) or len(normalise(c)) > 64]
