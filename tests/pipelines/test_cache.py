"""The step cache: each cause of a miss (code, a called helper's code, params, input data, a
catalog version, a package version) re-runs exactly the steps it affects, and
``cairn pipeline status`` says why."""

from __future__ import annotations

import shutil
from pathlib import Path

import cairn
from cairn.pipelines import load_pipeline, pipeline_status, run_pipeline
from cairn.store import Store
from tests.pipelines.conftest import WriteModule, by_status, cairn_cli, step_statuses

# One step per cause, plus steps no cause touches.
FLOW = """
from pathlib import Path

import cairn
import fakepkg
import helpers

LIMIT = 3


class Scaler:
    def apply(self, x):
        return x * 5


SCALER = Scaler()


@cairn.step
def read(path: Path) -> str:
    return path.read_text()


@cairn.step
def shout(text: str) -> str:
    return text.upper()


@cairn.step
def helped(x: int) -> int:
    return helpers.twice(x)


@cairn.step
def helped_inside(x: int) -> int:
    from tools import triple  # imported here only, never at the top

    return triple(x)


@cairn.step
def scaled(k: int) -> int:
    return k * 10


@cairn.step
def edited() -> str:
    return "first"


@cairn.step
def limited() -> int:
    return LIMIT


@cairn.step
def instanced() -> int:
    return SCALER.apply(2)


@cairn.step
def catalog() -> int:
    return len(cairn.data.load("nums"))


@cairn.step
def packaged() -> str:
    return fakepkg.VALUE


@cairn.step
def packaged_inside() -> str:
    import fakepkg

    return fakepkg.VALUE


@cairn.step
def plain() -> int:
    return 42


@cairn.pipeline
def flow(k: int = 1):
    text = shout(read(Path("data.txt")))
    helpers_used = [helped(3), helped_inside(4)]
    packages_used = [packaged(), packaged_inside()]
    edits = [edited(), limited(), instanced()]
    return [text, *helpers_used, scaled(k), *edits, catalog(), *packages_used, plain()]
"""

HELPERS = """
def twice(x):
    return x * 2
"""

TOOLS = """
def triple(x):
    return x * 3
"""


def _fake_distribution(site: Path, version: str) -> None:
    """``fakepkg`` at ``version`` in ``site`` (a folder on PYTHONPATH), the older one gone."""
    for old in site.glob("fakepkg-*.dist-info"):
        shutil.rmtree(old)
    (site / "fakepkg").mkdir(parents=True, exist_ok=True)
    (site / "fakepkg" / "__init__.py").write_text('VALUE = "same in every version"\n')
    info = site / f"fakepkg-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakepkg\nVersion: {version}\n")
    (info / "top_level.txt").write_text("fakepkg\n")


def _numbers(project: Path, count: int) -> None:
    """Dataset ``nums``: a CSV of ``count`` rows, as a new version."""
    folder = project / "nums"
    folder.mkdir(exist_ok=True)
    (folder / "nums.csv").write_text("n\n" + "".join(f"{i}\n" for i in range(count)))
    cairn.data.add(folder, name="nums")


def _status(project: Path, env: dict[str, str], *sets: str) -> tuple[int, dict[str, str]]:
    """``cairn pipeline status``: its exit code and ``{node: reasons}`` of stale steps."""
    done = cairn_cli(project, "pipeline", "status", "flow:flow", *sets, env=env)
    assert "Traceback" not in done.stderr, done.stderr
    stale = {}
    for line in done.stdout.splitlines():
        node, _, rest = line.partition(" ")
        if "would run" in rest:
            stale[node] = rest.split("would run", 1)[1].strip()
    return done.returncode, stale


def test_each_cause_of_a_miss_reruns_exactly_its_steps(
    project: Path, write_module: WriteModule, tmp_path: Path
) -> None:
    """Code (a step's, a module constant or instance it uses, a helper's), a param, an input
    file (and the step below it), a catalog version and a package version (imported at the top
    or inside the step) each re-run their own steps; status names each reason and exits 1, then
    0 once all are up to date."""
    site = tmp_path / "site"
    _fake_distribution(site, "1.0")
    env = {"PYTHONPATH": str(site)}
    write_module("flow", FLOW)
    write_module("helpers", HELPERS)
    write_module("tools", TOOLS)
    (project / "data.txt").write_text("abc")
    _numbers(project, 3)
    run = ["pipeline", "run", "flow:flow", "--executor", "inline"]

    first = cairn_cli(project, *run, env=env)
    assert first.returncode == 0, first.stderr
    nodes = {"read", "shout", "helped", "helped_inside", "scaled", "edited", "catalog"}
    nodes |= {"limited", "instanced", "packaged", "packaged_inside", "plain"}
    assert step_statuses(first.stderr) == dict.fromkeys(nodes, "finished")
    assert _status(project, env) == (0, {})

    # Every cause at once, each touching its own step: the reasons tell them apart.
    flow = project / "flow.py"
    flow.write_text(
        flow.read_text()
        .replace('return "first"', 'return "second"')
        .replace("= 3", "= 4")
        .replace("x * 5", "x * 6")
    )
    (project / "helpers.py").write_text(HELPERS.replace("x * 2", "x + x"))
    (project / "tools.py").write_text(TOOLS.replace("x * 3", "x + x + x"))
    (project / "data.txt").write_text("abcd")
    _numbers(project, 4)
    _fake_distribution(site, "1.1")
    code, stale = _status(project, env, "--set", "k=2")
    assert code == 1
    assert stale == {
        "read": "input data changed",
        "shout": "step read will run",
        "helped": "code changed",
        "helped_inside": "code changed",  # imported inside the step: its module counts
        "scaled": "params changed",
        "edited": "code changed",
        "limited": "code changed",  # a module constant it reads
        "instanced": "code changed",  # the class of a module-level instance it calls
        "catalog": "catalog data changed (nums is no longer nums@v1)",
        "packaged": "packages changed",
        "packaged_inside": "packages changed",
    }

    second = cairn_cli(project, *run, "--set", "k=2", env=env)
    assert second.returncode == 0, second.stderr
    statuses = step_statuses(second.stderr)
    assert by_status(statuses, "finished") == set(stale)
    assert by_status(statuses, "cached") == {"plain"}
    assert _status(project, env, "--set", "k=2") == (0, {})


LINES = """
from pathlib import Path

import cairn


@cairn.step
def read(path: Path) -> str:
    return path.read_text()


@cairn.step
def upper(text: str) -> str:
    return text.upper()


@cairn.step
def exclaim(text: str) -> str:
    return text + "!"


@cairn.step
def scaled(k: int) -> int:
    return k * 10


@cairn.step
def counted() -> int:
    return len(cairn.data.load("nums"))


@cairn.pipeline
def lines(k: int = 1):
    return [exclaim(upper(read(Path("data.txt")))), scaled(k), counted()]
"""


def _ran(result: cairn.pipelines.PipelineResult) -> set[str]:
    return {s.node for s in result.steps if s.status == "finished"}


def test_params_files_and_catalog_versions_through_the_api(
    store: Store, project: Path, write_module: WriteModule
) -> None:
    """Through the Python API on each store: a param, a file's content and a catalog version
    re-run their steps only; a file edit that leaves the step's output the same stops there."""
    write_module("lines_flow", LINES)
    (project / "data.txt").write_text("abc")
    _numbers(project, 3)
    target = load_pipeline("lines_flow:lines")
    everything = {"read", "upper", "exclaim", "scaled", "counted"}
    assert _ran(run_pipeline(target, executor="inline")) == everything
    again = run_pipeline(target, executor="inline")
    assert _ran(again) == set() and {s.status for s in again.steps} == {"cached"}
    assert all(s.cached_from for s in again.steps)

    assert _ran(run_pipeline(target, {"k": 2}, executor="inline")) == {"scaled"}
    (project / "data.txt").write_text("aBc")  # read's output changes, upper's does not
    assert _ran(run_pipeline(target, {"k": 2}, executor="inline")) == {"read", "upper"}
    (project / "data.txt").write_text("xyz")
    assert _ran(run_pipeline(target, {"k": 2}, executor="inline")) == {"read", "upper", "exclaim"}
    _numbers(project, 5)
    stale = {s.node: s.reasons for s in pipeline_status(target, {"k": 2}) if s.stale}
    assert stale == {"counted": ["catalog data changed (nums is no longer nums@v1)"]}
    result = run_pipeline(target, {"k": 2}, executor="inline")
    assert _ran(result) == {"counted"}
    assert result.output() == ["XYZ!", 20, 5]
    assert not any(s.stale for s in pipeline_status(target, {"k": 2}))
