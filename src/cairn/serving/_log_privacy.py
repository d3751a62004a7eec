"""What the prediction log keeps of personal data: columns redacted (a keyed hash, or dropped)
before a row is written, a warning at start when a model's input example holds personal data,
and the parsing of ``--log-redact`` and ``--log-retention``.

Hashed values are keyed BLAKE3 (the key in ``<home>/secrets/prediction-log.key``, made on
first use, readable by its owner only): equal values still hash equally (counts, joins and
drift work), a guessable value (an email, a phone number) cannot be recovered by hashing
guesses without the key, and ``cairn serve log purge --where email=...`` finds a subject's
rows by hashing the value with the same key.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.core.logging import logger
from cairn.core.settings import get_settings

ACTIONS = ("hash", "drop")
KEY_FILE = Path("secrets") / "prediction-log.key"


@dataclass(frozen=True)
class Redaction:
    """The columns the log stores as keyed hashes, and those it leaves out."""

    hashed: frozenset[str] = frozenset()
    dropped: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.hashed or self.dropped)

    def hash_column(self, values: list[Any]) -> list[str | None]:
        """The keyed hashes of ``values`` (None stays None)."""
        return [None if v is None else hashed_value(v) for v in values]


def redaction_of(spec: Mapping[str, str] | None) -> Redaction:
    """A ``Redaction`` from ``{column: "hash" | "drop"}``."""
    spec = dict(spec or {})
    for column, action in spec.items():
        if action not in ACTIONS:
            raise InvalidInputError(
                f"--log-redact {column}:{action}: the action is hash or drop "
                f"(e.g. --log-redact {column}:hash)"
            )
    return Redaction(
        frozenset(c for c, a in spec.items() if a == "hash"),
        frozenset(c for c, a in spec.items() if a == "drop"),
    )


def parse_redact(items: Iterable[str]) -> dict[str, str]:
    """``["email", "phone:drop"]`` as ``{"email": "hash", "phone": "drop"}`` (hash unless
    said otherwise)."""
    out: dict[str, str] = {}
    for item in items:
        column, _, action = item.partition(":")
        column, action = column.strip(), (action.strip() or "hash")
        if not column:
            raise InvalidInputError(
                f"--log-redact takes COLUMN or COLUMN:hash or COLUMN:drop, not {item!r}"
            )
        out[column] = action
    redaction_of(out)  # refuses unknown actions
    return out


def check_redacted_columns(
    spec: Mapping[str, str], columns_by_model: Mapping[str, list[str] | None]
) -> None:
    """Refuse a redacted column no served model takes (a typo would otherwise leave the real
    column stored verbatim). Models without a signature accept any column."""
    if not spec or any(cols is None for cols in columns_by_model.values()):
        return
    known = {c for cols in columns_by_model.values() for c in cols or []}
    unknown = [c for c in spec if c not in known and c != "_request_id"]
    if unknown:
        raise InvalidInputError(
            f"--log-redact {', '.join(unknown)}: no served model has such an input column "
            f"(columns: {', '.join(sorted(known)) or 'none'}); check the spelling"
        )


def hashed_value(value: Any) -> str:
    """The keyed hash of a value, as the log stores it (``b3k:`` and 32 hex digits)."""
    import blake3

    text = value if isinstance(value, str) else str(value)
    digest = blake3.blake3(text.encode("utf-8", "surrogatepass"), key=_key()).hexdigest(16)
    return f"b3k:{digest}"


@functools.lru_cache(maxsize=4)
def _key_at(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(32)
        try:  # exclusive: two servers starting together agree on the first key written
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            data = path.read_bytes()
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
    if len(data) != 32:
        raise InvalidInputError(
            f"{path} holds {len(data)} bytes, not a 32-byte key; restore it from a backup "
            "(hashed log values can only be matched with the key that made them)"
        )
    return data


def _key() -> bytes:
    return _key_at(get_settings().home_dir / KEY_FILE)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``2w`` or ``45s`` in seconds."""
    match = _DURATION.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise InvalidInputError(
            f"{text!r} is not a duration; write a positive number and a unit: 30d, 12h, 90m, 2w"
        )
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def personal_data_in(example: Any) -> dict[str, list[str]]:
    """The columns of an input example (records) that hold personal data, with the kinds
    found (email, phone, card, iban, ip), by the validation capability's detectors."""
    if not example or not isinstance(example, list) or not isinstance(example[0], dict):
        return {}
    import pyarrow as pa

    from cairn import validation

    # Text columns only: a float's digits (-0.1234567890123) would pass for a phone number.
    names = dict.fromkeys(k for row in example if isinstance(row, dict) for k in row)
    texts = {
        name: values
        for name in names
        if (values := [row.get(name) if isinstance(row, dict) else None for row in example])
        and all(v is None or isinstance(v, str) for v in values)
        and any(isinstance(v, str) for v in values)
    }
    if not texts:
        return {}
    table = pa.table({name: pa.array(values, pa.string()) for name, values in texts.items()})
    suite = validation.Suite(
        "personal-data", [validation.NoPersonalData(name) for name in texts], "allow"
    )
    found: dict[str, list[str]] = {}
    for failure in validation.validate(table, suite).failures:
        if failure.column is not None and isinstance(failure.observed, dict):
            found[failure.column] = sorted(failure.observed.get("found", {}))
    return found


def warn_personal_data(model_name: str, example: Any, spec: Mapping[str, str]) -> list[str]:
    """Warn (and return the columns) where a served model's input example holds personal
    data the prediction log would store verbatim."""
    exposed = {c: k for c, k in personal_data_in(example).items() if c not in spec}
    for column, kinds in exposed.items():
        logger.warning(
            "%s: the input example's column %r holds personal data (%s); the prediction log "
            "stores it verbatim: add --log-redact %s (keyed hash) or --log-redact %s:drop",
            model_name,
            column,
            ", ".join(kinds),
            column,
            column,
        )
    return list(exposed)


MAX_REQUEST_ID_CHARS = 256  # an X-Request-ID is stored on every logged row
MAX_HEADER_BYTES = 16 << 10  # all of a prediction request's headers together


def request_id_problem(request_id: str | None) -> str | None:
    """Why an ``X-Request-ID`` is refused (431), or None."""
    if request_id is None or len(request_id) <= MAX_REQUEST_ID_CHARS:
        return None
    return (
        f"the X-Request-ID header is {len(request_id):,} characters; the limit is "
        f"{MAX_REQUEST_ID_CHARS} (send a shorter id, or none: the server makes one)"
    )


def headers_problem(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why a request's headers are refused as too large (431), or None."""
    size = sum(len(k) + len(v) for k, v in headers)
    if size <= MAX_HEADER_BYTES:
        return None
    return (
        f"the request's headers are {size:,} bytes; the limit is {MAX_HEADER_BYTES:,} "
        "(send fewer or shorter headers)"
    )


def check_log_privacy(models: Mapping[str, Any], redact: Mapping[str, str]) -> None:
    """At server start: refuse unknown redacted columns or actions, and warn where a model's
    input example holds personal data the log would store verbatim (``models``: route name to
    the loaded model)."""
    redaction_of(redact)
    columns: dict[str, list[str] | None] = {}
    for name, model in models.items():
        signature = getattr(model, "signature", None)
        if signature is None or signature.tensor is not None:
            columns[name] = None
        else:
            columns[name] = [c.name for c in signature.columns]
    check_redacted_columns(redact, columns)
    for name, model in models.items():
        try:
            warn_personal_data(name, getattr(model, "input_example", None), redact)
        except Exception as exc:  # a warning's check never stops a server from starting
            logger.warning("%s: could not check the input example for personal data: %s", name, exc)


def without_values(observed: Any) -> Any:
    """What a failed expectation observed, with the sampled values masked (their shape kept,
    never their content): a 422 answer must not echo a request's personal data back."""
    if isinstance(observed, dict):
        return {k: without_values(v) for k, v in observed.items()}
    if isinstance(observed, (list, tuple)):
        return [_masked(v) if isinstance(v, str) else v for v in observed]
    return observed


def _masked(text: str) -> str:
    return "".join(c if i == 0 or not c.isalnum() else "*" for i, c in enumerate(text[:40]))
