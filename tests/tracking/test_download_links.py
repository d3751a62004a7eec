"""download_artifacts writes only inside its destination (decision 0011): never through a
symbolic link found there, and nothing at all when it fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import cairn
from cairn.core.errors import ArtifactCorruptedError, InvalidInputError
from cairn.core.settings import configure
from cairn.store import Store, get_store
from tests.data.folders import make_folder


def _run_with_reports(project: Path) -> str:
    """A run with the artifacts reports/top.txt and reports/sub/a.txt; return its id."""
    folder = make_folder(project / "report", {"top.txt": b"top", "sub/a.txt": b"a"})
    with cairn.run() as run:
        cairn.log_artifact(folder, name="reports")
    return run.id


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (links not followed) with its bytes, or its link target."""
    found: dict[str, bytes] = {}
    for parent, dirs, names in os.walk(folder):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(parent, d))]:
            path = Path(parent) / name
            rel = path.relative_to(folder).as_posix()
            found[rel] = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return found


@pytest.mark.parametrize("linked", ["reports", "reports/sub"])
def test_download_refuses_a_linked_folder_in_the_destination(
    project: Path, store: Store, artifacts: Store, linked: str
) -> None:
    """A symbolic link in the destination where the artifacts have a folder is refused with a
    clear error, and nothing is written there or where the link points."""
    run_id = _run_with_reports(project)
    elsewhere = make_folder(project / "elsewhere", {"keep.txt": b"mine"})
    dest = project / "dest"
    (dest / linked).parent.mkdir(parents=True, exist_ok=True)
    (dest / linked).symlink_to(elsewhere, target_is_directory=True)
    before = _tree(dest)
    with pytest.raises(InvalidInputError, match="symbolic link") as caught:
        cairn.download_artifacts(run_id, "reports", dest)
    assert str(dest / linked) in str(caught.value) and "Remove the link" in str(caught.value)
    assert _tree(elsewhere) == {"keep.txt": b"mine"}
    assert _tree(dest) == before  # no staging folder left behind either


def test_download_replaces_a_link_where_a_file_goes(
    project: Path, store: Store, artifacts: Store
) -> None:
    """A link in the destination where an artifact file goes is replaced by the file; the file
    it pointed to is untouched."""
    run_id = _run_with_reports(project)
    elsewhere = make_folder(project / "elsewhere", {"keep.txt": b"mine"})
    dest = project / "dest"
    (dest / "reports").mkdir(parents=True)
    (dest / "reports" / "top.txt").symlink_to(elsewhere / "keep.txt")
    out = cairn.download_artifacts(run_id, "reports", dest)
    assert out == dest / "reports"
    assert _tree(dest) == {"reports/top.txt": b"top", "reports/sub/a.txt": b"a"}
    assert _tree(elsewhere) == {"keep.txt": b"mine"}


def test_download_into_a_destination_that_is_a_link(project: Path, store: Store) -> None:
    """The destination the caller names may itself be a link to a folder: the files land in
    that folder; a link to a missing folder is refused, saying what to do."""
    run_id = _run_with_reports(project)
    real = project / "real"
    real.mkdir()
    (project / "chosen").symlink_to(real, target_is_directory=True)
    cairn.download_artifacts(run_id, "reports", project / "chosen")
    assert _tree(real) == {"reports/top.txt": b"top", "reports/sub/a.txt": b"a"}
    (project / "dangling").symlink_to(project / "missing")
    with pytest.raises(InvalidInputError, match="does not exist; create that folder"):
        cairn.download_artifacts(run_id, "reports", project / "dangling")
    assert not (project / "missing").exists()


def test_a_failed_download_writes_no_file(project: Path, store: Store) -> None:
    """When one artifact's stored bytes are damaged, the download fails naming it and writes
    none of the files, not even those verified before it."""
    configure(artifacts=str(project / "artifact-store"))
    run_id = _run_with_reports(project)
    digest = {a.path: a.digest for a in cairn.get_run(run_id).artifacts}["reports/top.txt"]
    damaged = Path(get_store().artifacts.object_path(digest))
    damaged.chmod(0o644)
    damaged.write_bytes(b"tampered")
    dest = project / "dest"
    with pytest.raises(ArtifactCorruptedError):
        cairn.download_artifacts(run_id, "reports", dest)
    assert _tree(dest) == {}
