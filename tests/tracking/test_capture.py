"""Implicit capture: git state and diff, machine, process, packages and output of a run."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.core.errors import GitNotFoundError
from cairn.core.settings import configure
from cairn.store import get_store
from cairn.tracking import RunRecord
from cairn.tracking.capture import packages_text
from tests.records import own_artifacts

GIT_ID = ["-c", "user.email=test@example.com", "-c", "user.name=test"]


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` and return its output."""
    done = subprocess.run(
        ["git", *GIT_ID, *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return done.stdout


def artifact_bytes(record: RunRecord, path: str) -> bytes:
    """The content of one artifact of ``record``."""
    entry = next(a for a in record.artifacts if a.path == path)
    return get_store().artifacts.read_bytes(entry.digest)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (outside .git and .cairn) with its content."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not {".git", ".cairn"} & set(p.relative_to(folder).parts)
    }


@pytest.fixture
def repo(project: Path) -> Path:
    """The project as a git repository with one commit and a remote with credentials."""
    git(project, "init", "-q", "-b", "main")
    (project / "train.py").write_text("lr = 0.01\nprint(lr)\n")
    (project / "sub").mkdir()
    (project / "sub" / "data.bin").write_bytes(bytes(range(256)) * 4)
    (project / "sub" / "old.txt").write_text("to be deleted\n")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "first")
    git(project, "remote", "add", "origin", "https://alice:s3cret@example.com/team/repo.git")
    return project


def test_dirty_repo_diff_rebuilds_the_work_tree(repo: Path, tmp_path: Path) -> None:
    """A run in a dirty repo records a diff that git apply turns the commit into the work tree."""
    (repo / "train.py").write_text("lr = 0.1\nprint(lr)\n")  # changed, not staged
    (repo / "sub" / "old.txt").unlink()  # deleted
    (repo / "sub" / "data.bin").write_bytes(bytes(reversed(range(256))) * 4)  # binary change
    git(repo, "add", "sub/data.bin")  # staged
    (repo / "notes.md").write_text("# new, untracked\n")
    (repo / "sub" / "new.bin").write_bytes(b"\0\1\2" * 50)  # untracked binary
    (repo / "huge.csv").write_text("x\n" * 2000)  # untracked, over the limit below
    configure(capture={"untracked_max_kb": 2})
    with cairn.run() as run:
        pass
    record = cairn.get_run(run.id)
    commit = git(repo, "rev-parse", "HEAD").strip()
    assert record.tags["cairn.git.commit"] == commit
    assert record.tags["cairn.git.branch"] == "main"
    assert record.tags["cairn.git.dirty"] == "true"
    assert record.tags["cairn.git.remote"] == "https://example.com/team/repo.git"
    assert record.tags["cairn.git.untracked_skipped"] == "1"
    diff = artifact_bytes(record, "cairn/git.diff")
    assert b"huge.csv" not in diff and b".cairn" not in diff

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    git(clone, "checkout", "-q", commit)
    (tmp_path / "run.diff").write_bytes(diff)
    git(clone, "apply", "--binary", str(tmp_path / "run.diff"))
    expected = tree(repo)
    del expected["huge.csv"]
    assert tree(clone) == expected
    assert git(repo, "status", "--porcelain", "--", "sub/data.bin").startswith("M ")  # index kept


def test_clean_repo_records_the_commit_and_no_diff(repo: Path) -> None:
    """A clean work tree records its commit, dirty=false and no diff artifact."""
    with cairn.run() as run:
        pass
    record = cairn.get_run(run.id)
    assert record.tags["cairn.git.dirty"] == "false"
    assert record.tags["cairn.git.commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert "cairn/git.diff" not in {a.path for a in record.artifacts}


def test_repo_without_commits_diffs_from_the_empty_tree(project: Path, tmp_path: Path) -> None:
    """Before the first commit, the diff holds every file and applies to an empty repo."""
    git(project, "init", "-q", "-b", "main")
    (project / "a.py").write_text("print('a')\n")
    with cairn.run() as run:
        pass
    record = cairn.get_run(run.id)
    assert "cairn.git.commit" not in record.tags
    assert record.tags["cairn.git.dirty"] == "true"
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    (tmp_path / "run.diff").write_bytes(artifact_bytes(record, "cairn/git.diff"))
    git(empty, "apply", "--binary", str(tmp_path / "run.diff"))
    assert (empty / "a.py").read_text() == "print('a')\n"


def test_not_a_repository_is_fine_and_said_once(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Outside git a run records no git facts and says so once per folder."""
    caplog.set_level(logging.INFO, logger="cairn")
    for _ in range(2):
        with cairn.run() as run:
            pass
    assert not any(k.startswith("cairn.git.") for k in cairn.get_run(run.id).tags)
    said = [r for r in caplog.records if "not in a git repository" in r.getMessage()]
    assert len(said) == 1  # once for this folder, though two runs started here


def test_missing_git_command_is_a_clear_error(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a git repo without a git command, starting a run says what to do."""
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["PATH"] = str(empty_path)
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli.main", "run", "--", "/bin/true"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "git command was not found" in done.stderr and "capture" in done.stderr
    assert "Traceback" not in done.stderr
    monkeypatch.setenv("PATH", str(empty_path))
    with pytest.raises(GitNotFoundError):
        cairn.run()
    assert cairn.tracking.find_runs() == []  # refused before anything was written


def test_machine_process_and_packages_are_recorded(repo: Path) -> None:
    """Hardware, interpreter, command, working directory and installed packages are captured."""
    with cairn.run() as run:
        pass
    record = cairn.get_run(run.id)
    tags = record.tags
    assert tags["cairn.python"] == ".".join(map(str, sys.version_info[:3]))
    assert tags["cairn.executable"] == sys.executable
    assert int(tags["cairn.cpu_count"]) == os.cpu_count()
    assert float(tags["cairn.ram_gb"]) > 0
    assert tags["cairn.host"] and tags["cairn.platform"] and tags["cairn.cpu"]
    assert tags["cairn.cwd"] == str(repo)
    assert tags["cairn.command"] == shlex.join(getattr(sys, "orig_argv", sys.argv))
    packages = artifact_bytes(record, "cairn/packages.txt").decode()
    names = {line.split("==")[0].lower() for line in packages.splitlines()}
    assert {"cairn-mlops", "psutil", "sqlalchemy", "pytest"} <= names


def test_package_list_is_cached_until_an_install(tmp_path: Path) -> None:
    """The package list is read from the cache when nothing was installed since."""
    cache = tmp_path / "cache"
    first = packages_text(cache)
    (cached,) = cache.iterdir()
    assert cached.read_text().split("\n", 1)[1] == first
    assert packages_text(cache) == first


def test_every_capture_can_be_switched_off(repo: Path) -> None:
    """With capture switched off a run records only what the program logged."""
    (repo / "train.py").write_text("changed\n")
    configure(
        capture={
            "git": False,
            "environment": False,
            "packages": False,
            "output": False,
            "system_metrics": False,
            "seed": False,
        }
    )
    with cairn.run() as run:
        print("not mirrored")
        run.log({"x": 1})
    record = cairn.get_run(run.id)
    assert record.tags == {}
    assert record.artifacts == []
    assert record.metrics == {"x": 1.0}


OUTPUT_SCRIPT = """
import sys
import cairn
with cairn.run() as run:
    print(run.id)
    print("to stdout: naïve ✓")
    print("to stderr", file=sys.stderr)
    sys.stdout.write("no newline")
print("after the run")
"""


def test_output_is_mirrored_without_changing_what_the_user_sees(project: Path) -> None:
    """stdout and stderr of a run reach the terminal unchanged and its output.log."""
    script = project / "script.py"
    script.write_text(OUTPUT_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=project, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    stdout = done.stdout.decode()
    run_id = stdout.splitlines()[0]
    assert stdout == f"{run_id}\nto stdout: naïve ✓\nno newlineafter the run\n"
    assert "to stderr" in done.stderr.decode()
    log = artifact_bytes(cairn.get_run(run_id), "cairn/output.log").decode()
    assert "to stdout: naïve ✓\n" in log and "to stderr\n" in log and "no newline" in log
    assert "after the run" not in log
    assert not list((project / ".cairn" / "tmp").glob("output-*"))  # the spool is gone


LAUNCHED = """
import cairn
cairn.log({"x": 1.0})
"""


def test_launched_program_records_itself_and_the_launcher_the_code(repo: Path) -> None:
    """Under cairn run the launcher records git and machine, the program its interpreter."""
    (repo / "train.py").write_text(LAUNCHED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cairn.cli.main",
            "run",
            "--seed",
            "3",
            "--",
            sys.executable,
            "train.py",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (found,) = cairn.tracking.find_runs()
    record = cairn.get_run(found.id)
    assert record.status == "finished"
    assert record.tags["cairn.git.dirty"] == "true"
    assert record.tags["cairn.entry_point"] == "train.py"
    assert record.tags["cairn.command"].endswith("train.py")
    assert record.tags["cairn.seed"] == "3"
    assert {"cairn/git.diff", "cairn/packages.txt"} <= {a.path for a in record.artifacts}
    assert "system/rss_mb" in record.metrics
    assert own_artifacts(record) == []


def test_home_folder_stays_out_of_git(project: Path) -> None:
    """The store cairn creates in a repository is ignored by git and never makes it dirty."""
    git(project, "init", "-q")
    with cairn.run() as run:
        pass
    assert git(project, "status", "--porcelain") == ""
    (project / "a.py").write_text("x = 1\n")
    git(project, "add", "a.py")
    git(project, "commit", "-q", "-m", "a")
    with cairn.run() as run:
        pass
    assert cairn.get_run(run.id).tags["cairn.git.dirty"] == "false"


def test_notebook_name_is_recorded_inside_jupyter(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a Jupyter kernel the notebook's path is recorded (Jupyter Server's or VS Code's)."""
    import types

    from cairn.tracking.capture import capture_process

    main = types.ModuleType("__main__")  # a kernel's __main__ has no __file__
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert "cairn.notebook" not in capture_process(None)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/analysis.ipynb")
    tags = capture_process(None)
    assert tags["cairn.notebook"] == "/work/analysis.ipynb"
    assert "cairn.entry_point" not in tags
    main.__vsc_ipynb_file__ = "/code/train.ipynb"  # type: ignore[attr-defined]
    assert capture_process(None)["cairn.notebook"] == "/code/train.ipynb"
