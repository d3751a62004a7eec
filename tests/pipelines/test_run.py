"""Running pipelines through the Python API: resume after a failure, seeds that replay,
retries and timeouts, step runs as children of the pipeline run, --only and --force, and
definitions that cannot become a graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import cairn
from cairn.core.errors import InvalidInputError
from cairn.pipelines import (
    PipelineDefinitionError,
    PipelineFailedError,
    describe_pipeline,
    find_pipeline_runs,
    resume_pipeline,
    run_pipeline,
)
from cairn.store import Store, get_store
from cairn.store.db.schema import runs, step_results
from cairn.store.lineage import DATASET_VERSION, INPUT, RUN, Node, edges_into
from tests.pipelines.conftest import WriteModule


def _statuses(result: cairn.pipelines.PipelineResult) -> dict[str, str]:
    return {s.node: s.status for s in result.steps}


def _db_id(run_id: str) -> int:
    with get_store().db.read() as conn:
        return int(conn.execute(select(runs.c.id).where(runs.c.uid == run_id)).scalar_one())


def _calls(project: Path) -> list[str]:
    path = project / "calls.txt"
    return path.read_text().split() if path.exists() else []


RESUMABLE = """
from pathlib import Path

import cairn

HERE = Path(__file__).parent


def note(name):
    with (HERE / "calls.txt").open("a") as out:
        out.write(name + "\\n")


@cairn.step(cache=False)
def source(scale: tuple) -> int:
    note("source")
    return scale[0]


@cairn.step
def flaky(x: int) -> int:
    note("flaky")
    if (HERE / "broken").exists():
        raise RuntimeError("flaky is broken on purpose")
    return x + 1


@cairn.step
def after(y: int) -> int:
    note("after")
    return y * 2


@cairn.step(cache=False)
def branch() -> int:
    note("branch")
    return 5


@cairn.step
def final(a: int, b: int) -> int:
    note("final")
    return a + b


@cairn.pipeline
def resumable(scale: tuple = (1,)):  # saved as JSON (a list): resume must give a tuple back
    return final(after(flaky(source(scale))), branch())
"""


def test_resume_runs_only_the_failed_step_and_those_below(
    store: Store, project: Path, write_module: WriteModule
) -> None:
    """A failed step skips the steps below it while an independent branch finishes; resume
    reuses the failed run's finished steps (cache off or not) and runs only the rest, also when
    it resumes a resume that failed again."""
    write_module("resumable_flow", RESUMABLE)
    (project / "broken").touch()
    failed = run_pipeline("resumable_flow:resumable", executor="inline")
    assert failed.status == "failed"
    assert _statuses(failed) == {
        "source": "finished",
        "flaky": "failed",
        "after": "skipped",
        "branch": "finished",
        "final": "skipped",
    }
    assert "flaky is broken on purpose" in (failed.step("flaky").error or "")
    assert cairn.get_run(failed.run_id).status == "failed"
    for outcome in failed.steps:
        record = cairn.get_run(outcome.run_id or "")
        assert record.status == outcome.status and record.parent_id == failed.run_id
    skipped = cairn.get_run(failed.step("after").run_id or "")
    assert "step flaky did not finish" in (skipped.error or "")
    with pytest.raises(PipelineFailedError, match="cairn pipeline resume"):
        failed.output()
    with get_store().db.read() as conn:  # only what finished is in the cache
        cached_nodes = set(conn.execute(select(step_results.c.node)).scalars())
    assert cached_nodes == {"source", "branch"}
    assert sorted(_calls(project)) == ["branch", "flaky", "source"]

    (project / "calls.txt").unlink()
    again = resume_pipeline(failed.run_id, executor="inline")  # still broken: fails again
    assert again.status == "failed" and sorted(_calls(project)) == ["flaky"]
    (project / "broken").unlink()
    (project / "calls.txt").unlink()
    resumed = resume_pipeline(again.run_id, executor="inline")  # reuses through the chain
    assert resumed.status == "finished" and resumed.output() == 9
    assert _statuses(resumed) == {
        "source": "cached",
        "flaky": "finished",
        "after": "finished",
        "branch": "cached",
        "final": "finished",
    }
    assert resumed.step("source").cached_from == failed.step("source").run_id
    assert sorted(_calls(project)) == ["after", "final", "flaky"]
    assert cairn.get_run(resumed.run_id).tags["cairn.pipeline.resumed"] == again.run_id
    with pytest.raises(cairn.core.errors.RunStateError, match="nothing to resume"):
        resume_pipeline(resumed.run_id, executor="inline")

    shown = "\n".join(describe_pipeline(failed.run_id))
    assert "flaky" in shown and "failed" in shown and "skipped" in shown
    listed = find_pipeline_runs(name="resumable")
    assert [r.run_id for r in listed] == [resumed.run_id, again.run_id, failed.run_id]
    assert listed[2].steps == {"finished": 2, "failed": 1, "skipped": 2}


SEEDED = """
import random

import cairn


@cairn.step(cache=False)
def draw(i: int) -> list:
    import numpy as np

    return [random.random(), *np.random.rand(3).tolist(), i]


@cairn.pipeline
def seeded(n: int = 3):
    return [draw(i) for i in range(n)]
"""


def test_seeds_replay_bit_identically_and_differ_across_the_fan_out(
    project: Path, write_module: WriteModule
) -> None:
    """The same pipeline with its cache off gives the same draws on every run, inline or in
    worker processes; each fan-out step draws differently."""
    write_module("seeded_flow", SEEDED)
    outputs = [
        run_pipeline("seeded_flow:seeded", executor=executor).output()
        for executor in ("inline", "inline", "processes")
    ]
    assert [[x.hex() for x in o[:-1]] for o in outputs[0]] == [
        [x.hex() for x in o[:-1]] for o in outputs[1]
    ]
    assert outputs[0] == outputs[1] == outputs[2]
    assert len({tuple(draws[:-1]) for draws in outputs[0]}) == 3
    seeds = {
        cairn.get_run(s.run_id or "").tags["cairn.seed"]
        for s in run_pipeline("seeded_flow:seeded", executor="inline").steps
    }
    assert len(seeds) == 3


FLAKY = """
from pathlib import Path

import cairn

COUNT = Path(__file__).parent / "attempts.txt"


@cairn.step(retries=2)
def third_time_lucky() -> str:
    with COUNT.open("a") as out:
        out.write("x")
    if len(COUNT.read_text()) < 3:
        raise ConnectionError("not yet")
    return "done"


@cairn.step(timeout=1)
def sleepy() -> str:
    import time

    time.sleep(30)
    return "awake"


@cairn.pipeline
def lucky():
    return third_time_lucky()


@cairn.pipeline
def slow():
    return sleepy()
"""


def test_a_step_retried_finishes_with_its_attempts_recorded(
    project: Path, write_module: WriteModule
) -> None:
    """A step that fails twice then succeeds, with retries=2, finishes; its run says 3 attempts."""
    write_module("flaky_flow", FLAKY)
    result = run_pipeline("flaky_flow:lucky", executor="inline")
    assert result.status == "finished" and result.output() == "done"
    outcome = result.step("third_time_lucky")
    assert outcome.attempts == 3
    assert cairn.get_run(outcome.run_id or "").tags["cairn.step.attempts"] == "3"


def test_a_step_past_its_timeout_fails_in_a_worker_process(
    project: Path, write_module: WriteModule
) -> None:
    """On the processes executor a step sleeping past timeout=1 fails with the timeout message
    and its run is failed, not finished."""
    write_module("flaky_flow", FLAKY)
    result = run_pipeline("flaky_flow:slow", executor="processes", workers=1)
    assert result.status == "failed"
    outcome = result.step("sleepy")
    assert outcome.status == "failed" and outcome.duration_s < 20
    assert "ran past its timeout of 1 s" in (outcome.error or "")
    record = cairn.get_run(outcome.run_id or "")
    assert record.status == "failed" and "timeout" in (record.error or "")


RECORDED = """
import cairn


@cairn.step
def features(rows: int, scale: float) -> dict:
    frame = cairn.data.load("raw")
    cairn.log({"rows_seen": float(len(frame))})
    return {"rows": rows, "scale": scale, "seen": len(frame)}


@cairn.step
def train(features: dict, seed: int) -> float:
    cairn.log({"loss": 0.5 / seed})
    return features["scale"] * seed


@cairn.pipeline
def recorded(rows: int = 10, scale: float = 0.5):
    feats = features(rows, scale=scale)
    return [train(feats, seed=s) for s in (1, 2)]
"""


def test_step_runs_are_children_with_params_tags_outputs_metrics_and_lineage(
    project: Path, write_module: WriteModule
) -> None:
    """Each step is a child run of the pipeline run with its params, cairn.step tag and output
    artifact; cairn.log in a worker lands on the step's run; a catalog read and the outputs
    passed between steps are lineage edges into the step runs."""
    folder = project / "raw"
    folder.mkdir()
    (folder / "raw.csv").write_text("a\n1\n2\n3\n")
    cairn.data.add(folder, name="raw")
    write_module("recorded_flow", RECORDED)
    result = run_pipeline("recorded_flow:recorded", {"rows": 7}, executor="processes", workers=2)
    assert result.status == "finished", result.steps
    assert result.output() == [0.5, 1.0]
    parent = cairn.get_run(result.run_id)
    assert parent.params == {"rows": 7, "scale": 0.5}
    assert parent.tags["cairn.pipeline"] == "recorded"
    assert parent.tags["cairn.pipeline.target"] == "recorded_flow:recorded"
    records = {s.node: cairn.get_run(s.run_id or "") for s in result.steps}
    assert set(records) == {"features", "train[0]", "train[1]"}
    for node, record in records.items():
        assert record.parent_id == result.run_id and record.status == "finished"
        assert record.tags["cairn.step"] == node
        assert [a.path for a in record.artifacts] == ["output/pickle"]
    assert records["features"].params == {"rows": 7, "scale": 0.5}
    assert records["train[1]"].params == {"seed": 2}
    assert records["features"].metrics == {"rows_seen": 3.0}
    assert records["train[1]"].metrics == {"loss": 0.25}
    with get_store().db.read() as conn:
        into_features = edges_into(conn, [Node(RUN, _db_id(records["features"].id))])
        into_train = edges_into(conn, [Node(RUN, _db_id(records["train[0]"].id))])
    assert [(e.src.kind, e.relation) for e in into_features] == [(DATASET_VERSION, INPUT)]
    assert [(e.src, e.relation) for e in into_train] == [
        (Node(RUN, _db_id(records["features"].id)), INPUT)
    ]
    cached = run_pipeline("recorded_flow:recorded", {"rows": 7}, executor="inline")
    child = cached.step("train[0]")
    assert child.status == "cached"
    with get_store().db.read() as conn:  # a cached step links to the run it reused upstream
        sources = edges_into(conn, [Node(RUN, _db_id(child.run_id or ""))])
    assert [e.src for e in sources] == [Node(RUN, _db_id(cached.step("features").run_id or ""))]


CHAIN = """
from pathlib import Path

import cairn


@cairn.step
def first() -> int:
    return 1


@cairn.step
def middle(x: int) -> int:
    if (Path(__file__).parent / "broken").exists():
        raise RuntimeError("middle is broken")
    return x + 1


@cairn.step
def last(y: int) -> int:
    return y * 10


@cairn.step
def aside() -> str:
    return "aside"


@cairn.pipeline
def chain():
    return [last(middle(first())), aside()]
"""


def test_only_runs_a_step_and_what_it_needs_and_force_reruns_it(
    store: Store, project: Path, write_module: WriteModule
) -> None:
    """only=middle runs first and middle, nothing below or beside (a resume too); force=middle
    re-runs it while the rest comes from the cache; unknown names are refused before anything
    runs."""
    write_module("chain_flow", CHAIN)
    only = run_pipeline("chain_flow:chain", executor="inline", only="middle")
    assert _statuses(only) == {"first": "finished", "middle": "finished"}
    forced = run_pipeline("chain_flow:chain", executor="inline", force=["middle"])
    assert _statuses(forced) == {
        "first": "cached",
        "middle": "finished",
        "last": "finished",
        "aside": "finished",
    }
    assert forced.step("middle").reason == "forced"
    again = run_pipeline("chain_flow:chain", executor="inline", force=["middle"])
    assert _statuses(again)["last"] == "cached"  # middle's output is the same as before
    (project / "broken").touch()
    failed = run_pipeline("chain_flow:chain", executor="inline", only="middle", force=["middle"])
    assert _statuses(failed) == {"first": "cached", "middle": "failed"}
    (project / "broken").unlink()
    resumed = resume_pipeline(failed.run_id, executor="inline")  # the same part: --only kept
    assert resumed.status == "finished" and set(_statuses(resumed)) == {"first", "middle"}
    count = len(find_pipeline_runs())
    for option in ({"force": ["nope"]}, {"only": "nope"}):
        with pytest.raises(InvalidInputError, match="has no such step; its steps: aside, first"):
            run_pipeline("chain_flow:chain", executor="inline", **option)
    assert len(find_pipeline_runs()) == count


BROKEN = """
import sys
import threading

import cairn


@cairn.step
def one() -> int:
    return 1


@cairn.step
def generator() -> object:
    return (i for i in range(3))


@cairn.step
def lock() -> object:
    return threading.Lock()


@cairn.step
def missing() -> int:
    return len(cairn.data.load("no-such-dataset"))


@cairn.step
def quits() -> int:
    sys.exit(3)


@cairn.step
def garbled() -> int:
    raise ValueError("bad\\x00byte \\ud800")  # the stores cannot keep these as they are


@cairn.pipeline
def unstorable():
    return [generator(), lock(), missing(), quits(), garbled(), one()]


@cairn.pipeline
def steering():
    if one():
        return one()
    return None


@cairn.pipeline
def adding():
    return one() + 1


@cairn.pipeline
def formatting():
    return f"model-{one()}.pkl"


@cairn.pipeline
def looping():
    return looping()


@cairn.pipeline
def needs(lr: float):
    return one()
"""


def test_unstorable_outputs_and_a_missing_dataset_fail_their_steps_only(
    store: Store, project: Path, write_module: WriteModule
) -> None:
    """A generator, a lock, a missing catalog dataset, sys.exit() and an error message the
    stores cannot keep as it is each fail their own step with a message naming it and why;
    none is recorded as finished or cached."""
    write_module("broken_flow", BROKEN)
    result = run_pipeline("broken_flow:unstorable", executor="inline")
    assert result.status == "failed"
    assert _statuses(result) == {
        "generator": "failed",
        "lock": "failed",
        "missing": "failed",
        "quits": "failed",
        "garbled": "failed",
        "one": "finished",
    }
    assert "step generator returned a generator, which cannot be stored" in (
        result.step("generator").error or ""
    )
    assert "step lock returned a lock, which cannot be stored" in (result.step("lock").error or "")
    assert "no-such-dataset" in (result.step("missing").error or "")
    assert result.step("quits").error == "SystemExit: 3"  # not the coordinator's exit
    garbled = cairn.get_run(result.step("garbled").run_id or "")
    assert "ValueError: bad\\x00byte \\ud800" in (garbled.error or "")
    for node in ("generator", "lock", "missing", "quits", "garbled"):
        assert cairn.get_run(result.step(node).run_id or "").status == "failed"
    with get_store().db.read() as conn:
        assert set(conn.execute(select(step_results.c.node)).scalars()) == {"one"}


@pytest.mark.parametrize(
    ("target", "params", "message"),
    [
        ("broken_flow:steering", None, "cannot test the output of step one"),
        ("broken_flow:adding", None, "cannot use \\+ on the output of step one"),
        ("broken_flow:formatting", None, "cannot format the output of step one"),
        ("broken_flow:looping", None, "a cycle"),
        ("broken_flow:one", None, "is a Step, not a pipeline"),
        ("broken_flow:nothing", None, "has no 'nothing'"),
        ("no_such_module:x", None, "cannot find module 'no_such_module'"),
        ("broken_flow", None, "MODULE:PIPELINE"),
        ("broken_flow:unstorable", {"nope": 1}, "has no param 'nope'"),
        ("broken_flow:needs", None, "needs a value for lr"),
    ],
    ids=["control-flow", "arithmetic", "f-string", "cycle", "not-a-pipeline", "no-attribute",
         "no-module", "no-colon", "unknown-param", "missing-param"],
)  # fmt: skip
def test_definitions_that_cannot_run_are_refused_before_any_run(
    project: Path, write_module: WriteModule, target: str, params: Any, message: str
) -> None:
    """A pipeline that steers on an output, calls itself, is not a pipeline, cannot be found
    or gets a param it lacks is an InvalidInputError, and no run is recorded."""
    write_module("broken_flow", BROKEN)
    with pytest.raises(InvalidInputError, match=message) as raised:
        run_pipeline(target, params, executor="inline")
    if target.endswith(("steering", "adding", "formatting", "looping")):
        assert isinstance(raised.value, PipelineDefinitionError)
    assert len(cairn.search_runs()) == 0


INTERRUPTED = """
import cairn


@cairn.step
def before() -> int:
    return 1


@cairn.step
def interrupt() -> int:
    raise KeyboardInterrupt


@cairn.step
def beside() -> int:
    return 3


@cairn.step
def below(x: int) -> int:
    return x


@cairn.pipeline
def interrupted():
    return [before(), interrupt(), beside(), below(before())]
"""


@pytest.mark.parametrize("executor", ["inline", "processes"])
def test_an_interrupt_leaves_no_step_running(
    project: Path, write_module: WriteModule, executor: str
) -> None:
    """Ctrl-C while steps run (inline: in this thread; processes: a worker's future) kills the
    pipeline run and ends every step it recorded: none is left running."""
    write_module("interrupted_flow", INTERRUPTED)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline("interrupted_flow:interrupted", executor=executor)
    [summary] = find_pipeline_runs()
    assert summary.status == "killed"
    assert "running" not in summary.steps, summary.steps
    # The interrupting step is killed; the other four may all have finished first (processes:
    # their workers can end before the interrupt reaches the coordinator).
    assert summary.steps.get("killed", 0) >= 1 and summary.steps.get("finished", 0) <= 4


ODD_ARGUMENTS = """
import cairn


@cairn.step
def echo(x: object) -> object:
    return x


@cairn.pipeline
def odd():
    return [echo("a\\x00b"), echo("\\ud800"), echo(10**400), echo(10**5000)]
"""


def test_step_arguments_the_stores_cannot_keep_verbatim_are_recorded_escaped(
    store: Store, project: Path, write_module: WriteModule
) -> None:
    """A NUL, a lone surrogate or an integer past float64 (or past Python's digit limit) as a
    step's argument runs, keys and caches the step; its run records the param as text."""
    write_module("odd_flow", ODD_ARGUMENTS)
    result = run_pipeline("odd_flow:odd", executor="inline")
    assert result.status == "finished"
    assert result.output() == ["a\x00b", "\ud800", 10**400, 10**5000]
    params = [cairn.get_run(s.run_id or "").params["x"] for s in result.steps]
    assert params[:2] == ["a\\x00b", "\\ud800"]
    assert params[2] == str(10**400)[:200] and params[3] == "<int>"
    again = run_pipeline("odd_flow:odd", executor="inline")
    assert {s.status for s in again.steps} == {"cached"}
