"""Writes of validation that arrive from cairn clients: what the server's routes call.

Each is one transaction over the same records a local save or check makes, and each is
idempotent: a suite whose text is its latest version's makes no new version, and a check is
recorded once per report and time (a request replayed from a client's spool changes nothing).
The objects are uploaded first, by digest; each is read back and checked as the Python API
checks what it is given, so a client can register nothing a local call could not.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy.exc import IntegrityError

from cairn.core.checks import INT64_MAX, check_optional_text, check_text, show
from cairn.core.errors import ArtifactNotFoundError, InvalidInputError
from cairn.core.hashing import split_digest
from cairn.store import Store
from cairn.store.db.dialect import lock_key
from cairn.store.deletions import record_referencing, watermark
from cairn.validation.catalog import (
    _NAME,
    Check,
    SuiteVersion,
    _record_check,
    _record_suite,
)
from cairn.validation.suite import Suite

MAX_OBJECT_BYTES = 64 << 20  # the largest suite or report read back
LOCK_CLASS = 74216  # the advisory locks of recorded checks (PostgreSQL)


def ingest_suite(store: Store, name: str, digest: str) -> SuiteVersion:
    """Store the uploaded YAML ``digest`` as the next version of suite ``name`` (or answer
    the latest version when it holds the same text)."""
    _check_name(name)
    suite = Suite.from_yaml(_read(store, digest, "the suite").decode("utf-8"), "the suite")
    if suite.name != name:
        raise InvalidInputError(
            f"the uploaded suite is named {suite.name!r:.140}, not {name!r}; save it under its "
            "own name"
        )
    since = watermark(store.db)

    def record() -> SuiteVersion:
        return record_referencing(
            store.db,
            [digest],
            since,
            lambda conn: _record_suite(conn, name, digest, suite.source),
            _gone,
        )

    try:
        return record()
    except IntegrityError:  # a concurrent save took the number: the next one is free
        return record()


def ingest_result(store: Store, check: Check, created_ms: int) -> bool:
    """Record a check whose JSON report was uploaded as ``check.digest``; False when the same
    report was recorded for the same suite at the same time already."""
    _check_name(check.suite)
    if type(check.number) is not int or not 1 <= check.number <= INT64_MAX:
        raise InvalidInputError(f"a suite version is a number from 1, not {show(check.number)}")
    check_text(check.target, "target")
    check_optional_text(check.dataset_version, "dataset_version")
    if check.run is not None and (not check.run.isalnum() or not 1 <= len(check.run) <= 26):
        raise InvalidInputError(f"{show(check.run)} is not a run id (26 letters and digits)")
    if type(created_ms) is not int or not 0 <= created_ms <= INT64_MAX:
        raise InvalidInputError(f"created_ms must be epoch milliseconds, not {show(created_ms)}")
    report = _report(_read(store, check.digest, "the report"))
    if check.run is not None:
        check = dataclasses.replace(check, run=check.run.lower())

    def record(conn: Any) -> bool:
        _one_at_a_time(conn, check.digest)
        return _record_check(conn, check, report, created_ms, once=True)

    since = watermark(store.db)
    return record_referencing(store.db, [check.digest], since, record, _gone)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"{show(name)} cannot name a suite: use letters, digits, '.', '_' or '-'"
        )


def _read(store: Store, digest: str, what: str) -> bytes:
    """The uploaded object ``digest`` (refused when missing or too large to be ``what``)."""
    split_digest(digest)
    if not store.artifacts.exists(digest):
        raise ArtifactNotFoundError(
            f"the object {digest} ({what}) is not on the server; upload it first "
            "(PUT /api/v1/artifacts/{digest})"
        )
    data = store.artifacts.read_bytes(digest)
    if len(data) > MAX_OBJECT_BYTES:
        raise InvalidInputError(
            f"{what} ({len(data):,} bytes) is larger than {MAX_OBJECT_BYTES:,} bytes; it "
            "cannot be one"
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{what} ({digest}) is not UTF-8 text") from None
    return data


def _report(data: bytes) -> dict[str, Any]:
    """A result's JSON report (as ``ValidationResult.to_json`` writes it), checked."""
    try:
        report = json.loads(data)
    except ValueError:
        raise InvalidInputError(
            "the report is not JSON; upload ValidationResult.to_json()"
        ) from None
    if not isinstance(report, dict):
        raise InvalidInputError("the report must be a JSON object (ValidationResult.to_json())")
    if type(report.get("passed")) is not bool:
        raise InvalidInputError("the report's 'passed' must be true or false")
    for key in ("errors", "warnings", "rows"):
        value = report.get(key)
        if type(value) is not int or not 0 <= value <= INT64_MAX:
            raise InvalidInputError(f"the report's {key!r} must be a count, not {show(value)}")
    if report["passed"] != (report["errors"] == 0):
        raise InvalidInputError("the report passed with errors (or failed without any)")
    return report


def _one_at_a_time(conn: Any, digest: str) -> None:
    lock_key(conn, LOCK_CLASS, digest)


def _gone(digests: set[str]) -> None:
    raise ArtifactNotFoundError(
        f"{len(digests)} object(s) were removed by gc while being recorded; upload them again"
    )
