"""Suites and results in cairn's store: suites versioned by name (``customers@v2``), linked to
the dataset version they were profiled from; each check's result kept with what it checked."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from cairn.core import context
from cairn.core.checks import check_name, check_optional_text, check_text, show
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.core.ids import now_ms
from cairn.core.user import current_user
from cairn.store import get_store
from cairn.store.db.schema import (
    dataset_versions,
    datasets,
    runs,
    validation_results,
    validation_suites,
)
from cairn.store.deletions import record_referencing, watermark
from cairn.validation.suite import Suite
from cairn.validation.validate import ValidationResult

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class SuiteVersion:
    """A stored version of a suite."""

    name: str
    number: int
    digest: str
    created_ms: int
    source: str | None  # name@vN of the dataset version it was profiled from

    @property
    def ref(self) -> str:
        """``name@vN``."""
        return f"{self.name}@v{self.number}"


def save_suite(suite: Suite) -> SuiteVersion:
    """Store ``suite`` as the next version of its name (unchanged text makes no new version)."""
    if not isinstance(suite, Suite):
        raise InvalidInputError(
            f"save_suite takes a Suite (from cairn.validation.profile or Suite.from_yaml), got "
            f"{type(suite).__name__} {show(suite)}"
        )
    if not _NAME.fullmatch(suite.name):
        raise InvalidInputError(
            f"{suite.name!r} cannot name a suite: use letters, digits, '.', '_' or '-'"
        )
    store = get_store()
    text = suite.to_yaml().encode()
    if store.remote is not None:
        from cairn.validation import _remote

        return _remote.save_suite(store.remote, suite.name, text)
    since = watermark(store.db)  # before the object is looked for (gc may run)
    stored = store.artifacts.put_bytes(text)
    return record_referencing(
        store.db,
        [stored.digest],
        since,
        lambda conn: _record_suite(conn, suite.name, stored.digest, suite.source),
        lambda _gone: store.artifacts.put_bytes(text),
    )


def _record_suite(conn: Connection, name: str, digest: str, source: str | None) -> SuiteVersion:
    """Record the object ``digest`` as the next version of suite ``name`` (its latest version
    when that holds the same text already: saving again makes no new version)."""
    last = conn.execute(
        select(validation_suites)
        .where(validation_suites.c.name == name)
        .order_by(validation_suites.c.number.desc())
        .limit(1)
    ).first()
    if last is not None and last.digest == digest:
        return _version(conn, last)
    source_id = _dataset_version_id(conn, source) if source else None
    number = (last.number if last is not None else 0) + 1
    conn.execute(
        validation_suites.insert().values(
            name=name,
            number=number,
            digest=digest,
            dataset_version_id=source_id,
            created_ms=now_ms(),
            user=current_user(),
        )
    )
    row = conn.execute(
        select(validation_suites).where(
            validation_suites.c.name == name, validation_suites.c.number == number
        )
    ).one()
    return _version(conn, row)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system names no file
        return False


def load_suite(ref: str | Path) -> tuple[Suite, SuiteVersion | None]:
    """A suite from the store (``name`` for the latest, ``name@v2``) or a YAML file."""
    text = check_name(str(ref) if isinstance(ref, Path) else ref, "suite", max_length=4096)
    if text.endswith((".yaml", ".yml")) or _is_file(Path(text)):
        path = Path(text)
        if not _is_file(path):
            raise InvalidInputError(f"no suite file at {path}; check the path")
        return Suite.from_yaml(path.read_text(), str(path)), None
    name, _, version = text.partition("@")
    store = get_store()
    if store.remote is not None:
        from cairn.validation import _remote

        return _remote.load_suite(store, text)
    with store.db.read() as conn:
        query = select(validation_suites).where(validation_suites.c.name == name)
        if version:
            number = version.removeprefix("v")
            if not number.isascii() or not number.isdigit() or len(number) > 18:
                raise InvalidInputError(
                    f"{text!r}: a suite version is v1, v2, ... (e.g. {name}@v2)"
                )
            query = query.where(validation_suites.c.number == int(number))
        row = conn.execute(query.order_by(validation_suites.c.number.desc()).limit(1)).first()
        if row is None:
            last = conn.execute(
                select(func.max(validation_suites.c.number)).where(validation_suites.c.name == name)
            ).scalar()
            if last is None:
                raise NotFoundError(
                    f"no suite named {name!r}; make one with cairn validate profile DATA "
                    f"--suite {name}"
                )
            raise NotFoundError(f"suite {name!r} has no version {version} (its latest is v{last})")
        found = _version(conn, row)
    suite = Suite.from_yaml(store.artifacts.read_bytes(found.digest).decode(), found.ref)
    return suite, found


def record_result(
    result: ValidationResult,
    suite: SuiteVersion | None,
    *,
    target: str,
    dataset_version: str | None = None,
) -> None:
    """Keep a check's result, linked to the dataset version (``name@vN``) and the active run."""
    if not isinstance(result, ValidationResult):
        raise InvalidInputError(
            f"record_result takes the ValidationResult of cairn.validate, got "
            f"{type(result).__name__} {show(result)}"
        )
    if suite is not None and not isinstance(suite, SuiteVersion):
        raise InvalidInputError(
            f"suite is the SuiteVersion of load_suite or save_suite (or None), got "
            f"{type(suite).__name__} {show(suite)}"
        )
    check_text(target, "target")
    check_optional_text(dataset_version, "dataset_version")
    if suite is None:
        return  # a suite from a file has no stored version to link to
    store = get_store()
    body = result.to_json().encode()
    run_uid = context.current_run_id()
    if store.remote is not None:
        from cairn.validation import _remote

        _remote.record_result(store, body, suite, target, dataset_version, run_uid)
        return
    since = watermark(store.db)  # before the object is looked for (gc may run)
    report = store.artifacts.put_bytes(body)
    check = Check(suite.name, suite.number, report.digest, target, dataset_version, run_uid)
    record_referencing(
        store.db,
        [report.digest],
        since,
        lambda conn: _record_check(conn, check, result.to_dict(), now_ms()),
        lambda _gone: store.artifacts.put_bytes(body),
    )


@dataclass(frozen=True)
class Check:
    """What links a recorded check: the suite version, the stored report, what was checked."""

    suite: str
    number: int
    digest: str  # the JSON report, as an object
    target: str
    dataset_version: str | None
    run: str | None  # the id of the run it was made in


def _record_check(
    conn: Connection, check: Check, report: dict[str, Any], created_ms: int, *, once: bool = False
) -> bool:
    """Record a check whose ``report`` is stored as ``check.digest``; with ``once``, not when
    the same report was recorded for the same suite at the same time (a replayed request)."""
    suite_id = conn.execute(
        select(validation_suites.c.id).where(
            validation_suites.c.name == check.suite, validation_suites.c.number == check.number
        )
    ).scalar()
    if suite_id is None:
        raise NotFoundError(f"no suite {check.suite}@v{check.number}; save it first")
    if once:
        seen = conn.execute(
            select(validation_results.c.id).where(
                validation_results.c.suite_id == suite_id,
                validation_results.c.digest == check.digest,
                validation_results.c.created_ms == created_ms,
            )
        ).first()
        if seen is not None:
            return False
    run_id = (
        conn.execute(select(runs.c.id).where(runs.c.uid == check.run)).scalar()
        if check.run
        else None
    )
    version_id = _dataset_version_id(conn, check.dataset_version) if check.dataset_version else None
    conn.execute(
        validation_results.insert().values(
            suite_id=suite_id,
            dataset_version_id=version_id,
            run_id=run_id,
            target=check.target,
            passed=bool(report["passed"]),
            errors=int(report["errors"]),
            warnings=int(report["warnings"]),
            rows=int(report["rows"]),
            digest=check.digest,
            created_ms=created_ms,
        )
    )
    return True


def results_of(dataset_version: str) -> list[dict[str, object]]:
    """The checks recorded against a dataset version (``name@vN``), oldest first."""
    store = get_store()
    if store.remote is not None:
        from cairn.validation import _remote

        return _remote.results_of(store, dataset_version)
    with store.db.read() as conn:
        version_id = _dataset_version_id(conn, dataset_version)
        rows = conn.execute(
            select(
                validation_suites.c.name,
                validation_suites.c.number,
                validation_results.c.passed,
                validation_results.c.errors,
                validation_results.c.warnings,
                validation_results.c.digest,
                validation_results.c.created_ms,
            )
            .select_from(validation_results.join(validation_suites))
            .where(validation_results.c.dataset_version_id == version_id)
            .order_by(validation_results.c.created_ms)
        )
        return [
            {
                "suite": f"{r.name}@v{r.number}",
                "passed": bool(r.passed),
                "errors": int(r.errors),
                "warnings": int(r.warnings),
                "report": json.loads(store.artifacts.read_bytes(r.digest)),
                "created_ms": int(r.created_ms),
            }
            for r in rows
        ]


def _dataset_version_id(conn: Connection, ref: str) -> int:
    check_name(ref, "dataset version", max_length=None)
    name, _, version = ref.removeprefix("data:").partition("@")
    query = (
        select(dataset_versions.c.id)
        .select_from(dataset_versions.join(datasets))
        .where(datasets.c.name == name, dataset_versions.c.deleted_ms.is_(None))
    )
    if version and version != "latest":
        number = version.removeprefix("v")
        if not number.isascii() or not number.isdigit() or len(number) > 18:
            raise InvalidInputError(
                f"{show(ref)}: the version after '@' is v1, v2, ... or latest (e.g. {name}@v2)"
            )
        query = query.where(dataset_versions.c.number == int(number))
    found = conn.execute(query.order_by(dataset_versions.c.number.desc()).limit(1)).scalar()
    if found is None:
        raise NotFoundError(f"no dataset version {show(ref)}; see cairn data ls")
    return int(found)


def _version(conn: Connection, row: Any) -> SuiteVersion:
    source = None
    dataset_version_id = row.dataset_version_id
    if dataset_version_id is not None:
        found = conn.execute(
            select(datasets.c.name, dataset_versions.c.number)
            .select_from(dataset_versions.join(datasets))
            .where(dataset_versions.c.id == dataset_version_id)
        ).first()
        if found is not None:
            source = f"{found.name}@v{found.number}"
    return SuiteVersion(row.name, int(row.number), row.digest, int(row.created_ms), source)
