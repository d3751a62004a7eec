"""Symbolic links (decision 0011): a link inside a stored folder is read as its file only when
that file is inside the folder; nothing is ever written through a link in a destination."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import cairn
from cairn.cli.main import main
from cairn.core.destination import place
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.core.hashing import hash_bytes
from cairn.store import Store, get_store
from tests.data.folders import make_folder

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- not for the store"


def _project_with_secret(project: Path) -> tuple[Path, Path]:
    """A data folder (``data/``) and a secret file outside it; return both."""
    outside = make_folder(project / "home" / ".ssh", {"id_ed25519": SECRET})
    data = make_folder(project / "data", {"table.csv": b"a\n1\n"})
    return data, outside / "id_ed25519"


def test_add_refuses_a_link_out_of_the_folder(
    project: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A link to a file outside the added folder is refused, clearly, and nothing is stored."""
    data, secret = _project_with_secret(project)
    (data / "key").symlink_to(secret)
    with pytest.raises(InvalidInputError, match="outside") as caught:
        cairn.data.add(data, "leak")
    assert str(data / "key") in str(caught.value) and "remove the link" in str(caught.value)
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "add", str(data), "--name", "leak"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "outside" in err and "Traceback" not in err
    with pytest.raises(NotFoundError):
        cairn.data.version("leak")
    assert not get_store().artifacts.exists(hash_bytes(SECRET))


@pytest.mark.parametrize("kind", ["dangling", "folder", "loop", "escaping-chain"])
def test_add_refuses_links_it_cannot_read_as_a_file_inside(
    project: Path, store: Store, kind: str
) -> None:
    """Dangling links, links to folders, loops and chains that leave the folder are refused."""
    data, secret = _project_with_secret(project)
    link = data / "link"
    if kind == "dangling":
        link.symlink_to(data / "gone.csv")
    elif kind == "folder":
        (data / "sub").mkdir()
        link.symlink_to(data / "sub")
    elif kind == "loop":
        link.symlink_to(data / "link2")
        (data / "link2").symlink_to(link)
    else:  # a link to a link inside, which leads out
        (data / "hop").symlink_to(secret)
        link.symlink_to("hop")
    with pytest.raises(InvalidInputError, match=re.escape(str(data / "link"))):
        cairn.data.add(data, "bad")
    assert not get_store().artifacts.exists(hash_bytes(SECRET))


def test_add_reads_a_link_inside_the_folder_as_its_file(project: Path, store: Store) -> None:
    """A link to a file inside the folder is stored as that file's content under its own path,
    and get writes it as a regular file."""
    data = make_folder(project / "data", {"2024/sales.csv": b"a\n1\n"})
    (data / "latest.csv").symlink_to(Path("2024") / "sales.csv")
    added = cairn.data.add(data, "sales")
    files = {f.path: f.digest for f in cairn.data.files("sales")}
    assert added.files == 2 and files["latest.csv"] == files["2024/sales.csv"]
    out = cairn.data.get("sales", project / "out")
    assert not (out / "latest.csv").is_symlink()
    assert (out / "latest.csv").read_bytes() == b"a\n1\n"
    assert not cairn.data.add(data, "sales").created  # the stat cache agrees with the scan


def test_log_artifact_refuses_a_link_out_of_the_folder(
    project: Path, store: Store, quiet_capture: None
) -> None:
    """log_artifact of a folder holding a link to an outside file stores nothing and says
    why; a link inside the folder is stored as its file."""
    data, secret = _project_with_secret(project)
    (data / "inside.csv").symlink_to(data / "table.csv")
    with cairn.run() as run:
        stored = run.log_artifact(data, "clean")
        (data / "key").symlink_to(secret)
        with pytest.raises(InvalidInputError, match="outside"):
            run.log_artifact(data, "leak")
    assert {a.path for a in stored} == {"clean/inside.csv", "clean/table.csv"}
    assert {a.path for a in cairn.get_run(run.id).artifacts} == {
        "clean/inside.csv",
        "clean/table.csv",
    }
    assert not get_store().artifacts.exists(hash_bytes(SECRET))


def test_get_never_writes_through_a_link_in_the_destination(
    project: Path, store: Store, artifacts: Store
) -> None:
    """A linked folder in the destination is refused even with force, before anything is
    written; a link where a file goes is replaced (with force), its target untouched."""
    data = make_folder(project / "data", {"sub/x.csv": b"x\n1\n", "top.csv": b"t\n2\n"})
    cairn.data.add(data, "ds")
    elsewhere = make_folder(project / "elsewhere", {"keep.txt": b"mine"})
    dest = project / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(elsewhere)
    for force in (False, True):
        with pytest.raises(InvalidInputError, match="symbolic link"):
            cairn.data.get("ds", dest, force=force)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in dest.iterdir()) == ["sub"]
    (dest / "sub").unlink()
    (dest / "top.csv").symlink_to(elsewhere / "keep.txt")
    with pytest.raises(InvalidInputError, match="already exist"):
        cairn.data.get("ds", dest)
    cairn.data.get("ds", dest, force=True)
    assert not (dest / "top.csv").is_symlink() and (dest / "top.csv").read_bytes() == b"t\n2\n"
    assert (elsewhere / "keep.txt").read_bytes() == b"mine"
    assert (dest / "sub" / "x.csv").read_bytes() == b"x\n1\n"


def test_a_folder_swapped_for_a_link_after_the_check_is_not_written_through(
    tmp_path: Path,
) -> None:
    """Moving files in opens each folder without following links, so a folder replaced by a
    link after the destination was checked is refused rather than written through."""
    staging = make_folder(tmp_path / "staging", {"sub/x.csv": b"x"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(elsewhere)
    if not hasattr(os, "O_NOFOLLOW"):
        pytest.skip("this platform cannot open a folder without following a link")
    with pytest.raises(InvalidInputError, match="symbolic link"):
        place(staging, dest, ["sub/x.csv"])
    assert list(elsewhere.iterdir()) == []
