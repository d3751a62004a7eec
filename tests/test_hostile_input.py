"""Every public function against hostile values: a CairnError that says what is wrong, the same on
SQLite and PostgreSQL, never a driver's or Python's own exception, and no partial writes.

The table names, for each public function, a call that works and the kind of each argument;
each kind has its hostile values and what each must give: ``BAD`` (an ``InvalidInputError``),
``ERR`` (any ``CairnError``, e.g. not found) or ``ANY`` (a ``CairnError`` or success, never a
foreign exception). One test per function and store tries every (argument, value) pair.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn import data, registry, serving, validation
from cairn.core.errors import CairnError, InvalidInputError
from cairn.store import Store

BAD, ERR, ANY = "invalid input", "a CairnError", "a CairnError or success"

NUL = "a\x00b"
SURROGATE = "a\ud800b"
HUGE = "x" * 1_000_000
TRAVERSAL = "../../etc/passwd"
MAX_MESSAGE = 2_000


class Opaque:
    """An object of no type any argument takes."""

    def __repr__(self) -> str:
        return "<Opaque>"


WRONG_TYPES: list[tuple[str, Any]] = [("None", None), ("int", 123), ("object", Opaque())]

# kind -> [(label, value, expected)]
KINDS: dict[str, list[tuple[str, Any, str]]] = {
    # A reference to something that exists (run id, dataset ref, model name or URI).
    "ref": [
        ("nul", NUL, BAD),
        ("surrogate", SURROGATE, BAD),
        ("empty", "", ERR),
        ("huge", HUGE, ERR),
        ("traversal", TRAVERSAL, ERR),
        ("absolute", "/etc/passwd", ERR),
        ("version-past-int64", "ds@v" + "9" * 30, ERR),
        ("number-past-int64", "m/" + "9" * 30, ERR),
        *[(label, value, BAD) for label, value in WRONG_TYPES],
    ],
    # A reference that may be left out (None or empty: every one).
    "optional-ref": [
        ("nul", NUL, BAD),
        ("surrogate", SURROGATE, BAD),
        ("empty", "", ANY),
        ("None", None, ANY),
        ("huge", HUGE, ERR),
        ("int", 123, BAD),
        ("object", Opaque(), BAD),
    ],
    # A name that a call creates (run, experiment, dataset, model, artifact).
    "name": [
        ("nul", NUL, BAD),
        ("surrogate", SURROGATE, BAD),
        ("empty", "", BAD),
        ("huge", HUGE, BAD),
        ("traversal", TRAVERSAL, ANY),
        ("absolute", "/etc/passwd", ANY),
        ("int", 123, BAD),
        ("object", Opaque(), BAD),
    ],
    # A name that may be left out (None or empty: a default is chosen).
    "optional-name": [
        ("nul", NUL, BAD),
        ("surrogate", SURROGATE, BAD),
        ("empty", "", ANY),
        ("huge", HUGE, BAD),
        ("None", None, ANY),
        ("int", 123, BAD),
        ("object", Opaque(), BAD),
    ],
    # Free text the store keeps in an unbounded column (description, reason); None = not given.
    "text": [
        ("nul", NUL, BAD),
        ("surrogate", SURROGATE, BAD),
        ("empty", "", ANY),
        ("huge", HUGE, ANY),
        ("None", None, ANY),
        ("int", 123, BAD),
        ("object", Opaque(), BAD),
    ],
    # Text kept in a bounded column (owner, frequency); None = not given.
    "short": [
        ("nul", NUL, BAD),
        ("surrogate", SURROGATE, BAD),
        ("huge", HUGE, BAD),
        ("None", None, ANY),
        ("int", 123, BAD),
        ("object", Opaque(), BAD),
    ],
    # Content stored as an artifact's bytes: NUL is data, a lone surrogate cannot be encoded.
    "content": [
        ("nul", NUL, ANY),
        ("surrogate", SURROGATE, BAD),
        ("huge", HUGE, ANY),
        *[(label, value, BAD) for label, value in WRONG_TYPES],
    ],
    # A mapping of tags: keys and values are kept as text.
    "tags": [
        ("nul-key", {NUL: "v"}, BAD),
        ("nul-value", {"k": NUL}, BAD),
        ("surrogate-key", {SURROGATE: "v"}, BAD),
        ("surrogate-value", {"k": SURROGATE}, BAD),
        ("huge-key", {HUGE: "v"}, BAD),
        ("huge-value", {"k": HUGE}, ANY),
        ("int-key", {123: "v"}, BAD),
        ("bignum-value", {"k": 10**400}, ANY),
        ("giant-int-value", {"k": 10**5000}, BAD),
        ("None", None, ANY),
        ("int", 123, BAD),
        ("object", Opaque(), BAD),
    ],
    # A mapping of params: values are numbers (float64) or text.
    "params": [
        ("nul-key", {NUL: 1}, BAD),
        ("nul-value", {"p": NUL}, BAD),
        ("surrogate-value", {"p": SURROGATE}, BAD),
        ("huge-key", {HUGE: 1}, BAD),
        ("int-key", {123: 1}, BAD),
        ("bignum-value", {"p": 10**400}, BAD),
        ("nan-value", {"p": math.nan}, ANY),
        ("huge-value", {"p": HUGE}, ANY),
        ("int", 123, BAD),
        ("object", Opaque(), BAD),
    ],
    # A mapping of metrics: float64 values.
    "metrics": [
        ("nul-key", {NUL: 1.0}, BAD),
        ("surrogate-key", {SURROGATE: 1.0}, BAD),
        ("empty-key", {"": 1.0}, BAD),
        ("bignum-value", {"m": 10**400}, BAD),
        ("text-value", {"m": "1"}, BAD),
        ("None-value", {"m": None}, BAD),
        ("object-value", {"m": Opaque()}, BAD),
        ("inf-value", {"m": math.inf}, ANY),
        ("nan-value", {"m": math.nan}, ANY),
        *[(label, value, BAD) for label, value in WRONG_TYPES],
    ],
    # A step or a limit: int64.
    "int": [
        ("bignum", 10**400, BAD),
        ("int64-overflow", 2**70, BAD),
        ("inf", math.inf, BAD),
        ("nan", math.nan, BAD),
        ("text", "1", BAD),
        ("object", Opaque(), BAD),
    ],
    # A local file or folder read by the call.
    "source": [
        ("nul", NUL, BAD),
        ("surrogate", SURROGATE, BAD),
        ("empty", "", ERR),
        ("missing", "no-such-file", ERR),
        ("traversal", TRAVERSAL, ERR),
        ("symlink-out", "@symlink", ANY),  # the rule for links belongs to item 6
        *[(label, value, BAD) for label, value in WRONG_TYPES],
    ],
    # A local destination written by the call (never outside the test's folder).
    "dest": [
        ("nul", NUL, BAD),
        ("surrogate", SURROGATE, BAD),
        ("absolute", "@absolute", ANY),
        *[(label, value, BAD) for label, value in WRONG_TYPES],
    ],
    # A search filter or order-by clause.
    "query": [
        ("nul", NUL, BAD),
        ("surrogate", SURROGATE, BAD),
        ("huge", HUGE, BAD),
        ("int", 123, BAD),
        ("object", Opaque(), BAD),
    ],
}

KINDS["optional-source"] = [(lb, v, ANY if v is None else e) for lb, v, e in KINDS["source"]]
KINDS["token"] = [(lb, v, ERR) for lb, v, _ in KINDS["ref"]]  # refused, never accepted
KINDS["cairn-object"] = [(lb, v, BAD) for lb, v in [*WRONG_TYPES, ("text", "x")]]
# A key only looked up, where no match is an empty answer (a model's prediction log).
KINDS["key"] = [(lb, v, BAD if e == BAD else ANY) for lb, v, e in KINDS["ref"]]


def _cycle() -> dict[str, Any]:
    """A dict that holds itself."""
    document: dict[str, Any] = {}
    document["self"] = document
    return document


# Data written as JSON or YAML: anything JSON can hold (other objects become their str()).
KINDS["document"] = [
    ("nul", {"k": NUL}, ANY),
    ("surrogate", {"k": SURROGATE}, ANY),
    ("nan", {"k": math.nan}, ANY),
    ("giant-int", {"k": 10**5000}, BAD),
    ("cycle", _cycle(), BAD),
    *[(label, value, ANY) for label, value in WRONG_TYPES],
]
KINDS["optional-cairn-object"] = [
    (lb, v, ANY if v is None else e) for lb, v, e in KINDS["cairn-object"]
]
KINDS["optional-callable"] = [
    ("int", 123, BAD),
    ("text", "x", BAD),
    ("object", Opaque(), BAD),
    ("None", None, ANY),
]
# Metric values per side of a promotion rule: alias (None: the candidate) -> {name: number}.
KINDS["sides"] = [
    ("nul-alias", {NUL: None, None: {"m": 1.0}}, BAD),
    ("surrogate-alias", {SURROGATE: None, None: {"m": 1.0}}, BAD),
    ("int-alias", {1: None, None: {"m": 1.0}}, BAD),
    ("nul-key", {None: {NUL: 1.0}}, BAD),
    ("surrogate-key", {None: {SURROGATE: 1.0}}, BAD),
    ("huge-key", {None: {HUGE: 1.0}}, BAD),
    ("bignum-value", {None: {"m": 10**400}}, BAD),
    ("text-value", {None: {"m": "1"}}, BAD),
    ("nan-value", {None: {"m": math.nan}}, ANY),
    ("None-candidate", {None: None}, BAD),
    ("no-candidate", {}, ERR),
    *[(label, value, BAD) for label, value in WRONG_TYPES],
]  # fmt: skip
KINDS["optional-int"] = [*KINDS["int"], ("None", None, ANY)]
KINDS["number"] = [(lb, v, ANY if lb == "int64-overflow" else e) for lb, v, e in KINDS["int"]]
KINDS["version"] = [(lb, v, ANY if lb == "text" else e) for lb, v, e in KINDS["int"]]  # "1" is 1


@dataclass
class World:
    """What the calls act on: a run with an artifact, a dataset version, a model version."""

    root: Path
    _made: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def run_id(self) -> str:
        """A finished run holding the artifact ``a.txt``."""
        with cairn.run(name="world") as run:
            run.log_text("hello", "a.txt")
            run.log({"m": 1.0})
        return run.id

    @cached_property
    def dataset(self) -> str:
        """A dataset ``ds`` with one version of one CSV file."""
        folder = self.root / "table"
        folder.mkdir(exist_ok=True)
        (folder / "t.csv").write_text("a,b\n1,2\n3,4\n")
        data.add(folder, name="ds")
        return "ds"

    @cached_property
    def estimator(self) -> Any:
        """A fitted scikit-learn model."""
        from sklearn.linear_model import LinearRegression

        return LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])

    @cached_property
    def model(self) -> str:
        """A model ``m`` with one version, aliased ``champion``."""
        with cairn.run(name="model"):
            cairn.log_model(self.estimator, "m")
        registry.set_alias("m", "champion", 1)
        return "m"

    @cached_property
    def frame(self) -> Any:
        """A small pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame({"a": [1, 2]})

    @cached_property
    def file(self) -> Path:
        """A small local file."""
        path = self.root / "f.txt"
        path.write_text("content")
        return path

    def resolve(self, value: Any) -> Any:
        """Turn the table's placeholders into real paths."""
        if value == "@symlink":
            outside = self.root.parent / "outside-secret.txt"
            outside.write_text("secret")
            link = self.root / "link.txt"
            if not link.is_symlink():
                link.symlink_to(outside)
            return str(link)
        if value == "@absolute":
            return str(self.root.parent / "absolute-dest")
        return value


@dataclass(frozen=True)
class Entry:
    """One public function: how to call it, and the kind of each argument tried."""

    name: str
    call: Callable[..., Any]
    base: Callable[[World], dict[str, Any]]
    kinds: dict[str, str]


def _in_run(function: Callable[..., Any]) -> Callable[..., Any]:
    """Call ``function`` inside a fresh run, ended whatever happens."""

    def wrapped(**kwargs: Any) -> Any:
        with cairn.run(name="hostile"):
            return function(**kwargs)

    return wrapped


def _experiment(name: str) -> str:
    """An experiment named ``name``, created unless it exists."""
    from cairn import tracking

    if name not in {e.name for e in tracking.list_experiments()}:
        tracking.create_experiment(name)
    return name


TABLE: list[Entry] = [
    # tracking
    Entry("start_run", cairn.start_run, lambda w: {},
          {"name": "optional-name", "experiment": "optional-name", "params": "params",
           "tags": "tags"}),
    Entry("log", _in_run(cairn.log), lambda w: {"metrics": {"m": 1.0}},
          {"metrics": "metrics", "step": "int"}),
    Entry("log_params", _in_run(cairn.log_params), lambda w: {"params": {"p": 1}},
          {"params": "params"}),
    Entry("set_tags", _in_run(cairn.set_tags), lambda w: {"tags": {"t": "v"}}, {"tags": "tags"}),
    Entry("log_artifact", _in_run(cairn.log_artifact),
          lambda w: {"path": str(w.file), "name": "f.txt"}, {"path": "source", "name": "name"}),
    Entry("log_text", _in_run(cairn.log_text), lambda w: {"text": "t", "name": "t.txt"},
          {"text": "content", "name": "name"}),
    Entry("log_dict", _in_run(cairn.log_dict), lambda w: {"data": {"k": 1}, "name": "d.yaml"},
          {"name": "name", "data": "document"}),
    Entry("get_run", cairn.get_run, lambda w: {"run_id": w.run_id},
          {"run_id": "ref", "history": "flag"}),
    Entry("search_runs", cairn.search_runs, lambda w: {},
          {"filter": "query", "order_by": "query", "experiment": "optional-ref", "limit": "int"}),
    Entry("download_artifacts", cairn.download_artifacts,
          lambda w: {"run_id": w.run_id, "path": "a.txt", "dest": str(w.root / "out")},
          {"run_id": "ref", "path": "optional-ref", "dest": "dest"}),
    Entry("tracking.list_artifacts", cairn.tracking.list_artifacts,
          lambda w: {"run_id": w.run_id}, {"run_id": "ref", "path": "optional-ref"}),
    Entry("delete_runs", cairn.delete_runs, lambda w: {"run_ids": [w.run_id]},
          {"run_ids": "ref"}),
    Entry("end_run", _in_run(cairn.end_run), lambda w: {}, {"status": "ref"}),
    Entry("tracking.create_experiment", cairn.tracking.create_experiment, lambda w: {},
          {"name": "name"}),
    Entry("tracking.rename_experiment", cairn.tracking.rename_experiment,
          lambda w: {"old": _experiment("hostile-old"), "new": "hostile-new"},
          {"old": "ref", "new": "name"}),
    Entry("tracking.delete_experiment", cairn.tracking.delete_experiment,
          lambda w: {"name": "nothing"}, {"name": "ref", "force": "flag"}),
    Entry("seed", cairn.seed, lambda w: {"value": 1}, {"value": "int"}),
    # data
    Entry("data.add", data.add, lambda w: {"path": str(w.file), "name": "ds2"},
          {"path": "source", "name": "name", "description": "text", "owner": "short",
           "frequency": "short", "source": "text", "tags": "tags", "suite": "text"}),
    Entry("data.edit_dataset", data.edit_dataset, lambda w: {"name": w.dataset},
          {"name": "ref", "description": "text", "owner": "short", "frequency": "short",
           "source": "text", "tags": "tags"}),
    Entry("data.version", data.version, lambda w: {"ref": w.dataset}, {"ref": "ref"}),
    Entry("data.files", data.files, lambda w: {"ref": w.dataset}, {"ref": "ref"}),
    Entry("data.path", data.path, lambda w: {"ref": w.dataset}, {"ref": "ref"}),
    Entry("data.load", data.load, lambda w: {"ref": w.dataset},
          {"ref": "ref", "as_": "ref", "file": "text"}),
    Entry("data.get", data.get, lambda w: {"ref": w.dataset, "dest": str(w.root / "got")},
          {"ref": "ref", "dest": "dest"}),
    Entry("data.show_dataset", data.show_dataset, lambda w: {"name": w.dataset},
          {"name": "ref"}),
    Entry("data.diff_versions", data.diff_versions, lambda w: {"a": w.dataset, "b": w.dataset},
          {"a": "ref", "b": "ref"}),
    Entry("data.remove_version", data.remove_version, lambda w: {"ref": "nothing@v1"},
          {"ref": "ref"}),
    Entry("data.restore_version", data.restore_version, lambda w: {"ref": "nothing@v1"},
          {"ref": "ref"}),
    Entry("data.run_datasets", data.run_datasets, lambda w: {"run_id": w.run_id},
          {"run_id": "ref"}),
    Entry("data.status", data.status, lambda w: {"name": w.dataset},
          {"name": "ref", "path": "optional-source"}),
    # registry
    Entry("load_model", cairn.load_model, lambda w: {"uri": f"models:/{w.model}/1"},
          {"uri": "ref"}),
    Entry("log_model", _in_run(cairn.log_model), lambda w: {"model": w.estimator, "name": "m2"},
          {"name": "name", "description": "text", "tags": "tags", "artifact_path": "text"}),
    Entry("registry.get_model", registry.get_model, lambda w: {"name": w.model},
          {"name": "ref"}),
    Entry("registry.get_model_version", registry.get_model_version,
          lambda w: {"ref": w.model}, {"ref": "ref"}),
    Entry("registry.list_versions", registry.list_versions, lambda w: {"name": w.model},
          {"name": "ref"}),
    Entry("registry.set_alias", registry.set_alias,
          lambda w: {"name": w.model, "alias": "staging", "version": 1},
          {"name": "ref", "alias": "name", "version": "version", "reason": "text",
           "also": "optional-callable"}),
    Entry("registry.rollback_alias", registry.rollback_alias,
          lambda w: {"name": w.model, "alias": "champion", "reason": "r"},
          {"name": "ref", "alias": "name", "reason": "text"}),
    Entry("registry.delete_alias", registry.delete_alias,
          lambda w: {"name": w.model, "alias": "nothing"}, {"name": "ref", "alias": "ref"}),
    Entry("registry.alias_history", registry.alias_history, lambda w: {"name": w.model},
          {"name": "ref"}),
    Entry("registry.describe", registry.describe,
          lambda w: {"ref": w.model, "description": "d"}, {"ref": "ref", "description": "text"}),
    Entry("registry.set_model_tags", registry.set_model_tags,
          lambda w: {"ref": w.model, "tags": {"t": "v"}}, {"ref": "ref", "tags": "tags"}),
    Entry("registry.delete_version", registry.delete_version, lambda w: {"ref": "nothing/1"},
          {"ref": "ref"}),
    Entry("registry.restore_version", registry.restore_version, lambda w: {"ref": "nothing/1"},
          {"ref": "ref"}),
    Entry("registry.model_lineage", registry.model_lineage, lambda w: {"ref": w.model},
          {"ref": "ref"}),
    Entry("registry.model_inputs_from", registry.model_inputs_from,
          lambda w: {"dataset_ref": w.dataset}, {"dataset_ref": "ref"}),
    Entry("registry.compare_models", registry.compare_models,
          lambda w: {"a": w.model, "b": w.model}, {"a": "ref", "b": "ref"}),
    Entry("registry.export_model", registry.export_model,
          lambda w: {"uri": w.model, "dest": str(w.root / "exported")},
          {"uri": "ref", "dest": "dest"}),
    Entry("registry.promote", registry.promote,
          lambda w: {"name": w.model, "from_alias": "champion", "to_alias": "production"},
          {"name": "ref", "from_alias": "name", "to_alias": "name", "require": "query"}),
    Entry("registry.parse_rule", registry.parse_rule, lambda w: {"text": "metrics.m > 0"},
          {"text": "query"}),
    Entry("registry.rule_references", registry.rule_references, lambda w: {"rule": "m > 0"},
          {"rule": "query"}),
    Entry("registry.evaluate_rule", registry.evaluate_rule,
          lambda w: {"rule": "m > champion.m", "sides": {None: {"m": 1.0}, "champion": None}},
          {"rule": "query", "sides": "sides"}),
    Entry("registry.signature_changes", registry.signature_changes,
          lambda w: {"a": None, "b": None},
          {"a": "optional-cairn-object", "b": "optional-cairn-object"}),
    Entry("registry.lineage_graph", registry.lineage_graph,
          lambda w: {"uri": f"models:/{w.model}/1"},
          {"uri": "ref", "depth": "int", "limit": "int"}),
    # serving
    Entry("serving.lineage", serving.lineage, lambda w: {"uri": f"models:/{w.model}/1"},
          {"uri": "ref", "depth": "int", "limit": "int"}),
    Entry("serving.with_deployments", serving.with_deployments,
          lambda w: {"graph": registry.lineage_graph(f"models:/{w.model}/1")},
          {"graph": "cairn-object"}),
    Entry("serving.route_name", serving.route_name, lambda w: {"uri": w.model}, {"uri": "key"}),
    Entry("serving.read_prediction_log", serving.read_prediction_log,
          lambda w: {"model": w.model}, {"model": "key", "since": "optional-int",
                                         "until": "optional-int"}),
    Entry("serving.purge_prediction_log", serving.purge_prediction_log,
          lambda w: {"model": w.model, "request_ids": ["r1"]},
          {"model": "key", "request_ids": "key", "before": "optional-int"}),
    Entry("serving.build_context", serving.build_context,
          lambda w: {"model_uri": f"models:/{w.model}/1", "output": str(w.root / "ctx")},
          {"model_uri": "ref", "output": "dest", "port": "int"}),
    Entry("serving.score", serving.score,
          lambda w: {"model_uri": f"models:/{w.model}/1", "input": str(w.root / "in.csv"),
                     "output": str(w.root / "out.csv")},
          {"model_uri": "ref", "input": "source", "output": "dest", "chunk_rows": "int"}),
    # validation
    Entry("validate", cairn.validate, lambda w: {"data": w.frame, "suite": "no-such-suite"},
          {"suite": "ref", "chunk_rows": "int"}),
    Entry("validation.load_suite", validation.load_suite, lambda w: {"ref": "no-such-suite"},
          {"ref": "ref"}),
    Entry("validation.results_of", validation.results_of,
          lambda w: {"dataset_version": f"{w.dataset}@v1"}, {"dataset_version": "ref"}),
    Entry("validation.save_suite", validation.save_suite, lambda w: {"suite": None},
          {"suite": "cairn-object"}),
    Entry("validation.to_html", validation.to_html, lambda w: {"result": None},
          {"result": "cairn-object"}),
    Entry("validation.record_result", validation.record_result,
          lambda w: {"result": None, "suite": None, "target": "t"}, {"result": "cairn-object"}),
    Entry("validation.table_batches", lambda **kw: list(validation.table_batches(**kw)),
          lambda w: {"data": w.frame}, {"data": "source", "chunk_rows": "int"}),
    Entry("validation.profile", validation.profile, lambda w: {"data": w.frame},
          {"name": "name", "holdout": "number", "seed": "int", "tolerance": "number",
           "source": "text"}),
]  # fmt: skip

# --- pipelines (owned by the pipelines tests; edit only inside this block) ----------------

_HOSTILE_FLOW = """
import cairn


@cairn.step
def echo(p):
    return p


@cairn.step
def boom():
    raise RuntimeError("boom")


@cairn.pipeline
def hostile(p=1):
    return echo(p)


@cairn.pipeline
def failing():
    return boom()
"""


def _flow(world: World) -> str:
    """MODULE of two tiny pipelines (``hostile``, ``failing``) written into the project."""
    if "flow" not in world._made:
        import importlib
        import sys

        (world.root / "hostile_flow.py").write_text(_HOSTILE_FLOW)
        sys.modules.pop("hostile_flow", None)  # another test's project wrote one too
        importlib.invalidate_caches()
        world._made["flow"] = "hostile_flow"
    return str(world._made["flow"])


def _failed_pipeline_run(world: World) -> str:
    """The id of a pipeline run whose one step failed."""
    if "failed" not in world._made:
        result = pipelines.run_pipeline(f"{_flow(world)}:failing", executor="inline")
        world._made["failed"] = result.run_id
    return str(world._made["failed"])


def _decorate(**kwargs: Any) -> Any:
    """``cairn.pipeline(function, **kwargs)``: its function is positional only."""
    return cairn.pipeline(lambda: None, **kwargs)


def _close_executor(**kwargs: Any) -> None:
    """``executor_for(**kwargs)``, closed at once (a processes executor forks workers)."""
    pipelines.executor_for(**kwargs).close()


def _stop_started(**kwargs: Any) -> None:
    """``start_pipeline(**kwargs)``, stopped at once (it starts a process)."""
    process = pipelines.start_pipeline(**kwargs)
    process.terminate()
    process.finish()


from cairn import pipelines  # noqa: E402  (kept inside this block)

TABLE += [
    Entry("pipelines.run_pipeline", pipelines.run_pipeline,
          lambda w: {"target": f"{_flow(w)}:hostile", "executor": "inline"},
          {"target": "ref", "params": "params", "only": "optional-ref",
           "workers": "optional-int", "tags": "tags"}),
    Entry("pipelines.pipeline_status", pipelines.pipeline_status,
          lambda w: {"target": f"{_flow(w)}:hostile"}, {"target": "ref"}),
    Entry("pipelines.resume_pipeline", pipelines.resume_pipeline,
          lambda w: {"run_id": _failed_pipeline_run(w), "executor": "inline"},
          {"run_id": "ref", "workers": "optional-int"}),
    Entry("pipelines.find_pipeline_runs", pipelines.find_pipeline_runs, lambda w: {},
          {"name": "optional-ref", "limit": "int"}),
    Entry("pipelines.describe_pipeline", pipelines.describe_pipeline,
          lambda w: {"target": f"{_flow(w)}:hostile"}, {"target": "ref"}),
    Entry("pipelines.load_pipeline", pipelines.load_pipeline,
          lambda w: {"target": f"{_flow(w)}:hostile"}, {"target": "ref"}),
    Entry("pipelines.executor_for", _close_executor, lambda w: {"spec": "inline"},
          {"spec": "optional-ref", "workers": "optional-int"}),
    Entry("step", cairn.step, lambda w: {},
          {"retries": "int", "timeout": "number", "cache": "cairn-object",
           "resources": "tags"}),
    Entry("pipeline", _decorate, lambda w: {}, {"name": "optional-name"}),
    Entry("pipelines.schedule_pipeline", pipelines.schedule_pipeline,
          lambda w: {"target": f"{_flow(w)}:hostile", "cron": "0 3 * * *"},
          {"target": "ref", "cron": "optional-ref", "on_data": "optional-ref",
           "on_event": "optional-ref", "executor": "optional-ref",
           "name": "optional-name", "params": "params"}),
    Entry("pipelines.get_schedule", pipelines.get_schedule, lambda w: {"name": "nothing"},
          {"name": "ref"}),
    Entry("pipelines.remove_schedule", pipelines.remove_schedule,
          lambda w: {"name": "nothing"}, {"name": "ref"}),
    Entry("pipelines.emit_event", pipelines.emit_event, lambda w: {"name": "drift_detected"},
          {"name": "name", "payload": "document"}),
    Entry("pipelines.run_due", pipelines.run_due, lambda w: {},
          {"now_ms": "optional-int", "companions": "cairn-object"}),
    Entry("pipelines.start_pipeline", _stop_started,
          lambda w: {"target": f"{_flow(w)}:hostile", "executor": "inline",
                     "root": str(w.root), "label": "hostile"},
          {"target": "ref", "params": "params", "tags": "tags", "executor": "optional-ref",
           "root": "source", "label": "name"}),
    Entry("pipelines.pipeline_run_graph", pipelines.pipeline_run_graph,
          lambda w: {"run_id": _failed_pipeline_run(w)}, {"run_id": "ref"}),
    Entry("pipelines.check_cron", pipelines.check_cron, lambda w: {"expression": "0 3 * * *"},
          {"expression": "ref"}),
    Entry("pipelines.next_cron_ms", pipelines.next_cron_ms,
          lambda w: {"expression": "0 3 * * *", "after_ms": 0}, {"after_ms": "int"}),
    Entry("pipelines.check_target", pipelines.check_target,
          lambda w: {"target": f"{_flow(w)}:hostile"}, {"target": "ref"}),
    Entry("pipelines.check_pipeline", pipelines.check_pipeline,
          lambda w: {"target": f"{_flow(w)}:hostile", "root": w.root, "params": {}},
          {"target": "ref"}),
    Entry("pipelines.check_executor", pipelines.check_executor, lambda w: {"executor": "inline"},
          {"executor": "optional-ref"}),
    Entry("pipelines.param_texts", pipelines.param_texts, lambda w: {"params": {"p": 1}},
          {"params": "params"}),
    Entry("pipelines.require_dataset", pipelines.require_dataset, lambda w: {"name": "nothing"},
          {"name": "ref"}),
]  # fmt: skip


def test_table_covers_the_pipelines_functions() -> None:
    """Every public function of cairn.pipelines that takes arguments is in the table (its
    decorators as cairn.step and cairn.pipeline)."""
    import inspect

    exempt = {
        "pipelines.step", "pipelines.pipeline",  # the same functions as cairn.*
        "pipelines.run_scheduler",  # polls until stopped; its one argument is run_due's pace
    }  # fmt: skip
    names = {
        f"pipelines.{name}"
        for name in pipelines.__all__
        if inspect.isfunction(getattr(pipelines, name))
        and inspect.signature(getattr(pipelines, name)).parameters
    }
    assert names - {entry.name for entry in TABLE} - exempt == set()


# --- end of the pipelines block ------------------------------------------------------------

# --- monitoring (owned by the monitoring tests; edit only inside this block) ---------------

from cairn import monitoring  # noqa: E402  (kept inside this block)

# A window: a duration ("1h") or a row count (10000).
KINDS["window"] = [
    ("nul", NUL, BAD),
    ("surrogate", SURROGATE, BAD),
    ("empty", "", BAD),
    ("huge", HUGE, BAD),
    ("zero", 0, BAD),
    ("negative", -1, BAD),
    ("bignum", 10**400, BAD),
    ("float", 1.5, BAD),
    ("bool", True, BAD),
    ("object", Opaque(), BAD),
]
# A point in time: a datetime, epoch milliseconds, a date, or a span back from now ("24h").
KINDS["optional-time"] = [
    ("nul", NUL, BAD),
    ("surrogate", SURROGATE, BAD),
    ("huge", HUGE, BAD),
    ("garbage", "last tuesday", BAD),
    ("bignum", 10**400, BAD),
    ("nan", math.nan, BAD),
    ("None", None, ANY),
    ("object", Opaque(), BAD),
]
KINDS["optional-columns"] = [
    ("nul", [NUL], ANY),  # a column name is looked up, never stored: it is simply missing
    ("surrogate", [SURROGATE], ANY),
    ("empty-list", [], BAD),
    ("empty-name", [""], ANY),  # a table may have a column named ""
    ("text", "a", BAD),
    ("int", 123, BAD),
    ("int-name", [123], BAD),
    ("None", None, ANY),
]


def _sketch(world: World) -> Any:
    return monitoring.sketch_table(world.frame)


def _labelled(world: World) -> dict[str, Any]:
    """score_model's arguments: model m and rows it predicts (a column without a name, as it
    was fitted) beside their labels."""
    import pandas as pd

    frame = pd.DataFrame({0: [0.0, 1.0, 2.0], "y": [0.0, 1.0, 2.0]})
    return {"model": f"{world.model}/1", "data": frame, "target": "y"}


TABLE += [
    Entry("monitor.drift", monitoring.drift,
          lambda w: {"reference": w.frame, "current": w.frame},
          {"reference": "source", "current": "source", "columns": "optional-columns",
           "threshold": "number"}),
    Entry("monitor.compare", monitoring.compare,
          lambda w: {"reference": _sketch(w), "current": _sketch(w)},
          {"reference": "cairn-object", "current": "cairn-object",
           "columns": "optional-columns", "threshold": "number"}),
    Entry("monitor.sketch_table", monitoring.sketch_table, lambda w: {"data": w.frame},
          {"data": "source", "columns": "optional-columns", "limit": "optional-int"}),
    Entry("monitor.compute_reference", monitoring.compute_reference,
          lambda w: {"model": f"{w.model}/1", "data": w.frame},
          {"model": "ref", "data": "optional-source"}),
    Entry("monitor.get_reference", monitoring.get_reference,
          lambda w: {"model": f"{w.model}/1"}, {"model": "ref"}),
    Entry("monitor.monitor_model", monitoring.monitor_model, lambda w: {"model": w.model},
          {"model": "ref", "window": "window", "since": "optional-time",
           "until": "optional-time"}),
    Entry("monitor.monitor_history", monitoring.monitor_history, lambda w: {"model": w.model},
          {"model": "ref", "limit": "optional-int", "since": "optional-time"}),
    Entry("monitor.record_labels", monitoring.record_labels,
          lambda w: {"model": w.model, "labels": w.frame, "id_column": "a",
                     "label_column": "a"},
          {"model": "ref", "labels": "source", "id_column": "name", "label_column": "name",
           "window": "window", "task": "optional-ref"}),
    Entry("monitor.check_alerts", monitoring.check_alerts, lambda w: {},
          {"now_ms": "optional-int"}),
    Entry("monitor.list_alerts", monitoring.list_alerts, lambda w: {},
          {"subject": "optional-ref", "limit": "optional-int"}),
    Entry("monitor.monitored_models", monitoring.monitored_models, lambda w: {},
          {"limit": "optional-int"}),
    Entry("monitor.quality_history", monitoring.quality_history, lambda w: {"model": w.model},
          {"model": "ref", "limit": "optional-int"}),
    Entry("monitor.score_model", monitoring.score_model, _labelled,
          {"model": "ref", "data": "source", "target": "name", "latency_rows": "int"}),
    Entry("monitor.raise_alert", monitoring.raise_alert,
          lambda w: {"rule": "loop:refused", "subject": "m", "message": "refused",
                     "evidence": {}, "window_start_ms": 0, "window_end_ms": 1},
          {"rule": "name", "subject": "name", "message": "text", "evidence": "document",
           "window_start_ms": "int", "window_end_ms": "int"}),
    Entry("monitor.write_report", monitoring.write_report,
          lambda w: {"model": w.model, "path": str(w.root / "report.html")},
          {"model": "ref", "path": "dest", "since": "optional-time", "until": "optional-time",
           "limit": "optional-int"}),
]  # fmt: skip


def test_table_covers_the_monitoring_functions() -> None:
    """Every public function of cairn.monitor that takes arguments is in the table."""
    import inspect

    exempt = {
        "monitor.flush_alerts",  # a timeout in seconds, nothing stored
    }  # fmt: skip
    names = {
        f"monitor.{name}"
        for name in monitoring.__all__
        if inspect.isfunction(getattr(monitoring, name))
        and inspect.signature(getattr(monitoring, name)).parameters
    }
    assert names - {entry.name for entry in TABLE} - exempt == set()


# --- end of the monitoring block -----------------------------------------------------------

# --- server (owned by the server tests; edit only inside this block) -----------------------

from cairn import server  # noqa: E402  (kept inside this block)
from cairn.server import audit  # noqa: E402
from cairn.tracking import ingest  # noqa: E402
from cairn.tracking.record import ArtifactEntry  # noqa: E402

_DIGEST = "blake3:" + "0" * 64  # well formed, never stored

# Params as a client sends them: [text, is_json].
KINDS["wire-params"] = [
    ("nul-key", {NUL: ("1", True)}, BAD),
    ("surrogate-key", {SURROGATE: ("1", True)}, BAD),
    ("empty-key", {"": ("1", True)}, BAD),
    ("huge-key", {HUGE: ("1", True)}, BAD),
    ("int-key", {123: ("1", True)}, BAD),
    ("nul-value", {"p": (NUL, False)}, BAD),
    ("surrogate-value", {"p": (SURROGATE, False)}, BAD),
    ("huge-value", {"p": (HUGE, False)}, ANY),
    ("invalid-json", {"p": ("{", True)}, BAD),
    ("deep-json", {"p": ("[" * 100_000 + "]" * 100_000, True)}, BAD),
    ("number-past-float64", {"p": ("1" + "0" * 5000, True)}, BAD),
    ("int-past-float64", {"p": ("1" + "0" * 400, True)}, BAD),
    ("not-a-pair", {"p": "x"}, BAD),
    ("text-flag", {"p": ("1", "yes")}, BAD),
    ("int-text", {"p": (1, True)}, BAD),
    *[(label, value, BAD) for label, value in WRONG_TYPES],
]
# Tags as a client sends them: text values.
KINDS["wire-tags"] = [
    ("nul-key", {NUL: "v"}, BAD),
    ("nul-value", {"t": NUL}, BAD),
    ("surrogate-key", {SURROGATE: "v"}, BAD),
    ("surrogate-value", {"t": SURROGATE}, BAD),
    ("huge-key", {HUGE: "v"}, BAD),
    ("huge-value", {"t": HUGE}, ANY),
    ("int-key", {123: "v"}, BAD),
    ("int-value", {"t": 123}, BAD),
    *[(label, value, BAD) for label, value in WRONG_TYPES],
]
# Metric points as a client sends them: {key: (steps, timestamps, values)}.
KINDS["wire-metrics"] = [
    ("nul-key", {NUL: ([0], [0], [1.0])}, BAD),
    ("surrogate-key", {SURROGATE: ([0], [0], [1.0])}, BAD),
    ("empty-key", {"": ([0], [0], [1.0])}, BAD),
    ("int-key", {123: ([0], [0], [1.0])}, BAD),
    ("step-past-int64", {"m": ([0, 2**63], [0, 0], [1.0, 2.0])}, BAD),
    ("ts-past-int64", {"m": ([0], [-(2**63) - 1], [1.0])}, BAD),
    ("float-step", {"m": ([1.5], [0], [1.0])}, BAD),
    ("text-value", {"m": ([0], [0], ["1"])}, BAD),
    ("bignum-value", {"m": ([0], [0], [10**400])}, BAD),
    ("nan-value", {"m": ([0], [0], [math.nan])}, ANY),
    ("lengths-differ", {"m": ([0, 1], [0], [1.0])}, BAD),
    ("two-columns", {"m": ([0], [0])}, BAD),
    *[(label, value, BAD) for label, value in WRONG_TYPES],
]
# Database ids of runs (the server finds them with ingest.run_owner).
KINDS["db-ids"] = [
    ("bignum", [10**400], BAD),
    ("int64-overflow", [2**63], BAD),
    ("text", ["1"], BAD),
    *[(label, value, BAD) for label, value in WRONG_TYPES],
]
_BAD_PATHS: list[tuple[str, Any]] = [
    ("traversal", TRAVERSAL),
    ("absolute", "/etc/passwd"),
    ("climbing", "a/../../b"),
    ("empty-part", "a//b"),
    ("dot", "./a"),
    ("backslash", "a\\b"),
    ("empty", ""),
    ("nul", NUL),
    ("surrogate", SURROGATE),
    ("huge", HUGE),
    ("int", 123),
]
# Artifacts to record: (path, digest, size) of uploaded objects.
KINDS["artifact-entries"] = [
    *[(f"path-{lb}", [ArtifactEntry(path, _DIGEST, 1)], BAD) for lb, path in _BAD_PATHS],
    ("digest-not-blake3", [ArtifactEntry("a", "md5:" + "0" * 32, 1)], BAD),
    ("digest-upper", [ArtifactEntry("a", _DIGEST.upper(), 1)], BAD),
    ("digest-None", [ArtifactEntry("a", None, 1)], BAD),  # type: ignore[arg-type]
    ("size-negative", [ArtifactEntry("a", _DIGEST, -1)], BAD),
    ("size-int64-overflow", [ArtifactEntry("a", _DIGEST, 2**63)], BAD),
    ("never-uploaded", [ArtifactEntry("a", _DIGEST, 1)], ERR),
    ("not-entries", [("a", _DIGEST, 1)], BAD),
    *[(label, value, BAD) for label, value in WRONG_TYPES],
]
# A true/false switch: anything is taken for its truth, never a foreign exception.
KINDS["flag"] = [(label, value, ANY) for label, value in [("text", "no"), *WRONG_TYPES]]


def _db(world: World) -> Any:
    """The metadata database the test configured."""
    from cairn.store import get_store

    return get_store().db


def _store(world: World) -> Any:
    """The store the test configured."""
    from cairn.store import get_store

    return get_store()


def _run_db_id(world: World) -> int:
    """The database id of the world's (finished) run."""
    return ingest.run_owner(_store(world), world.run_id)[0]


def _stored_entry(world: World) -> list[ArtifactEntry]:
    """The world's run's artifact, to record again under another path."""
    stored = cairn.get_run(world.run_id).artifacts[0]
    return [ArtifactEntry("copy.txt", stored.digest, stored.size)]


def _new_run(world: World) -> dict[str, Any]:
    """The arguments of ingest_run that create a run (once; later calls find it)."""
    return {
        "store": _store(world), "uid": "c" * 26, "experiment": "e", "name": "n",
        "parent": None, "start_ms": 1, "user": "ann", "host": "h", "pid": 1,
        "params": {"p": ("1", True)}, "tags": {"t": "v"},
    }  # fmt: skip


TABLE += [
    Entry("server.create_token", server.create_token,
          lambda w: {"db": _db(w), "user": "ann", "role": "reader"},
          {"user": "name", "role": "name", "expires_ms": "optional-int",
           "created_by": "optional-name", "actor": "optional-name"}),
    Entry("server.authenticate", server.authenticate, lambda w: {"db": _db(w), "token": "x"},
          {"token": "token"}),
    Entry("server.list_tokens", server.list_tokens, lambda w: {"db": _db(w)},
          {"include_revoked": "flag"}),
    Entry("server.revoke_token", server.revoke_token,
          lambda w: {"db": _db(w), "token_id": server.create_token(_db(w), "ann", "reader")[1]
                     .token_id},
          {"token_id": "ref", "actor": "optional-name"}),
    Entry("server.audit.list_events", audit.list_events, lambda w: {"db": _db(w)},
          {"since_ms": "optional-int", "action": "optional-ref", "user": "optional-ref",
           "limit": "int"}),
    Entry("ingest.run_owner", ingest.run_owner,
          lambda w: {"store": _store(w), "uid": w.run_id}, {"uid": "ref"}),
    Entry("ingest.ingest_run", ingest.ingest_run, _new_run,
          {"uid": "ref", "experiment": "name", "name": "name", "parent": "optional-ref",
           "start_ms": "int", "user": "short", "host": "short", "pid": "optional-int",
           "params": "wire-params", "tags": "wire-tags"}),
    Entry("ingest.ingest_batch", ingest.ingest_batch,
          lambda w: {"store": _store(w), "run_id": _run_db_id(w), "key": "k",
                     "metrics": {"m": ([0], [0], [1.0])}, "params": {}, "tags": {}},
          {"run_id": "int", "key": "name", "metrics": "wire-metrics", "params": "wire-params",
           "tags": "wire-tags"}),
    Entry("ingest.ingest_end", ingest.ingest_end,
          lambda w: {"store": _store(w), "run_id": _run_db_id(w), "status": "finished",
                     "end_ms": 1, "error": None},
          {"run_id": "int", "status": "ref", "end_ms": "int", "error": "text"}),
    Entry("ingest.ingest_fail", ingest.ingest_fail,
          lambda w: {"store": _store(w), "run_id": _run_db_id(w), "end_ms": 1, "error": "e"},
          {"run_id": "int", "end_ms": "int", "error": "text"}),
    Entry("ingest.ingest_claim", ingest.ingest_claim,
          lambda w: {"store": _store(w), "run_id": _run_db_id(w), "host": "h", "pid": 1},
          {"run_id": "int", "host": "name", "pid": "int"}),
    Entry("ingest.ingest_heartbeat", ingest.ingest_heartbeat,
          lambda w: {"store": _store(w), "run_ids": [_run_db_id(w)]}, {"run_ids": "db-ids"}),
    Entry("ingest.ingest_artifacts", ingest.ingest_artifacts,
          lambda w: {"store": _store(w), "run_id": _run_db_id(w), "entries": _stored_entry(w)},
          {"run_id": "int", "entries": "artifact-entries"}),
]  # fmt: skip


def test_table_covers_the_server_functions() -> None:
    """Every public function of cairn.server, its audit log and cairn.tracking.ingest that
    takes arguments is in the table (create_app is exempt: it builds an app)."""
    import inspect

    exempt = {
        "server.create_app",
        "server.status_of",  # maps one of cairn's own errors to an HTTP status: no user value
    }
    names = {f"server.{name}" for name in server.__all__}
    names.add("server.audit.list_events")
    names |= {
        f"ingest.{name}"
        for name, function in vars(ingest).items()
        if inspect.isfunction(function)
        and function.__module__ == ingest.__name__
        and not name.startswith("_")
    }
    functions = {
        name
        for name in names
        if inspect.isfunction(function := _named(name)) and inspect.signature(function).parameters
    }
    assert functions - {entry.name for entry in TABLE} - exempt == set()


def _named(name: str) -> Any:
    """The function a table name stands for."""
    if name.startswith("ingest."):
        return getattr(ingest, name.removeprefix("ingest."))
    if name == "server.audit.list_events":
        return audit.list_events
    return getattr(server, name.removeprefix("server."))


# --- end of the server block ---------------------------------------------------------------

# --- loop (owned by the loop tests; edit only inside this block) ---------------------------

from cairn import loop  # noqa: E402  (kept inside this block)

# A list of names (alert rules, datasets); a text is taken as one name.
KINDS["names"] = [
    ("nul", [NUL], BAD),
    ("surrogate", [SURROGATE], BAD),
    ("huge", [HUGE], BAD),
    ("empty-name", [""], BAD),
    ("int-name", [123], BAD),
    ("unknown", ["nothing"], ERR),
    ("None", None, ANY),
    ("empty-list", [], ANY),
    ("int", 123, BAD),
    ("object", Opaque(), BAD),
]


def _loop_policy(world: World) -> dict[str, Any]:
    """set_policy's arguments for model m: the tiny pipeline, dataset ds as the trigger and
    the held-out data."""
    return {
        "model": world.model, "pipeline": f"{_flow(world)}:hostile", "on_data": [world.dataset],
        "holdout": world.dataset, "target": "b", "require": "rmse <= 100",
        "params": {"p": "{retraining}"}, "executor": "inline",
    }  # fmt: skip


def _with_policy(world: World) -> str:
    """Model m with a retraining policy."""
    if "policy" not in world._made:
        loop.set_policy(**_loop_policy(world))
        world._made["policy"] = world.model
    return str(world._made["policy"])


def _ended_retraining(world: World) -> int:
    """The number of a retraining of m that is over (dropped: one was queued already)."""
    model = _with_policy(world)
    loop.request_retraining(model)
    return loop.request_retraining(model).id


def _set_policy(**kwargs: Any) -> Any:
    return loop.set_policy(**kwargs)


TABLE += [
    Entry("loop.set_policy", _set_policy, _loop_policy,
          {"model": "ref", "pipeline": "ref", "holdout": "ref", "target": "name",
           "require": "query", "params": "params", "executor": "optional-ref",
           "on_alerts": "names", "on_data": "names", "cron": "optional-ref",
           "dataset": "optional-ref", "suite": "optional-ref", "window": "optional-ref",
           "alias": "name", "challenger_alias": "name", "on_busy": "name",
           "allow_signature_change": "flag", "monitor_window": "optional-ref",
           "monitor_every_s": "number", "shadow_rows": "optional-int",
           "shadow_timeout_s": "number"}),
    Entry("loop.get_policy", loop.get_policy, lambda w: {"model": _with_policy(w)},
          {"model": "ref"}),
    Entry("loop.remove_policy", loop.remove_policy, lambda w: {"model": w.model},
          {"model": "ref"}),
    Entry("loop.request_retraining", loop.request_retraining,
          lambda w: {"model": _with_policy(w)}, {"model": "ref", "reason": "text"}),
    Entry("loop.run_retraining", loop.run_retraining,
          lambda w: {"number": _ended_retraining(w)}, {"number": "int", "owner": "short"}),
    Entry("loop.get_retraining", loop.get_retraining,
          lambda w: {"number": _ended_retraining(w)}, {"number": "int"}),
    Entry("loop.list_retrainings", loop.list_retrainings, lambda w: {},
          {"model": "optional-ref", "limit": "optional-int"}),
    Entry("loop.model_history", loop.model_history, lambda w: {"model": w.model},
          {"model": "ref", "limit": "optional-int"}),
    Entry("loop.describe", loop.describe,
          lambda w: {"retraining": loop.get_retraining(_ended_retraining(w))},
          {"retraining": "cairn-object"}),
]  # fmt: skip


def test_table_covers_the_loop_functions() -> None:
    """Every public function of cairn.loop that takes arguments is in the table."""
    import inspect

    names = {
        f"loop.{name}"
        for name in loop.__all__
        if inspect.isfunction(getattr(loop, name))
        and inspect.signature(getattr(loop, name)).parameters
    }
    assert names - {entry.name for entry in TABLE} == set()


# --- end of the loop block -----------------------------------------------------------------

# --- integrations: autologging and the models it saves ----------------------------------------


def _autolog(**kwargs: Any) -> Any:
    """cairn.autolog, then off again (its patches are process-wide)."""
    try:
        return cairn.autolog(**kwargs)
    finally:
        cairn.autolog(disable=True)


def _saved_model(world: World) -> str:
    """The URI of a model a run saved without registering it."""
    if "saved" not in world._made:
        with cairn.run(name="saved"):
            world._made["saved"] = registry.save_model(world.estimator).uri
    return str(world._made["saved"])


TABLE += [
    Entry("autolog", _autolog, lambda w: {},
          {"frameworks": "names", "log_models": "flag", "disable": "flag"}),
    Entry("register_model", cairn.register_model,
          lambda w: {"uri": _saved_model(w), "name": "m3"},
          {"uri": "ref", "name": "name", "description": "text", "tags": "tags"}),
    Entry("registry.save_model", _in_run(registry.save_model),
          lambda w: {"model": w.estimator},
          {"path": "optional-name", "run": "optional-cairn-object",
           "metadata": "document", "flavor": "optional-name"}),
]  # fmt: skip


_OUTCOMES: dict[tuple[str, str, str], str] = {}  # (function, argument, value) -> outcome


def _cases(entry: Entry) -> Iterator[tuple[str, str, Any, str]]:
    for argument, kind in entry.kinds.items():
        for label, value, expected in KINDS[kind]:
            yield argument, label, value, expected


@pytest.mark.parametrize("entry", TABLE, ids=[entry.name for entry in TABLE])
def test_public_function_refuses_hostile_values_cleanly(
    quiet_capture: None, store: Store, project: Path, entry: Entry
) -> None:
    """Each hostile argument gives the expected CairnError (never a foreign exception), alike on
    both stores."""
    world = World(project)
    base = entry.base(world)
    problems = []
    for argument, label, value, expected in _cases(entry):
        kwargs = {**base, argument: world.resolve(value)}
        try:
            entry.call(**kwargs)
        except CairnError as exc:
            outcome = type(exc).__name__
            if not 0 < len(str(exc)) <= MAX_MESSAGE:  # a message quotes, never echoes, input
                problems.append(f"{argument}={label}: a message of {len(str(exc))} characters")
            if expected == BAD and not isinstance(exc, InvalidInputError):
                problems.append(f"{argument}={label}: {outcome} ({exc!s:.120}), not {BAD}")
        except Exception as exc:  # the defect this test exists for
            outcome = type(exc).__name__
            problems.append(f"{argument}={label}: foreign {outcome}: {exc!s:.160}")
        else:
            outcome = "ok"
            if expected != ANY:
                problems.append(f"{argument}={label}: accepted, expected {expected}")
        finally:
            while cairn.active_run() is not None:
                cairn.end_run()
        other = _OUTCOMES.setdefault((entry.name, argument, label), outcome)
        if other != outcome:
            problems.append(f"{argument}={label}: {outcome} here, {other} on the other store")
    assert not problems, f"{entry.name}:\n" + "\n".join(problems)


def test_table_covers_every_public_function() -> None:
    """Every public function of cairn and its namespaces (data, registry, serving, validation)
    that takes arguments is in the table, or listed here with the reason it is not."""
    import inspect

    exempt = {
        "configure",  # settings: validated by their own model (pydantic)
        "seed_worker",  # a DataLoader's worker number, nothing stored
        "log_figure",  # takes a figure object; its name goes through log_text's checks
        "run",  # the same function as start_run
        "data.gc", "registry.clear_load_cache",  # a grace period in seconds, nothing stored
        "data.quick_check",  # argv of the command line, read, never stored
        "registry.infer_signature",  # a data frame or array, nothing stored
        "registry.load_model", "registry.log_model",  # the same functions as cairn.*
        "registry.register_model",  # the same function as cairn.register_model
        "validation.validate",  # the same function as cairn.validate
        "serving.create_app", "serving.serve",  # take ModelSpec objects; run a server
    }  # fmt: skip
    names = set()
    modules = (
        ("", cairn),
        ("data.", data),
        ("registry.", registry),
        ("serving.", serving),
        ("validation.", validation),
        ("loop.", loop),
    )
    for prefix, module in modules:
        for name in module.__all__:
            function = getattr(module, name)
            if inspect.isfunction(function) and inspect.signature(function).parameters:
                names.add(prefix + name)
    covered = {entry.name for entry in TABLE}
    assert names - covered - exempt == set()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cairn.log({"bad": 1.0}, step=2**70), "step"),
        (lambda: cairn.log({"m": 10**400}), "metric 'm'"),
        (lambda: cairn.log_params({"p": 10**400}), "param 'p'"),
    ],
    ids=["step-past-int64", "metric-past-float64", "param-past-float64"],
)
def test_out_of_range_value_is_refused_and_loses_nothing(
    quiet_capture: None, store: Store, call: Callable[[], None], message: str
) -> None:
    """A step or value the store cannot hold is refused at the call, and the run's other
    metrics are all written."""
    with cairn.run() as run:
        cairn.log({"good": 1.0}, step=0)
        with pytest.raises(InvalidInputError, match=message):
            call()
        cairn.log({"good": 2.0}, step=1)
    record = cairn.get_run(run.id)
    assert record.status == "finished"
    assert [point.value for point in record.metric_history["good"]] == [1.0, 2.0]
    assert "bad" not in record.metrics and "m" not in record.metrics
    assert "p" not in record.params


def test_unstorable_point_in_the_sink_is_dropped_alone(quiet_capture: None, store: Store) -> None:
    """A point no store can hold that reaches the metric writer anyway is dropped and counted,
    and the points beside it and after it are written."""
    with cairn.run() as run:
        cairn.log({"good": 1.0}, step=0)
        sink = run._sink
        sink.add([(run._db_id, "bad", 2**70, 0, 1.0)])  # past the checks of cairn.log
        cairn.log({"good": 2.0}, step=1)
        sink.flush()
        assert sink.dropped == 1
        assert sink.last_error is not None and "'bad'" in sink.last_error
        cairn.log({"good": 3.0}, step=2)
    record = cairn.get_run(run.id)
    assert record.status == "finished"
    assert [point.value for point in record.metric_history["good"]] == [1.0, 2.0, 3.0]
    assert "bad" not in record.metrics


def test_download_refuses_an_unwritable_stored_path_before_writing(
    quiet_capture: None, project: Path
) -> None:
    """A run holding an artifact path no file system can take (recorded before names were
    checked; SQLite kept it) is refused whole by download_artifacts, with nothing written."""
    from cairn.core.errors import ArtifactError
    from cairn.core.ids import now_ms
    from cairn.store import get_store
    from cairn.tracking import _queries
    from cairn.tracking.record import ArtifactEntry

    with cairn.run() as run:
        good = run.log_text("a", "a.txt")
    bad = ArtifactEntry("b/nul\x00.txt", good.digest, good.size)
    get_store().db.transact(
        lambda conn: _queries.record_artifacts(conn, run._db_id, [bad], now_ms())
    )
    with pytest.raises(ArtifactError, match="nothing was written"):
        cairn.download_artifacts(run.id, dest=project / "out")
    assert not (project / "out").exists()


def test_validate_takes_a_saved_suite_by_name(quiet_capture: None, store: Store) -> None:
    """cairn.validate with a suite's name checks against the latest saved version of it, as the
    Suite object itself would (a name used to fail with AttributeError)."""
    import pandas as pd

    frame = pd.DataFrame({"a": list(range(50)), "b": [float(i) for i in range(50)]})
    suite = validation.profile(frame, "numbers")
    validation.save_suite(suite)
    by_name = cairn.validate(frame, "numbers")
    assert by_name.passed and cairn.validate(frame, suite).passed
    assert by_name.suite == suite.name
    with pytest.raises(CairnError, match="no suite named"):
        cairn.validate(frame, "no-such-suite")
