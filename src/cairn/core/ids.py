"""Time-sortable identifiers.

A run id is 26 lowercase Crockford base32 characters: 48 bits of milliseconds since the epoch
followed by 80 random bits (the ULID layout), so ids sort by creation time as strings and in
indexes, and two processes never collide in practice.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(now_ms: int | None = None) -> str:
    """Return a new 26-character, time-sortable, random id."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def id_time_ms(identifier: str) -> int:
    """Return the creation time in milliseconds encoded in an id made by ``new_id``."""
    value = 0
    for char in identifier[:10]:
        value = (value << 5) | _ALPHABET.index(char)
    return value


def now_ms() -> int:
    """Return the current UTC time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def to_datetime(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def describe_time(ms: int | None) -> str:
    """Format epoch milliseconds for people (UTC)."""
    return "-" if ms is None else to_datetime(ms).strftime("%Y-%m-%d %H:%M:%S")
