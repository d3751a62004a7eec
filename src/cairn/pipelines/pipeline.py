"""Pipelines: a function that calls steps; the graph is built from the data passed between them.

``cairn.pipeline`` wraps the function. Building the graph runs the function once with step
calls recording nodes (``Builder``): an argument that is a step's ``Output`` (or holds some,
inside lists, tuples and dicts) is an edge, so there is no YAML and no hand-written edge, and a
list comprehension over params is a fan-out whose results a later step takes as one list (the
fan-in). The function's own parameters are the pipeline's params: their defaults, then the
project's ``config.params`` of the same names, then ``--set`` overrides.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cairn.core.checks import check_name
from cairn.core.errors import InvalidInputError
from cairn.pipelines.step import Step

if TYPE_CHECKING:
    from cairn.pipelines.run import PipelineResult

_builder: ContextVar[Builder | None] = ContextVar("cairn_pipeline_builder", default=None)
MAX_NODES = 100_000


class PipelineDefinitionError(InvalidInputError):
    """A pipeline function cannot be turned into a graph of steps."""


class Output:
    """What a step will return, as a stand-in while the pipeline's graph is built.

    Pass it to other steps; ``output[0]`` or ``output["key"]`` takes a part of it. Its value is
    only known when the pipeline runs, so it cannot steer the pipeline function's own
    control flow (``if``, ``for``, ``len``).
    """

    __slots__ = ("_builder", "node", "path")

    def __init__(self, builder: Builder, node: str, path: tuple[int | str, ...] = ()) -> None:
        self._builder = builder
        self.node = node
        self.path = path

    def __repr__(self) -> str:
        return f"<Output of step {self.node}{''.join(f'[{p!r}]' for p in self.path)}>"

    def __getitem__(self, key: int | str) -> Output:
        if type(key) not in (int, str):
            raise PipelineDefinitionError(
                f"a step's output is indexed by an int or a str, not {type(key).__name__}"
            )
        return Output(self._builder, self.node, (*self.path, key))

    def _refuse(self, what: str) -> PipelineDefinitionError:
        step = self.node.rpartition("#")[0] or self.node  # "train#1" while the graph is built
        return PipelineDefinitionError(
            f"{what} the output of step {step} while the pipeline is being built: its value "
            "is only known when the pipeline runs. Pass it to another step, which gets the "
            "real value (use a step for logic that depends on it)"
        )

    def __bool__(self) -> bool:
        raise self._refuse("cannot test")

    def __iter__(self) -> Iterator[Any]:
        raise self._refuse("cannot iterate over")

    def __len__(self) -> int:
        raise self._refuse("cannot take the length of")

    def __format__(self, spec: str) -> str:
        # f"models/{out}.pkl" would pass a stand-in's repr to a step, silently
        raise self._refuse("cannot format")


def _refuse_operator(symbol: str) -> Callable[..., Any]:
    def refuse(self: Output, *other: Any) -> Any:
        raise self._refuse(f"cannot use {symbol} on")

    return refuse


# Arithmetic and ordering on a stand-in would raise Python's TypeError, with a traceback.
for _names, _symbol in (
    (("__add__", "__radd__"), "+"),
    (("__sub__", "__rsub__"), "-"),
    (("__mul__", "__rmul__"), "*"),
    (("__truediv__", "__rtruediv__"), "/"),
    (("__floordiv__", "__rfloordiv__"), "//"),
    (("__mod__", "__rmod__"), "%"),
    (("__pow__", "__rpow__"), "**"),
    (("__matmul__", "__rmatmul__"), "@"),
    (("__neg__",), "-"),
    (("__abs__",), "abs()"),
    (("__lt__", "__le__", "__gt__", "__ge__"), "<, <=, >, >="),
    (("__int__", "__float__", "__index__"), "int() or float()"),
):
    for _name in _names:
        setattr(Output, _name, _refuse_operator(_symbol))


@dataclass
class Node:
    """One call of a step in the graph."""

    id: str
    step: Step[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    upstream: list[str] = field(default_factory=list)  # node ids, in the order first passed


@dataclass
class Graph:
    """A pipeline's steps in an order where each comes after those it takes outputs from."""

    pipeline: str
    nodes: dict[str, Node]
    output: Any  # what the pipeline function returned (may hold Outputs)
    params: dict[str, Any]

    def downstream(self, node_ids: Sequence[str]) -> set[str]:
        """``node_ids`` and every node that takes their outputs, directly or not."""
        found = set(node_ids)
        for node in self.nodes.values():  # topological order: one pass suffices
            if any(up in found for up in node.upstream):
                found.add(node.id)
        return found

    def upstream(self, node_ids: Sequence[str]) -> set[str]:
        """``node_ids`` and every node whose outputs they need, directly or not."""
        found = set(node_ids)
        for node in reversed(list(self.nodes.values())):
            if node.id in found:
                found.update(node.upstream)
        return found

    def select(self, names: Sequence[str], what: str) -> set[str]:
        """The nodes a ``--force``/``--only`` name means: a node id (``train[1]``) or a step
        name (all its calls)."""
        chosen: set[str] = set()
        for name in names:
            matches = {n.id for n in self.nodes.values() if name in (n.id, n.step.name)}
            if not matches:
                steps = sorted({n.step.name for n in self.nodes.values()})
                raise InvalidInputError(
                    f"{what} {name!r:.80}: pipeline {self.pipeline} has no such step; its steps: "
                    f"{', '.join(steps[:20])}"
                )
            chosen |= matches
        return chosen


class Builder:
    """Records step calls while a pipeline function runs."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.nodes: dict[str, Node] = {}
        self._counts: dict[str, int] = {}

    def add(self, step: Step[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Output:
        """Record a call of ``step``; return the stand-in for its output."""
        if len(self.nodes) >= MAX_NODES:
            raise PipelineDefinitionError(
                f"pipeline {self.pipeline} has more than {MAX_NODES} steps; split the fan-out"
            )
        index = self._counts.get(step.name, 0)
        self._counts[step.name] = index + 1
        node_id = f"{step.name}#{index}"  # renamed once the counts are known (``finish``)
        upstream: list[str] = []
        for ref in iter_outputs((args, kwargs)):
            if ref._builder is not self:
                raise PipelineDefinitionError(
                    f"step {step.name} was passed the output of step {ref.node} from another "
                    "pipeline; a pipeline's steps take outputs of the same pipeline"
                )
            if ref.node not in upstream:
                upstream.append(ref.node)
        self.nodes[node_id] = Node(node_id, step, args, dict(kwargs), upstream)
        return Output(self, node_id)

    def finish(self, output: Any, params: dict[str, Any]) -> Graph:
        """The graph, with node ids ``name`` for a step called once, ``name[i]`` otherwise."""
        names = {}
        for node_id, node in self.nodes.items():
            index = int(node_id.rpartition("#")[2])
            names[node_id] = (
                node.step.name
                if self._counts[node.step.name] == 1
                else f"{node.step.name}[{index}]"
            )
        for ref in list(
            iter_outputs(
                (
                    output,
                    *(n.args for n in self.nodes.values()),
                    *(n.kwargs for n in self.nodes.values()),
                )
            )
        ):
            ref.node = names.get(ref.node, ref.node)
        nodes = {}
        for node in self.nodes.values():
            node.id = names[node.id]
            node.upstream = [names[u] for u in node.upstream]
            nodes[node.id] = node
        return Graph(self.pipeline, nodes, output, params)


def iter_outputs(value: Any, depth: int = 0) -> Iterator[Output]:
    """Every ``Output`` inside ``value`` (through lists, tuples, sets and dict values)."""
    if isinstance(value, Output):
        yield value
    elif depth > 50:
        return
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from iter_outputs(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_outputs(item, depth + 1)


def current_builder() -> Builder | None:
    """The builder of the pipeline whose graph is being built in this context, if any."""
    return _builder.get()


class Pipeline:
    """A function that calls steps, run as one tracked, cached pipeline."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        if not callable(fn) or isinstance(fn, (Pipeline, Step)):
            raise InvalidInputError(f"cairn.pipeline decorates a function, got {fn!r:.80}")
        if name is not None:  # it names the pipeline's runs and tags: storable text
            check_name(name, "a pipeline's name")
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "pipeline"))
        self.target: str | None = None  # MODULE:PIPELINE, once known (load_pipeline)
        module = getattr(fn, "__module__", None)
        if module and module != "__main__":
            self.target = f"{module}:{getattr(fn, '__qualname__', self.name)}"
        self.signature = inspect.signature(fn)
        for param in self.signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise PipelineDefinitionError(
                    f"pipeline {self.name}: params are named, with defaults or set by --set; "
                    f"*{param.name} cannot be given a value"
                )

    def __repr__(self) -> str:
        return f"<Pipeline {self.name}>"

    def defaults(self) -> dict[str, Any]:
        """The params the function declares with their defaults (required ones are absent)."""
        return {
            p.name: p.default
            for p in self.signature.parameters.values()
            if p.default is not inspect.Parameter.empty
        }

    def resolve_params(
        self, overrides: Mapping[str, Any] | None, project: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The params of a run: defaults, then ``project`` values of the same names, then
        ``overrides`` (an unknown override name is refused)."""
        names = list(self.signature.parameters)
        values = self.defaults()
        for key, value in (project or {}).items():
            if key in names:
                values[key] = _merged(values.get(key), value)
        for key, value in (overrides or {}).items():
            if key not in names:
                raise InvalidInputError(
                    f"pipeline {self.name} has no param {key!r:.80}; its params: "
                    f"{', '.join(names) or '(none)'}"
                )
            values[key] = _merged(values.get(key), value)
        missing = [n for n in names if n not in values]
        if missing:
            raise InvalidInputError(
                f"pipeline {self.name} needs a value for {', '.join(missing)}: set it in "
                f"cairn.yaml's params or with --set {missing[0]}=..."
            )
        return values

    def build(self, params: Mapping[str, Any]) -> Graph:
        """Run the function with step calls recorded; return the graph."""
        if _builder.get() is not None:
            raise PipelineDefinitionError(
                f"pipeline {self.name} is being built already; a pipeline cannot call itself"
            )
        builder = Builder(self.name)
        token = _builder.set(builder)
        try:
            output = self.fn(**params)
        except RecursionError:
            raise PipelineDefinitionError(
                f"pipeline {self.name} recurses without end while its graph is built (a cycle); "
                "a pipeline's steps must form a graph without cycles"
            ) from None
        finally:
            _builder.reset(token)
        return builder.finish(output, dict(params))

    def run(self, params: Mapping[str, Any] | None = None, **options: Any) -> PipelineResult:
        """Run the pipeline (see ``cairn.pipelines.run_pipeline`` for the options)."""
        from cairn.pipelines.run import run_pipeline

        return run_pipeline(self, params, **options)

    def __call__(self, **params: Any) -> Any:
        """Inside another pipeline: add this one's steps; otherwise run it and return its
        output (raising when a step failed)."""
        builder = _builder.get()
        if builder is not None:
            return self.fn(**params)
        return self.run(params).output()


def _merged(base: Any, value: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(value, Mapping):
        merged = dict(base)
        for key, item in value.items():
            merged[key] = _merged(merged.get(key), item)
        return merged
    return value


def pipeline(fn: Callable[..., Any] | None = None, /, *, name: str | None = None) -> Any:
    """Make a function that calls steps a pipeline (``@cairn.pipeline``)."""
    if fn is not None:
        return Pipeline(fn, name)
    if name is not None:  # refused at the decorator's line, not at the function below it
        check_name(name, "a pipeline's name")
    return lambda f: Pipeline(f, name)


__all__ = [
    "Builder",
    "Graph",
    "Node",
    "Output",
    "Pipeline",
    "PipelineDefinitionError",
    "current_builder",
    "iter_outputs",
    "pipeline",
]
