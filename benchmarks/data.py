"""Data versioning: cairn vs DVC, side by side in one run.

Run ``.venv/bin/python benchmarks/data.py [--quick]``. DVC (the anchor) lives in its own
virtual environment, ``benchmarks/.venvs/dvc`` (created on first use), and only its ``dvc``
executable is run, so it never constrains cairn's dependencies. Both tools are timed as users
meet them: one CLI command in a fresh process, process start included (the start-up cost of
each CLI is printed on its own, so readers see how much of a gap it explains).

Data (generated once per run with ``os.urandom`` under ``benchmarks/.work/``, on the same disk
as everything else): one file of 1 GiB, and a folder of 10,000 files of 100 KiB (``--quick``:
128 MiB and 1,000 files). Each measurement gets a fresh scratch project per tool with its own
copy of the data (``cp --reflink=auto``, untimed), so the bytes each tool adds are identical
and neither tool can alter what the other reads (DVC may replace workspace files by links into
its cache, depending on its cache type; cairn must not touch its input at all). Before every
timed command the machine's dirty pages are flushed (``sync``) and the input is read once, so
both tools start from a warm page cache with no write-back of the previous step competing.

Figures: (a) add the one file, (b) add the folder, (c) add the folder again unchanged, (d)
status with nothing changed. (a) and (b) start from fresh stores each repeat; (c) and (d) run
in (b)'s project. Medians over 3 repeats (``--quick``: 1), alternating which tool goes first.

- DVC: ``git init -q`` then ``dvc init -q``, the set-up DVC's own get-started guide uses (DVC
  in a Git repository; ``--no-scm`` is documented for projects without Git). ``dvc add`` then
  also writes the ``.gitignore`` entries and checks Git for the path, as users get; staging
  with ``git add`` is off by default (``core.autostage``) and left so. Analytics off
  (``core.analytics false`` and ``DVC_NO_ANALYTICS=1``); DVC's site cache (its stat cache and
  index) and its global/system configuration point into the scratch folder, so no state of an
  earlier run or of the user is reused. Commands: ``dvc add big.bin``, ``dvc add files/``
  (twice), ``dvc status``. DVC's default cache type is ``reflink,copy``: on a file system
  without reflinks (ext4) it copies into its cache; it does not fsync.
- cairn: the main environment's ``cairn`` executable with ``CAIRN_HOME=<project>/.cairn`` (and
  no other ``CAIRN_*`` variable), cwd the project: ``cairn data add <path> --name <name>``
  (twice for (c), which must print "unchanged") and ``cairn data status <name>`` (must print
  "unchanged"). Store creation is untimed for both tools (``dvc init``; cairn: the store is
  opened once by a worker before the first timed command).

Also: the raw read bandwidth of the big file (``readinto`` a reused 1 MiB buffer, warm cache),
``cairn.core.hashing.hash_file`` on the same file, and BLAKE3 with all threads over a memory
map (what the hash itself can do), each in GB/s (10^9 bytes), timed in turns by one worker
process (median of 5 rounds). Sanity checks (warnings, not failures): DVC's ``.dvc`` files
record the right size and file count and do not change on the unchanged re-add; each tool's
store holds at least the data's bytes and the workspace files share no inode with the store
(a copy, not a link).

Prints ``ratio <figure>: <N.NN>x (goal >= <G>x) PASS|FAIL`` and
``figure <name>: <value> <unit>`` lines;
missing a goal is reported, not fatal, but a failing subprocess exits non-zero with its output.
Until ``cairn data`` exists, the cairn side prints ``unavailable`` and the ratios are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import cairn_version, fail, ratio
from _common import clean_env as common_clean_env

HERE = Path(__file__).resolve().parent
DVC_VENV = HERE / ".venvs" / "dvc"
DVC_PY = DVC_VENV / "bin" / "python"
DVC_BIN = DVC_VENV / "bin" / "dvc"
WORK = HERE / ".work"
MARK = "@@RESULT@@"
MIB = 1 << 20
GB = 1e9

BIG = "big.bin"
FOLDER = "files"

# Raw read bandwidth, cairn's hash_file and BLAKE3 over a memory map, on the same warm file;
# the three are timed in turns (one of each per round), so a noisy moment hits all of them.
HASH_WORKER = f"""
import json, sys, time
path, repeats = sys.argv[1], int(sys.argv[2])
buf = memoryview(bytearray(1 << 20))
def read_all():
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
from cairn.core.hashing import hash_file

tasks = {{"read": read_all, "hash_file": lambda: hash_file(path)}}
try:
    from blake3 import blake3
    auto = blake3.AUTO
    has_mmap = hasattr(blake3(), "update_mmap")
except (ImportError, AttributeError):
    has_mmap = False
if has_mmap:
    def mmap_hash():
        h = blake3(max_threads=auto)
        h.update_mmap(path)
        h.hexdigest()
    tasks["blake3_mmap"] = mmap_hash
result = {{name: [] for name in tasks}}
for fn in tasks.values():
    fn()  # warm-up: page cache, imports, thread pool
for _ in range(repeats):
    for name, fn in tasks.items():
        t = time.perf_counter()
        fn()
        result[name].append(time.perf_counter() - t)
print({MARK!r}, json.dumps(result), flush=True)
"""

# Untimed: opens (creates) cairn's store in CAIRN_HOME, as `dvc init` does for DVC.
CAIRN_STORE_INIT = "from cairn.store import get_store; get_store().close()"


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without cairn, DVC, Git or virtualenv settings, plus ``extra``."""
    return common_clean_env("DVC_", "GIT_", **extra)


def run(cmd: list[str], *, cwd: Path, env: dict[str, str], what: str) -> tuple[float, str]:
    """Run ``cmd`` to completion; return its wall time and its output. Exit if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        fail(what, proc)
    return elapsed, proc.stdout + proc.stderr


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A fresh folder under ``benchmarks/.work``, removed afterwards (also on failure)."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"data-{prefix}-", dir=WORK))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def cairn_command() -> list[str]:
    """The main environment's ``cairn`` executable (or its module, if there is no script)."""
    script = Path(sys.executable).with_name("cairn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cairn.cli.main"]


@dataclass(frozen=True)
class Tool:
    """How one tool sets up a project and spells the four operations."""

    name: str

    def env(self, project: Path) -> dict[str, str]:
        raise NotImplementedError

    def init(self, project: Path) -> None:
        raise NotImplementedError

    def add(self, path: str, dataset: str) -> list[str]:
        raise NotImplementedError

    def status(self, dataset: str) -> list[str]:
        raise NotImplementedError

    def store(self, project: Path) -> Path:
        raise NotImplementedError


class Cairn(Tool):
    def env(self, project: Path) -> dict[str, str]:
        return clean_env(CAIRN_HOME=str(project / ".cairn"))

    def init(self, project: Path) -> None:
        (project / ".cairn").mkdir(exist_ok=True)  # makes ``project`` the project root
        cmd = [sys.executable, "-c", CAIRN_STORE_INIT]
        run(cmd, cwd=project, env=self.env(project), what="cairn store creation")

    def add(self, path: str, dataset: str) -> list[str]:
        return [*cairn_command(), "data", "add", path, "--name", dataset]

    def status(self, dataset: str) -> list[str]:
        return [*cairn_command(), "data", "status", dataset]

    def store(self, project: Path) -> Path:
        return project / ".cairn"


class Dvc(Tool):
    def env(self, project: Path) -> dict[str, str]:
        # DVC's state (stat cache, index) and configuration outside the repository, but inside
        # this measurement's scratch folder: nothing from earlier runs or the user is reused.
        outside = project.parent
        return clean_env(
            DVC_NO_ANALYTICS="1",
            DVC_SITE_CACHE_DIR=str(outside / "dvc-site-cache"),
            DVC_GLOBAL_CONFIG_DIR=str(outside / "dvc-global-config"),
            DVC_SYSTEM_CONFIG_DIR=str(outside / "dvc-system-config"),
        )

    def init(self, project: Path) -> None:
        env = self.env(project)
        run(["git", "init", "-q"], cwd=project, env=env, what="git init")
        run([str(DVC_BIN), "init", "-q"], cwd=project, env=env, what="dvc init")
        cmd = [str(DVC_BIN), "config", "core.analytics", "false"]
        run(cmd, cwd=project, env=env, what="dvc config")

    def add(self, path: str, dataset: str) -> list[str]:
        return [str(DVC_BIN), "add", f"{path}/" if path == FOLDER else path]

    def status(self, dataset: str) -> list[str]:
        return [str(DVC_BIN), "status"]

    def store(self, project: Path) -> Path:
        return project / ".dvc" / "cache"


CAIRN, DVC = Cairn("cairn"), Dvc("dvc")


def ensure_dvc() -> str:
    """Create the anchor's virtual environment on first use; return DVC's version."""
    if not DVC_PY.exists():
        print(f"creating {DVC_VENV} and installing dvc (one-off, takes a while)...", flush=True)
        DVC_VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["python3.11", "-m", "venv", str(DVC_VENV)], check=True)

    def anchor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(DVC_PY), *args], capture_output=True, text=True, check=False)

    probe = "import importlib.metadata as m; print(m.version('dvc'))"
    proc = anchor("-c", probe)
    if proc.returncode != 0 or not DVC_BIN.exists():
        install = anchor("-m", "pip", "install", "--quiet", "dvc")
        if install.returncode != 0:
            fail("pip install dvc", install)
        proc = anchor("-c", probe)
        if proc.returncode != 0:
            fail("dvc version probe", proc)
    return proc.stdout.strip()


def cairn_data_available() -> bool:
    """Whether this cairn has the ``cairn data`` command group (it may not exist yet)."""
    with scratch("probe") as d:
        cmd = [*cairn_command(), "data", "--help"]
        env = clean_env(CAIRN_HOME=str(d / ".cairn"))
        proc = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return True
    if "No such command" in proc.stdout + proc.stderr:
        return False
    fail("cairn data --help", proc)
    return False


def generate(root: Path, big_bytes: int, n_files: int, file_bytes: int) -> None:
    """Write the one big file and the folder of small files, random bytes."""
    with open(root / BIG, "wb") as f:
        for start in range(0, big_bytes, 64 * MIB):
            f.write(os.urandom(min(64 * MIB, big_bytes - start)))
    folder = root / FOLDER
    folder.mkdir()
    for i in range(n_files):
        (folder / f"{i:05d}.bin").write_bytes(os.urandom(file_bytes))
    os.sync()


def files_under(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for dirpath, _, names in os.walk(path):
        for name in names:
            yield Path(dirpath) / name


def warm(path: Path) -> None:
    """Flush dirty pages, then read ``path`` (a file or a folder) once into the page cache."""
    os.sync()
    buf = memoryview(bytearray(MIB))
    for file in files_under(path):
        with open(file, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def copy_in(data: Path, name: str, project: Path) -> None:
    """Give a project its own copy of ``data/name`` (untimed), written back to disk."""
    proc = subprocess.run(
        ["cp", "--reflink=auto", "-r", str(data / name), str(project / name)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        fail(f"cp {name}", proc)
    os.sync()


def store_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path``, each inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for file in files_under(path):
        st = file.lstat()
        if (st.st_dev, st.st_ino) not in seen and file.is_file() and not file.is_symlink():
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def check_copied(tool: Tool, project: Path, name: str, data_bytes: int) -> None:
    """Warn unless the tool's store holds the data's bytes as copies, not links."""
    held = store_bytes(tool.store(project))
    if held < data_bytes:
        print(
            f"  WARNING: {tool.name}'s store holds {held:,} bytes after adding {name}, "
            f"less than the data's {data_bytes:,}"
        )
    target = project / name
    linked = [f for f in files_under(target) if f.is_symlink() or f.lstat().st_nlink > 1]
    if linked:
        print(
            f"  WARNING: {len(linked):,} of {tool.name}'s workspace files in {name} are links "
            "(the store shares them: not a copy)"
        )


def dvc_recorded(project: Path, name: str) -> str:
    return (project / f"{name}.dvc").read_text()


def check_dvc_file(project: Path, name: str, size: int, n_files: int | None) -> None:
    """Warn unless DVC's ``.dvc`` file records the data's size (and file count)."""
    text = dvc_recorded(project, name)
    found = re.search(r"^\s*size: (\d+)$", text, re.M)
    count = re.search(r"^\s*nfiles: (\d+)$", text, re.M)
    if not found or int(found.group(1)) != size:
        print(f"  WARNING: {name}.dvc does not record size {size:,}:\n{text}")
    if n_files is not None and (not count or int(count.group(1)) != n_files):
        print(f"  WARNING: {name}.dvc does not record {n_files:,} files:\n{text}")


def expect(tool: Tool, what: str, output: str, needle: str) -> None:
    if needle not in output.lower():
        print(f"  WARNING: {tool.name} {what} did not print {needle!r}: {output.strip()[-300:]!r}")


@dataclass
class Times:
    """Seconds per measurement, for one tool."""

    add_file: list[float]
    add_folder: list[float]
    readd: list[float]
    status: list[float]


def measure_file(tool: Tool, data: Path, big_bytes: int, check: bool) -> float:
    """(a): add the one big file to a fresh store."""
    with scratch(f"{tool.name}-a") as d:
        project = d / "project"
        project.mkdir()
        tool.init(project)
        copy_in(data, BIG, project)
        warm(project / BIG)
        seconds, _ = run(
            tool.add(BIG, "big"), cwd=project, env=tool.env(project), what=f"{tool.name} add"
        )
        if check:
            check_copied(tool, project, BIG, big_bytes)
            if tool is DVC:
                check_dvc_file(project, BIG, big_bytes, None)
    return seconds


def measure_folder(
    tool: Tool, data: Path, folder_bytes: int, n_files: int, status_repeats: int, check: bool
) -> tuple[float, float, list[float]]:
    """(b), (c), (d): add the folder to a fresh store, add it again, ask for its status."""
    with scratch(f"{tool.name}-b") as d:
        project = d / "project"
        project.mkdir()
        tool.init(project)
        copy_in(data, FOLDER, project)
        env = tool.env(project)
        folder = project / FOLDER

        warm(folder)
        add_s, _ = run(tool.add(FOLDER, FOLDER), cwd=project, env=env, what=f"{tool.name} add")
        if check:
            check_copied(tool, project, FOLDER, folder_bytes)
            if tool is DVC:
                check_dvc_file(project, FOLDER, folder_bytes, n_files)
        recorded = dvc_recorded(project, FOLDER) if tool is DVC else ""

        warm(folder)
        readd_s, out = run(
            tool.add(FOLDER, FOLDER), cwd=project, env=env, what=f"{tool.name} re-add"
        )
        if tool is CAIRN:
            expect(tool, "re-add of unchanged data", out, "unchanged")
        elif dvc_recorded(project, FOLDER) != recorded:
            print(f"  WARNING: dvc re-add of unchanged data changed {FOLDER}.dvc")

        status_s = []
        for _ in range(status_repeats):
            warm(folder)
            seconds, out = run(
                tool.status(FOLDER), cwd=project, env=env, what=f"{tool.name} status"
            )
            status_s.append(seconds)
            expect(tool, "status", out, "unchanged" if tool is CAIRN else "up to date")
    return add_s, readd_s, status_s


def start_ms(tool: Tool, cmd: list[str], repeats: int) -> float:
    """Median wall time of a do-nothing CLI call, after one warm-up (``.pyc`` files)."""
    times = []
    with scratch("start") as d:
        env = tool.env(d / "project")
        for i in range(repeats + 1):
            seconds, _ = run(cmd, cwd=d, env=env, what=" ".join([tool.name, *cmd[1:]]))
            if i > 0:
                times.append(seconds)
    return statistics.median(times) * 1000


def file_system(path: Path) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts), or ``unknown``."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    target = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def gbps(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / GB:.2f} GB/s"


def runs_text(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    return ", ".join(f"{v * scale:.{digits}f}" for v in values)


def bench_hashing(data: Path, big_bytes: int, repeats: int) -> None:
    """Raw read bandwidth vs cairn's hash_file vs BLAKE3 over a memory map, same file."""
    warm(data / BIG)
    proc = subprocess.run(
        [sys.executable, "-c", HASH_WORKER, str(data / BIG), str(repeats)],
        cwd=data,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        fail("hashing worker", proc)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if not lines:
        fail("hashing worker (no result line)", proc)
    result: dict[str, Any] = json.loads(lines[-1][len(MARK) :])

    def rate(key: str) -> tuple[float, str]:
        """The median seconds, and the figure's text up to its runs in GB/s."""
        median = statistics.median(result[key])
        runs = ", ".join(f"{big_bytes / t / GB:.2f}" for t in result[key])
        return median, f"{gbps(big_bytes, median)} (runs: {runs}"

    size = f"{big_bytes / MIB:,.0f} MiB"
    read, text = rate("read")
    print(f"figure read-bandwidth: {text}; readinto a 1 MiB buffer, {size}, warm)")
    hashed, text = rate("hash_file")
    print(
        f"figure hash-file-cairn: {text}; cairn.core.hashing.hash_file, "
        f"{read / hashed:.0%} of the read bandwidth)"
    )
    if "blake3_mmap" in result:
        _, text = rate("blake3_mmap")
        print(
            f"figure blake3-mmap-all-threads: {text}; blake3 max_threads=AUTO, update_mmap, "
            f"{os.cpu_count()} cores)"
        )
    else:
        print("figure blake3-mmap-all-threads: unavailable (blake3 without update_mmap/AUTO)")


def report(
    name: str, values: list[float], nbytes: int | None = None, ms: bool = False, note: str = ""
) -> float:
    """Print one tool's figure (median and every run); return the median in seconds."""
    median = statistics.median(values)
    value = f"{median * 1000:.1f} ms" if ms else f"{median:.3f} s"
    extra = f"{gbps(nbytes, median)}; " if nbytes else ""
    runs = runs_text(values, 1000, 1) if ms else runs_text(values)
    print(f"figure {name}: {value} ({extra}runs: {runs}){note}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, smaller sizes")
    quick = parser.parse_args().quick
    big_bytes, n_files, file_bytes = (
        (128 * MIB, 1_000, 100 * 1024) if quick else (1 << 30, 10_000, 100 * 1024)
    )
    folder_bytes = n_files * file_bytes
    repeats, status_repeats, start_repeats = (1, 1, 3) if quick else (3, 3, 5)

    WORK.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(WORK).free
    needed = 4 * (big_bytes + folder_bytes) + (1 << 30)
    if free < needed:
        sys.exit(
            f"error: {free / GB:.1f} GB free under {WORK}; "
            f"this benchmark needs {needed / GB:.1f} GB"
        )

    dvc_version = ensure_dvc()
    has_cairn = cairn_data_available()
    fs = file_system(WORK)
    print("# data: cairn vs DVC" + (" (--quick)" if quick else ""))
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(
        f"# cairn {cairn_version()} on Python {platform.python_version()} "
        f"({' '.join(cairn_command())}); DVC {dvc_version} ({DVC_BIN}); scratch on {fs}, "
        f"{free / GB:.0f} GB free"
    )
    print(
        f"# data: one file of {big_bytes / MIB:,.0f} MiB; {n_files:,} files of "
        f"{file_bytes // 1024} KiB; {repeats} repeat(s) ({status_repeats} status call(s) each), "
        "medians; warm page cache, process start included",
        flush=True,
    )

    tools: list[Tool] = [CAIRN, DVC] if has_cairn else [DVC]
    times = {t.name: Times([], [], [], []) for t in tools}
    with scratch("input") as data:
        generate(data, big_bytes, n_files, file_bytes)
        bench_hashing(data, big_bytes, repeats=5)
        cairn_start = start_ms(CAIRN, [*cairn_command(), "--help"], start_repeats)
        dvc_start = start_ms(DVC, [str(DVC_BIN), "--version"], start_repeats)
        print(f"figure start-cairn: {cairn_start:.1f} ms (cairn --help)")
        print(f"figure start-dvc: {dvc_start:.1f} ms (dvc --version)", flush=True)
        for rep in range(repeats):
            order = tools if rep % 2 == 0 else tools[::-1]
            for tool in order:
                times[tool.name].add_file.append(measure_file(tool, data, big_bytes, rep == 0))
            for tool in order:
                add_s, readd_s, status_s = measure_folder(
                    tool, data, folder_bytes, n_files, status_repeats, rep == 0
                )
                t = times[tool.name]
                t.add_folder.append(add_s)
                t.readd.append(readd_s)
                t.status.extend(status_s)

    if not has_cairn:
        print("figure cairn-*: unavailable (cairn data CLI not found)")
    medians: dict[str, list[float]] = {}
    for tool in tools:
        t = times[tool.name]
        goal = " (goal < 150 ms at 10,000 files)" if tool is CAIRN else ""
        medians[tool.name] = [
            report(f"add-file-{tool.name}", t.add_file, big_bytes),
            report(f"add-folder-{tool.name}", t.add_folder, folder_bytes),
            report(f"readd-unchanged-{tool.name}", t.readd, ms=True, note=goal),
            report(f"status-unchanged-{tool.name}", t.status, ms=True, note=goal),
        ]
    if has_cairn:
        c, d = medians["cairn"], medians["dvc"]
        ratio("add-file-vs-dvc", d[0], c[0], 5)
        ratio("add-folder-vs-dvc", d[1], c[1], 5)
        ratio("readd-unchanged-vs-dvc", d[2], c[2], 10)
        ratio("status-unchanged-vs-dvc", d[3], c[3], 10)


if __name__ == "__main__":
    main()
