"""What a run records without being asked: code, machine, process and installed packages.

Capture is split by what a fact belongs to, because ``cairn run`` starts the run in one
process and the program attaches to it from another:

- ``capture_code`` (git) and ``capture_machine`` (host, CPU, RAM, GPUs) belong to the run;
  the process that creates it records them once.
- ``capture_process`` (interpreter, command line, entry script, working directory, notebook)
  and ``packages_text`` belong to the process that runs the program, so a launched Python
  program records its own interpreter and packages rather than the launcher's.

Git is asked through its command line (``git status --porcelain=v2`` and, only when the work
tree is dirty, ``git diff`` against a temporary copy of the index in which untracked files are
marked intent-to-add), so the diff is exactly what ``git apply`` needs to rebuild the work tree
from the commit. The package list is cached on disk, keyed by the modification times of the
folders on ``sys.path`` (installing or removing a distribution changes its folder's mtime), so
only the first run after a change pays for ``importlib.metadata``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cairn.core.errors import GitNotFoundError
from cairn.core.logging import logger

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree object
GIT_TIMEOUT_S = 30.0
_said_not_a_repo: set[Path] = set()
_said_lock = threading.Lock()


@dataclass
class CodeCapture:
    """Git facts of a work tree: tags for the run, and the uncommitted diff (None if clean)."""

    tags: dict[str, str] = field(default_factory=dict)
    diff: bytes | None = None
    skipped: list[str] = field(default_factory=list)  # untracked files too large for the diff


def find_work_tree(start: Path) -> Path | None:
    """Return the top of the git work tree holding ``start``, or None (no git command run)."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def capture_code(start: Path, exclude: Path | None, untracked_max_kb: int) -> CodeCapture:
    """Record commit, branch, remote, dirty flag and uncommitted diff of the repo at ``start``.

    ``exclude`` (cairn's home folder) is left out of the dirty check and the diff; it also
    remembers that a folder is not a repository, so that is said only once.
    """
    top = find_work_tree(start.resolve())
    if top is None:
        _say_not_a_repo(start, exclude)
        return CodeCapture()
    git = shutil.which("git")
    if git is None:
        raise GitNotFoundError(
            f"{top} is a git repository but the git command was not found; install git, or "
            "turn code capture off with 'capture: {git: false}' in cairn.yaml "
            "(or CAIRN_CAPTURE__GIT=false)"
        )
    pathspec = ["--", "."]
    if exclude is not None:
        with contextlib.suppress(ValueError):
            pathspec.append(f":(exclude){exclude.resolve().relative_to(top).as_posix()}")
    env = _git_env()
    remote = subprocess.Popen(
        [git, "config", "--get", "remote.origin.url"],
        cwd=top,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    status = _git(
        [git, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all", *pathspec],
        top,
        env,
    )
    try:
        url = remote.communicate(timeout=GIT_TIMEOUT_S)[0].decode("utf-8", "replace").strip()
    except subprocess.TimeoutExpired:
        remote.kill()
        url = ""
    commit, branch, dirty, untracked = _parse_status(status)
    result = CodeCapture()
    if commit:
        result.tags["cairn.git.commit"] = commit
    if branch:
        result.tags["cairn.git.branch"] = branch
    if url:
        result.tags["cairn.git.remote"] = _strip_credentials(url)
    result.tags["cairn.git.dirty"] = "true" if dirty else "false"
    if dirty:
        limit = untracked_max_kb * 1024
        included: list[str] = []
        for name in untracked:
            try:
                small = (top / name).stat().st_size <= limit
            except OSError:
                continue  # vanished since git listed it
            (included if small else result.skipped).append(name)
        result.diff = _diff(git, top, env, commit or EMPTY_TREE, included, pathspec)
        if result.skipped:
            result.tags["cairn.git.untracked_skipped"] = str(len(result.skipped))
            logger.info(
                "left %d untracked file(s) over %d KiB out of the run's diff (capture."
                "untracked_max_kb): %s",
                len(result.skipped),
                untracked_max_kb,
                ", ".join(result.skipped[:5]) + (" ..." if len(result.skipped) > 5 else ""),
            )
    return result


def _say_not_a_repo(start: Path, home: Path | None) -> None:
    """Say once per folder, across processes too (a marker in cairn's home), that there is
    no repository: every launched program would otherwise repeat it."""
    with _said_lock:
        if start in _said_not_a_repo:
            return
        _said_not_a_repo.add(start)
    if home is not None:
        key = hashlib.blake2b(str(start).encode(), digest_size=8).hexdigest()
        marker = home / "cache" / f"not-a-git-repo-{key}"
        if marker.exists():
            return
        with contextlib.suppress(OSError):
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
    logger.info("%s is not in a git repository: runs record no commit or diff", start)


def _git_env() -> dict[str, str]:
    # Never prompt, never page, never take a lock on the real index (status refreshes it).
    env = dict(os.environ)
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"})
    return env


def _git(args: list[str], cwd: Path, env: dict[str, str]) -> bytes:
    try:
        done = subprocess.run(
            args, cwd=cwd, env=env, capture_output=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        logger.warning(
            "git %s took longer than %ss; the run records no git facts", args[1], GIT_TIMEOUT_S
        )
        return b""
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        logger.warning("git %s failed in %s: %s", args[1], cwd, message)
        return b""
    return done.stdout


def _parse_status(output: bytes) -> tuple[str | None, str | None, bool, list[str]]:
    commit = branch = None
    dirty = False
    untracked: list[str] = []
    records = output.split(b"\0")
    index = 0
    while index < len(records):
        record = records[index].decode("utf-8", "surrogateescape")
        index += 1
        if record.startswith("# branch.oid "):
            oid = record.split(" ", 2)[2]
            commit = None if oid == "(initial)" else oid
        elif record.startswith("# branch.head "):
            head = record.split(" ", 2)[2]
            branch = None if head == "(detached)" else head
        elif record.startswith("? "):
            dirty = True
            untracked.append(record[2:])
        elif record[:2] in ("1 ", "2 ", "u "):
            dirty = True
            if record.startswith("2 "):
                index += 1  # a rename record is followed by its original path
    return commit, branch, dirty, untracked


def _strip_credentials(url: str) -> str:
    # https://user:token@host/repo -> https://host/repo; scp-like git@host:repo stays.
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


def _index_path(top: Path) -> Path | None:
    dot_git = top / ".git"
    if dot_git.is_dir():
        return dot_git / "index"
    try:  # a worktree or submodule: ".git" is a file naming the real git folder
        text = dot_git.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    folder = Path(text.removeprefix("gitdir:").strip())
    return (folder if folder.is_absolute() else top / folder) / "index"


def _diff(
    git: str, top: Path, env: dict[str, str], base: str, untracked: list[str], spec: list[str]
) -> bytes:
    """``git diff --binary`` from ``base`` to the work tree, untracked files included."""
    index = _index_path(top)
    with tempfile.TemporaryDirectory(prefix="cairn-git-") as scratch:
        temp_index = Path(scratch) / "index"
        if index is not None and index.is_file():
            shutil.copyfile(index, temp_index)
        diff_env = {**env, "GIT_INDEX_FILE": str(temp_index)}
        if untracked:
            # Intent-to-add in a copy of the index: the user's staging area is never touched.
            for start in range(0, len(untracked), 500):
                _git(
                    [git, "add", "--intent-to-add", "--", *untracked[start : start + 500]],
                    top,
                    diff_env,
                )
        return _git([git, "diff", base, "--binary", "--no-color", *spec], top, diff_env)


@dataclass(frozen=True)
class Gpu:
    """One GPU: its name, memory and driver."""

    name: str
    memory_mb: int
    driver: str


def capture_machine() -> dict[str, str]:
    """Host name, platform, CPU model and count, RAM, and GPUs (when any are found)."""
    import psutil

    uname = platform.uname()
    libc = _libc()
    tags = {
        "cairn.host": socket.gethostname(),
        "cairn.platform": f"{uname.system}-{uname.release}-{uname.machine}{libc}",
        "cairn.cpu": _cpu_model() or uname.machine,
        "cairn.cpu_count": str(os.cpu_count() or 0),
        "cairn.ram_gb": f"{psutil.virtual_memory().total / 2**30:.1f}",
    }
    gpus = find_gpus()
    if gpus:
        tags["cairn.gpus"] = "; ".join(
            f"{g.name} ({g.memory_mb} MiB, driver {g.driver})" for g in gpus
        )
    return tags


def _libc() -> str:
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"; cheap, unlike libc_ver()
    except (AttributeError, ValueError, OSError):
        return ""
    return f"-with-{version.replace(' ', '')}" if version else ""


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def find_gpus() -> list[Gpu]:
    """NVIDIA GPUs through nvidia-ml-py when installed, else ``nvidia-smi`` when on PATH."""
    try:
        import pynvml
    except ImportError:
        return _gpus_from_smi()
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no GPU: pynvml raises its own NVMLError family
        return []
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        found = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total // 2**20
            found.append(Gpu(_text(pynvml.nvmlDeviceGetName(handle)), int(memory), driver))
        return found
    except Exception as exc:
        logger.debug("could not list GPUs through NVML: %s", exc)
        return []
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _gpus_from_smi() -> list[Gpu]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    query = "--query-gpu=name,memory.total,driver_version"
    try:
        done = subprocess.run(
            [smi, query, "--format=csv,noheader,nounits"],
            capture_output=True,
            timeout=10,
            text=True,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = []
    for line in done.stdout.splitlines() if done.returncode == 0 else []:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[1].isdigit():
            found.append(Gpu(parts[0], int(parts[1]), parts[2]))
    return found


def capture_process(work_tree: Path | None) -> dict[str, str]:
    """Interpreter, command line, entry script, working directory and notebook name."""
    tags = {
        "cairn.python": platform.python_version(),
        "cairn.executable": sys.executable,
        "cairn.command": shlex.join(getattr(sys, "orig_argv", sys.argv)),
        "cairn.cwd": os.getcwd(),
    }
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if script:
        path = Path(script).resolve()
        if work_tree is not None:
            with contextlib.suppress(ValueError):
                path = path.relative_to(work_tree.resolve())
        tags["cairn.entry_point"] = path.as_posix()
    notebook = _notebook(main)
    if notebook:
        tags["cairn.notebook"] = notebook
    return tags


def _notebook(main: object) -> str | None:
    if "ipykernel" not in sys.modules:
        return None
    # VS Code names the notebook in the kernel's globals; Jupyter Server (2.x) in the kernel's
    # environment. These are facts to record, not settings, so they are read here.
    vscode = getattr(main, "__vsc_ipynb_file__", None)
    if isinstance(vscode, str) and vscode:
        return vscode
    return os.environ.get("JPY_SESSION_NAME") or "(a Jupyter notebook)"


def packages_text(cache_dir: Path | None) -> str:
    """Installed distributions as sorted ``name==version`` lines (cached across runs)."""
    signature = _path_signature()
    cache = None
    if cache_dir is not None:
        key = hashlib.blake2b(sys.executable.encode(), digest_size=8).hexdigest()
        cache = cache_dir / f"packages-{key}.txt"
        try:
            head, _, body = cache.read_text(encoding="utf-8").partition("\n")
            if head == signature:
                return body
        except OSError:
            pass
    from importlib import metadata

    lines = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            lines.add(f"{name}=={dist.version}")
    body = "".join(f"{line}\n" for line in sorted(lines, key=str.lower))
    if cache is not None:
        with contextlib.suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            temp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
            temp.write_text(f"{signature}\n{body}", encoding="utf-8")
            os.replace(temp, cache)
    return body


def _path_signature() -> str:
    parts = []
    for entry in sys.path:
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}:-")
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()
