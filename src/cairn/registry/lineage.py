"""The lineage map of a model version: the run that trained it (params, metrics, seed, code
commit and dirty flag), the dataset versions that run read, the runs that produced those, and
so on up to the sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cairn.core.errors import RunNotFoundError

MAX_DEPTH = 32  # a lineage deeper than this is cut (and says so)


@dataclass
class LineageNode:
    """One node of the map: a model version, a run or a dataset version, with its parents."""

    kind: str  # model_version | run | dataset_version
    ref: str  # churn/3, the run id, customers@v2
    facts: dict[str, Any] = field(default_factory=dict)
    parents: list[LineageNode] = field(default_factory=list)
    seen_above: bool = False  # already shown higher in the map (a shared ancestor)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        out: dict[str, Any] = {"kind": self.kind, "ref": self.ref, "facts": self.facts}
        if self.seen_above:
            out["seen_above"] = True
        out["parents"] = [p.to_dict() for p in self.parents]
        return out


def model_lineage(ref: str) -> LineageNode:
    """Walk up from the model version ``ref`` (``name@alias``, ``name/3``, ``name``); in
    client mode the server walks it."""
    from cairn.registry.catalog import _model_uri, get_model_version
    from cairn.store import get_store

    store = get_store()
    if store.remote is not None:
        from cairn.registry import _remote

        return _remote.model_lineage(store.remote, _model_uri(ref))
    version = get_model_version(ref, include_deleted=True)
    root = LineageNode(
        "model_version",
        f"{version.name}/{version.version}",
        {
            "flavor": version.flavor,
            "aliases": version.aliases,
            "created_ms": version.created_ms,
            "user": version.user,
            "deleted": version.deleted,
        },
    )
    if version.run_id is not None:
        root.parents.append(_run_node(version.run_id, set(), 1))
    return root


def _run_node(run_id: str, seen: set[str], depth: int) -> LineageNode:
    from cairn.data import run_datasets
    from cairn.tracking import get_run

    key = f"run:{run_id}"
    if key in seen:
        return LineageNode("run", run_id, seen_above=True)
    seen.add(key)
    try:
        record = get_run(run_id)
    except RunNotFoundError:
        return LineageNode("run", run_id, {"missing": True})
    tags = record.tags
    node = LineageNode(
        "run",
        record.id,
        {
            "name": record.name,
            "status": record.status,
            "start_ms": record.start_ms,
            "params": record.params,
            "metrics": {k: v for k, v in record.metrics.items() if not k.startswith("system/")},
            "seed": tags.get("cairn.seed"),
            "git_commit": tags.get("cairn.git.commit"),
            "git_dirty": tags.get("cairn.git.dirty"),
            "git_branch": tags.get("cairn.git.branch"),
            "deleted": record.deleted,
        },
    )
    if depth >= MAX_DEPTH:
        node.facts["truncated"] = True
        return node
    for relation, dataset_version in run_datasets(record.id):
        if relation != "input":
            continue
        data_key = f"data:{dataset_version.ref}"
        data_node = LineageNode(
            "dataset_version",
            dataset_version.ref,
            {
                "digest": dataset_version.digest,
                "files": dataset_version.file_count,
                "size": dataset_version.size,
                "created_ms": dataset_version.created_ms,
                "location": dataset_version.location,
                "deleted": dataset_version.deleted,
            },
        )
        if data_key in seen:
            data_node.seen_above = True
        else:
            seen.add(data_key)
            if dataset_version.run_id is not None:
                data_node.parents.append(_run_node(dataset_version.run_id, seen, depth + 1))
        node.parents.append(data_node)
    for upstream in _runs_feeding(record.id):  # a pipeline step's inputs from steps above it
        node.parents.append(_run_node(upstream, seen, depth + 1))
    return node


def _runs_feeding(run_id: str) -> list[str]:
    from cairn.store import get_store
    from cairn.store.lineage import runs_feeding

    with get_store().db.read() as conn:
        return runs_feeding(conn, run_id)


def model_inputs_from(dataset_ref: str) -> dict[str, list[str]]:
    """The input columns of each model version made from the dataset version ``dataset_ref``
    (``name@vN``, or a name for its latest version): ``{"churn/3": ["age", "income"]}``.

    Model versions whose signature is not a list of columns (tensors, none) are left out. A
    column of the dataset that none of them takes is, for them, the target (or an id).
    """
    from cairn import data
    from cairn.registry.catalog import get_model_version
    from cairn.registry.signature import Signature

    version = data.version(dataset_ref)
    uses = data.show_dataset(version.dataset).models.get(version.number, [])
    found: dict[str, list[str]] = {}
    for use in uses:
        model = get_model_version(use.model_version, include_deleted=True)
        if model.deleted or not model.signature:
            continue
        columns = [c.name for c in Signature.from_dict(model.signature).columns]
        if columns:
            found[use.model_version] = columns
    return found
