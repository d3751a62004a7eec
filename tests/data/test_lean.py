"""The standard-library path of `cairn data add|status` answers exactly as the full path, or
not at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.core.home import sqlite_locations
from cairn.core.settings import configure, get_settings
from cairn.data import quick_check
from cairn.store import Store
from tests.data.folders import make_folder


def settings_locations() -> tuple[Path, Path] | None:
    """What the full settings say: the home folder and the SQLite file, or None."""
    settings = get_settings()
    url = settings.store_url
    if not url.startswith("sqlite:///"):
        return None
    return settings.home_dir, Path(url.removeprefix("sqlite:///"))


@pytest.mark.parametrize(
    ("env", "yaml"),
    [
        ({}, None),
        ({"CAIRN_HOME": "elsewhere/.cairn"}, None),
        ({"cairn_store": "sqlite:////tmp/x/meta.db"}, None),
        ({}, "home: from-yaml\n"),
        ({}, "store: sqlite:///yaml.db\nexperiment: e\n"),
        ({"CAIRN_HOME": "env-home"}, "home: yaml-home\n"),
        ({"CAIRN_STORE": "postgresql://u@h/db"}, None),
        ({}, "store: postgresql://u@h/db\n"),
    ],
)
def test_store_locations_match_the_settings(
    project: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], yaml: str | None
) -> None:
    """The light reader of home and store agrees with the settings in every combination."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if yaml is not None:
        (project / "cairn.yaml").write_text(yaml)
    configure()
    assert sqlite_locations() == settings_locations()


def _aged(root: Path) -> Path:
    return make_folder(root, {"a.csv": b"a,b\n1,2\n", "sub/b.bin": os.urandom(300)})


def test_answers_unchanged_exactly_as_the_full_path(project: Path, store: Store) -> None:
    """When nothing changed, the quick answer is the full command's line, on SQLite only."""
    raw = _aged(project / "raw")
    cairn.data.add(raw, "ds")
    on_sqlite = store.db.url.startswith("sqlite")
    add_answer = quick_check(["add", str(raw), "--name", "ds"])
    status_answer = quick_check(["status", "ds"])
    if not on_sqlite:
        assert add_answer is None and status_answer is None  # PostgreSQL: the full path
        return
    assert add_answer == "ds is unchanged: same content as ds@v1"
    assert quick_check(["add", "raw", "-n", "ds"]) == add_answer  # relative to the cwd
    assert status_answer == f"unchanged: {raw.resolve()} matches ds@v1"
    assert quick_check(["status", "ds", str(raw)]) == status_answer
    full = cairn.data.status("ds")
    assert full.unchanged and f"unchanged: {full.path} matches {full.version.ref}" == status_answer


def test_any_doubt_goes_to_the_full_path(project: Path) -> None:
    """A change, a new file, another option, an unknown dataset or a URL: no quick answer."""
    raw = _aged(project / "raw")
    cairn.data.add(raw, "ds")
    assert quick_check(["status", "ds"]) is not None
    assert quick_check(["add", str(raw), "--name", "ds", "--owner", "me"]) is None
    assert quick_check(["add", str(raw), "--name", "nope"]) is None
    assert quick_check(["status", "ds@v1"]) is None
    assert quick_check(["add", "s3://bucket/raw", "--name", "ds"]) is None
    assert quick_check(["status", "bad/name"]) is None
    (raw / "extra.txt").write_text("new")
    os.utime(raw / "extra.txt", (1_600_000_000, 1_600_000_000))
    assert quick_check(["status", "ds"]) is None  # not in the cache: the full path hashes
    (raw / "extra.txt").unlink()
    (raw / "a.csv").write_bytes(b"a,b\n3,4\n")
    assert quick_check(["add", str(raw), "--name", "ds"]) is None


def test_the_quick_path_imports_neither_pydantic_nor_sqlalchemy(project: Path) -> None:
    """`cairn data status` with nothing changed answers without the heavy libraries."""
    raw = _aged(project / "raw")
    cairn.data.add(raw, "ds")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cairn.cli.main", "data", "status", "ds"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == f"unchanged: {raw.resolve()} matches ds@v1"
    modules = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert not {m for m in modules if m.split(".")[0] in ("sqlalchemy", "pydantic", "typer")}
