"""core.on_import: functions run right after a module's import, never importing it themselves."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from cairn.core import on_import


@pytest.fixture
def package_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for modules made by the test, forgotten afterwards."""
    folder = tmp_path / "mods"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_a_function_runs_after_the_import_and_not_before(package_dir: Path) -> None:
    """The function waits for the import, then sees the module fully executed."""
    (package_dir / "lateframework.py").write_text("VALUE = 41\nVALUE += 1\n")
    seen: list[int] = []
    on_import.when_imported("lateframework", lambda m: seen.append(m.VALUE))
    assert seen == []
    assert "lateframework" not in sys.modules  # waiting imports nothing
    import lateframework  # type: ignore[import-not-found]

    assert seen == [42]
    assert lateframework.__loader__.__class__.__name__ != "_NotifyingLoader"
    assert "lateframework" not in on_import.waiting()
    assert on_import._finder not in sys.meta_path  # leaves once nothing waits


def test_a_module_already_imported_calls_at_once(package_dir: Path) -> None:
    """A module imported already is handed over immediately."""
    (package_dir / "earlyframework.py").write_text("NAME = 'early'\n")
    import earlyframework  # type: ignore[import-not-found]  # noqa: F401

    seen: list[str] = []
    on_import.when_imported("earlyframework", lambda m: seen.append(m.NAME))
    assert seen == ["early"]


def test_a_failing_function_never_breaks_the_import(
    package_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An error in a waiting function is logged; the import and the other functions go on."""
    (package_dir / "brittle.py").write_text("OK = True\n")
    seen: list[bool] = []

    def broken(module: ModuleType) -> None:
        raise RuntimeError("boom")

    on_import.when_imported("brittle", broken)
    on_import.when_imported("brittle", lambda m: seen.append(m.OK))
    import brittle  # type: ignore[import-not-found]

    assert brittle.OK and seen == [True]
    assert "boom" in caplog.text


def test_cancel_and_waiting_inside_a_waiting_function(package_dir: Path) -> None:
    """A cancelled function never runs; one added while the module runs its waiters runs too."""
    (package_dir / "nested_fw.py").write_text("X = 1\n")
    calls: list[str] = []

    def cancelled(module: ModuleType) -> None:
        calls.append("cancelled")

    def first(module: ModuleType) -> None:
        calls.append("first")
        on_import.when_imported("nested_fw", lambda m: calls.append("added"))

    on_import.when_imported("nested_fw", cancelled)
    on_import.when_imported("nested_fw", first)
    on_import.cancel("nested_fw", cancelled)
    import nested_fw  # type: ignore[import-not-found]  # noqa: F401

    assert calls == ["first", "added"]


def test_is_installed_asks_without_importing(package_dir: Path) -> None:
    """Whether a module can be imported is answered without importing it."""
    (package_dir / "present_fw.py").write_text("raise SystemExit('imported!')\n")
    assert on_import.is_installed("present_fw")
    assert "present_fw" not in sys.modules
    assert not on_import.is_installed("surely_no_such_module_here")
