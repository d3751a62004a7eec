"""Content added again after gc reclaimed it: a whole new version, files and objects, on every
store."""

from __future__ import annotations

from pathlib import Path

import pytest

import cairn
from cairn.cli.main import main
from cairn.store import Store
from tests.data.folders import make_folder

FILES = {"a.txt": b"alpha", "sub/b.bin": bytes(range(256)), "c.csv": b"x\n1\n"}


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the CLI in-process; return (exit code, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0), capsys.readouterr().err


def test_content_added_again_after_gc_is_whole_under_another_name(
    project: Path, store: Store, artifacts: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's commands: a version re-adding content gc reclaimed has its files, and the
    next gc keeps its objects."""
    raw = make_folder(project / "three", FILES)
    assert _cli(capsys, "data", "add", str(raw), "--name", "first")[0] == 0
    assert _cli(capsys, "data", "rm", "first@v1", "--force")[0] == 0
    assert _cli(capsys, "gc", "--grace", "0")[0] == 0
    assert _cli(capsys, "data", "add", str(raw), "--name", "second")[0] == 0
    code, err = _cli(capsys, "data", "get", "second", str(project / "out"))
    assert code == 0, err
    assert cairn.data.gc(grace_s=0).objects == 0  # every object is the new version's
    for out in (project / "out", cairn.data.path("second")):
        assert {
            p.relative_to(out).as_posix(): p.read_bytes()
            for p in out.rglob("*")
            if p.is_file() and not p.name.startswith(".cairn")
        } == FILES
    assert [f.path for f in cairn.data.files("second")] == sorted(FILES)


def test_content_added_again_after_gc_is_whole_in_the_same_dataset(
    project: Path, store: Store
) -> None:
    """Re-adding reclaimed content to its own dataset makes a readable next version."""
    raw = make_folder(project / "raw", FILES)
    cairn.data.add(raw, "ds")
    cairn.data.remove_version("ds@v1")
    assert cairn.data.gc(grace_s=0).manifests == 1
    again = cairn.data.add(raw, "ds")
    assert again.created and again.version.ref == "ds@v2" and again.stored == len(FILES)
    assert cairn.data.gc(grace_s=0).objects == 0
    copy = cairn.data.get("ds@v2", project / "copy")
    assert (copy / "sub" / "b.bin").read_bytes() == FILES["sub/b.bin"]
