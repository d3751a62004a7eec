"""The lineage graph around one node: from a dataset version, a run, a model version or a
retraining of the closed loop, what it came from (upstream) and what used it (downstream), a
few steps each way.

The walk reads ``store.lineage`` one level at a time (one query per direction per level, never
one per node): upstream only from the nodes found upstream, downstream only from those found
downstream, so a run's other inputs' other readers stay out of the picture. Re-centre on a node
to follow a side branch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from cairn.core.checks import INT64_MAX, check_int, check_text, show
from cairn.core.errors import InvalidInputError, NotFoundError, RunNotFoundError
from cairn.core.uris import ModelUri, parse_model_uri
from cairn.store.db.schema import (
    dataset_versions,
    datasets,
    experiments,
    manifests,
    model_aliases,
    model_versions,
    models,
    retrainings,
    runs,
)
from cairn.store.lineage import (
    DATASET_VERSION,
    MODEL_VERSION,
    RETRAINING,
    RUN,
    Node,
    dataset_version_node,
    edges_into,
    edges_out_of,
    run_node,
)

DEFAULT_DEPTH = 3
MAX_DEPTH = 10
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
ACCEPTED = (
    "runs:/<run id>, data:<name>@v<N>, models:/<name>/<N>, models:/<name>@<alias> or "
    "retraining:<N> (e.g. data:customers@v2 or models:/churn@champion)"
)
_RUN_ID = re.compile(r"[0-9A-Za-z]{1,64}")
_RETRAINING = re.compile(r"#?([0-9]{1,19})")
_DATA = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]{0,127})(?:@(?:v?([0-9]{1,19})|latest))?")


@dataclass(frozen=True)
class GraphNode:
    """A node of the lineage graph: a ``dataset_version``, ``run``, ``model_version``,
    ``retraining`` (or, added by serving, ``deployment``), at ``level`` steps from the centre
    (negative: upstream)."""

    kind: str
    # runs:/<id>, data:<name>@v<N>, models:/<name>/<N>, retraining:<N>, deployment:<name>/<N>
    uri: str
    label: str
    level: int
    details: dict[str, Any] = field(default_factory=dict)
    cut: bool = False  # it has neighbours left out (beyond the depth or the node limit)


@dataclass(frozen=True)
class GraphEdge:
    """Data flowed from ``src`` to ``dst`` (both node URIs); ``relation`` is ``input`` (a run
    or a retraining read it), ``output`` (a run wrote it), ``served``, or one of a retraining's:
    ``trigger`` (the data that started it), ``started`` (its pipeline run), ``challenger``
    (the version its pipeline registered) and ``promoted``."""

    src: str
    dst: str
    relation: str


@dataclass(frozen=True)
class LineageGraph:
    """The nodes and edges within ``depth`` steps of ``center`` (at most ``limit`` nodes)."""

    center: str
    depth: int
    limit: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool = False  # the node limit was reached


def lineage_graph(uri: str, depth: int = DEFAULT_DEPTH, limit: int = DEFAULT_LIMIT) -> LineageGraph:
    """The lineage graph around the node ``uri`` (``runs:/<id>``, ``data:<name>@v<N>``,
    ``models:/<name>/<N>``, ``models:/<name>@<alias>`` or ``retraining:<N>``), ``depth`` steps
    up and down (0 to 10), with at most ``limit`` nodes."""
    from cairn.store import get_store

    depth = check_int(depth, "depth", minimum=0, maximum=MAX_DEPTH)
    limit = check_int(limit, "limit", minimum=1, maximum=MAX_LIMIT)
    parsed = _parse(uri)
    with get_store().db.read() as conn:
        start = _resolve(conn, parsed)
        levels, found, cut, truncated = _walk(conn, start, depth, limit)
        details = _details(conn, list(levels))
    nodes = [
        GraphNode(n.kind, details[n][0], details[n][1], level, details[n][2], n in cut)
        for n, level in levels.items()
        if n in details
    ]
    nodes.sort(key=lambda g: (g.level, g.kind, g.label))
    edges = [
        GraphEdge(details[src][0], details[dst][0], relation)
        for src, dst, relation in found
        if src in details and dst in details
    ]
    return LineageGraph(details[start][0], depth, limit, nodes, edges, truncated)


# -- the node a URI names -------------------------------------------------------------------


def _parse(uri: Any) -> tuple[str, Any]:
    check_text(uri, "a lineage URI", empty=False, max_length=1000)
    if uri.startswith("runs:"):
        run_id = uri.removeprefix("runs:").removeprefix("/").removesuffix("/")
        if not _RUN_ID.fullmatch(run_id):
            raise InvalidInputError(
                f"{show(uri)} names no run: a run is runs:/<run id> with the run's full id "
                f"(letters and digits); a lineage URI is one of {ACCEPTED}"
            )
        return RUN, run_id
    if uri.startswith("data:"):
        match = _DATA.fullmatch(uri.removeprefix("data:"))
        if not match or (match.group(2) and not 1 <= int(match.group(2)) <= INT64_MAX):
            raise InvalidInputError(
                f"{show(uri)} names no dataset version: write data:<name>@v<N> (e.g. "
                f"data:customers@v2); a lineage URI is one of {ACCEPTED}"
            )
        number = int(match.group(2)) if match.group(2) else None
        return DATASET_VERSION, (match.group(1), number)
    if uri.startswith("models:"):
        try:
            model = parse_model_uri(uri)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{exc}; a lineage URI is one of {ACCEPTED}") from None
        return MODEL_VERSION, model
    if uri.startswith("retraining:"):
        match = _RETRAINING.fullmatch(uri.removeprefix("retraining:"))
        if not match or not 1 <= int(match.group(1)) <= INT64_MAX:
            raise InvalidInputError(
                f"{show(uri)} names no retraining: write retraining:<N> with the retraining's "
                f"number (e.g. retraining:7); a lineage URI is one of {ACCEPTED}"
            )
        return RETRAINING, int(match.group(1))
    raise InvalidInputError(f"{show(uri)} is not a lineage URI: use one of {ACCEPTED}")


def _resolve(conn: Connection, parsed: tuple[str, Any]) -> Node:
    kind, what = parsed
    if kind == RUN:
        run = run_node(conn, what)
        if run is None:
            raise RunNotFoundError(
                f"no run with id {show(what)}; list runs with 'cairn runs ls' (or the Runs "
                "page) and give the full id"
            )
        return run
    if kind == DATASET_VERSION:
        name, number = what
        version = dataset_version_node(conn, name, number)
        if version is None:
            which = f"version {number} of dataset" if number is not None else "no live version of"
            raise NotFoundError(
                f"there is {'no ' if number is not None else ''}{which} {name!r}; list the "
                "datasets and their versions with 'cairn data ls' (or the Data page)"
            )
        return version
    if kind == RETRAINING:
        found = conn.execute(select(retrainings.c.id).where(retrainings.c.id == what)).scalar()
        if found is None:
            raise NotFoundError(
                f"there is no retraining #{what}; cairn models history MODEL (or the model's "
                "page) lists a model's retrainings"
            )
        return Node(RETRAINING, int(found))
    from cairn.registry._queries import resolve

    assert isinstance(what, ModelUri)
    return Node(MODEL_VERSION, resolve(conn, what, include_deleted=True))


# -- the walk -------------------------------------------------------------------------------


def _walk(
    conn: Connection, start: Node, depth: int, limit: int
) -> tuple[dict[Node, int], list[tuple[Node, Node, str]], set[Node], bool]:
    """(level of each node, edges found, nodes with neighbours left out, limit reached)."""
    levels = {start: 0}
    found: dict[tuple[Node, Node, str], None] = {}
    cut: set[Node] = set()
    truncated = False
    up, down = [start], [start]
    for step in range(1, depth + 2):
        if not up and not down:
            break
        beyond = step > depth  # one more look, only to mark the nodes with more behind them
        next_up: list[Node] = []
        next_down: list[Node] = []
        for frontier, incoming, sign, grown in (
            (up, True, -1, next_up),
            (down, False, 1, next_down),
        ):
            for edge in (edges_into if incoming else edges_out_of)(conn, frontier):
                near, far = (edge.dst, edge.src) if incoming else (edge.src, edge.dst)
                if far not in levels:
                    if beyond or len(levels) >= limit:
                        cut.add(near)
                        truncated = truncated or not beyond
                        continue
                    levels[far] = sign * step
                    grown.append(far)
                found[(edge.src, edge.dst, edge.relation)] = None
        up, down = next_up, next_down
    return levels, list(found), cut, truncated


# -- what each node shows -------------------------------------------------------------------


def _details(
    conn: Connection, nodes: Sequence[Node]
) -> dict[Node, tuple[str, str, dict[str, Any]]]:
    """(uri, label, details) of each node still in the store."""
    ids: dict[str, list[int]] = {}
    for node in nodes:
        ids.setdefault(node.kind, []).append(node.id)
    out: dict[Node, tuple[str, str, dict[str, Any]]] = {}
    if ids.get(RUN):
        rows = conn.execute(
            select(
                runs.c.id,
                runs.c.uid,
                runs.c.name,
                runs.c.status,
                runs.c.start_ms,
                runs.c.end_ms,
                runs.c.user,
                runs.c.deleted_ms,
                experiments.c.name.label("experiment"),
            )
            .select_from(runs.join(experiments))
            .where(runs.c.id.in_(ids[RUN]))
        )
        for r in rows:
            facts = {
                "run_id": r.uid,
                "name": r.name,
                "status": r.status,
                "experiment": r.experiment,
                "start_ms": r.start_ms,
                "end_ms": r.end_ms,
                "user": r.user,
                "deleted": r.deleted_ms is not None,
            }
            out[Node(RUN, int(r.id))] = (f"runs:/{r.uid}", r.name or r.uid[:8], facts)
    if ids.get(DATASET_VERSION):
        rows = conn.execute(
            select(
                dataset_versions.c.id,
                datasets.c.name,
                dataset_versions.c.number,
                dataset_versions.c.created_ms,
                dataset_versions.c.user,
                dataset_versions.c.deleted_ms,
                manifests.c.file_count,
                manifests.c.size,
            )
            .select_from(dataset_versions.join(datasets).join(manifests))
            .where(dataset_versions.c.id.in_(ids[DATASET_VERSION]))
        )
        for r in rows:
            facts = {
                "name": r.name,
                "version": r.number,
                "files": r.file_count,
                "size": r.size,
                "created_ms": r.created_ms,
                "user": r.user,
                "deleted": r.deleted_ms is not None,
            }
            ref = f"{r.name}@v{r.number}"
            out[Node(DATASET_VERSION, int(r.id))] = (f"data:{ref}", ref, facts)
    if ids.get(MODEL_VERSION):
        aliases: dict[int, list[str]] = {}
        for vid, alias in conn.execute(
            select(model_aliases.c.version_id, model_aliases.c.alias)
            .where(model_aliases.c.version_id.in_(ids[MODEL_VERSION]))
            .order_by(model_aliases.c.alias)
        ):
            aliases.setdefault(int(vid), []).append(alias)
        rows = conn.execute(
            select(
                model_versions.c.id,
                models.c.name,
                model_versions.c.number,
                model_versions.c.flavor,
                model_versions.c.created_ms,
                model_versions.c.user,
                model_versions.c.deleted_ms,
            )
            .select_from(model_versions.join(models))
            .where(model_versions.c.id.in_(ids[MODEL_VERSION]))
        )
        for r in rows:
            facts = {
                "name": r.name,
                "version": r.number,
                "flavor": r.flavor,
                "aliases": aliases.get(int(r.id), []),
                "created_ms": r.created_ms,
                "user": r.user,
                "deleted": r.deleted_ms is not None,
            }
            ref = f"{r.name}/{r.number}"
            out[Node(MODEL_VERSION, int(r.id))] = (f"models:/{ref}", ref, facts)
    if ids.get(RETRAINING):
        for r in conn.execute(select(retrainings).where(retrainings.c.id.in_(ids[RETRAINING]))):
            out[Node(RETRAINING, int(r.id))] = (
                f"retraining:{r.id}",
                f"retraining #{r.id}",
                retraining_facts(r),
            )
    return out


def retraining_facts(row: Any) -> dict[str, Any]:
    """What a retraining node shows: how it ended, what started it (and the drift it saw),
    the data and its validation, the run, both models with their scores, and the decision."""
    evidence = _loads(row.evidence)
    validation = _loads(row.validation)
    scores = _loads(row.scores)
    scores = scores if isinstance(scores, dict) else {}
    passed = validation.get("passed") if isinstance(validation, dict) else None
    drift = evidence.get("alert_message") if isinstance(evidence, dict) else None
    return {
        "model": row.model,
        "number": int(row.id),
        "state": row.state,
        "stage": row.stage,
        "trigger": row.trigger,
        "trigger_kind": row.trigger_kind,
        "alert_id": row.alert_id,
        "drift": drift if isinstance(drift, str) else None,
        "dataset_version": row.dataset_version,
        "validation_passed": passed if isinstance(passed, bool) else None,
        "pipeline_run": row.pipeline_run,
        "challenger": row.challenger,
        "champion": row.champion,
        "holdout": scores.get("holdout"),
        "challenger_scores": _scores_text(scores.get("challenger")),
        "champion_scores": _scores_text(scores.get("champion")),
        "decision": row.reason,
        "result_alert_id": row.result_alert_id,
        "started_ms": row.started_ms,
        "ended_ms": row.ended_ms,
    }


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _scores_text(values: Any) -> str | None:
    """Scores as one line (``accuracy 0.9815, latency_p99_ms 2.1``), or None."""
    if not isinstance(values, dict):
        return None
    return ", ".join(
        f"{k} {v:.4g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else f"{k} {v}"
        for k, v in sorted(values.items())
    )


__all__ = ["RETRAINING", "GraphEdge", "GraphNode", "LineageGraph", "lineage_graph"]
