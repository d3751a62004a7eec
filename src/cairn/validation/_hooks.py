"""Validation's side of hooks other capabilities call (announced as the ``cairn`` entry point
``validation``, so ``cairn.data`` reaches it without importing this package)."""

from __future__ import annotations

from collections.abc import Callable

from cairn.core.hookspecs import hookimpl


@hookimpl
def cairn_check_before_add(path: str, suite: str) -> tuple[bool, str, Callable[[str], None]]:
    """Check ``path`` against ``suite`` for ``cairn.data.add(..., suite=...)``."""
    from cairn.validation.catalog import load_suite, record_result
    from cairn.validation.validate import validate

    loaded, version = load_suite(suite)
    result = validate(path, loaded)
    lines = [result.summary()] + [
        f"{f.severity}: {f.expectation} (observed {f.observed}, expected {f.expected})"
        for f in result.failures
    ]

    def record(version_ref: str) -> None:
        record_result(result, version, target=path, dataset_version=version_ref)

    return result.passed, "\n".join(lines), record
