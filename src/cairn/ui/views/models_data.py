"""What the model registry pages show, gathered as plain data: models, versions with the
metrics of the runs that logged them, aliases with their full move history, and a version's
signature, files, run and input datasets; a model's retrainings by the closed loop and its
retraining policy. The views of ``models`` and ``models_edit`` render
it; the ``.json`` variants answer it as it is."""

from __future__ import annotations

import urllib.parse
from typing import Any

from fastapi import Request

from cairn import registry
from cairn.core.errors import InvalidInputError
from cairn.core.uris import ModelUri
from cairn.registry import ModelVersion
from cairn.server import Caller

#: the most metrics shown per version in the model page's table (the JSON has them all)
KEY_METRICS = 4
_MAX_DIGITS = 19  # a version number is an int64
_SHOWN = 40  # characters of a bad text quoted back in a message
_RUNS_PER_QUERY = 200  # run ids in one IN (...) filter
RETRAININGS_SHOWN = 50  # the newest retrainings on the model page


def shown(text: str) -> str:
    """A user's text, cut short and with control characters escaped, for a message."""
    cut = text[:_SHOWN] + ("…" if len(text) > _SHOWN else "")
    return repr(cut)


def version_ref(name: str, version: str) -> str:
    """The registry reference for ``version`` of model ``name``: ``name/3`` for a number,
    ``name`` for ``latest``, else ``name@alias``; a number out of range is refused (400)."""
    digits = version.lstrip("+-")
    if digits.isascii() and digits.isdigit():
        if digits != version or len(version) > _MAX_DIGITS or int(version) < 1:
            raise InvalidInputError(
                f"{shown(version)} is not a version number: versions count from 1 and fit in "
                "64 bits (use a number such as 3, an alias such as champion, or latest)"
            )
        return f"{name}/{int(version)}"
    if version == "latest":
        return name
    return f"{name}@{version}"


def version_number(text: str) -> int:
    """The version number a form sent (``3`` or ``v3``); a clear 400 otherwise."""
    digits = text.strip().removeprefix("v")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > _MAX_DIGITS:
        raise InvalidInputError(
            f"{shown(text)} is not a version number; choose one of the model's versions (1, 2, ...)"
        )
    number = int(digits)
    if number < 1:
        raise InvalidInputError(f"{shown(text)} is not a version number: versions count from 1")
    return number


def required_reason(reason: str) -> str:
    """The reason a form gave for moving an alias; refused when empty."""
    text = reason.strip()
    if not text:
        raise InvalidInputError(
            "say why the alias moves: a reason is required (it is kept in the alias history)"
        )
    return text


def lineage_link(name: str, number: int) -> str:
    """The lineage page of version ``number`` of ``name``."""
    return "/lineage?of=" + urllib.parse.quote(f"models:/{name}/{number}", safe="")


def run_facts(run_id: str | None) -> tuple[dict[str, float], dict[str, Any], bool]:
    """The latest metrics (without system ones) and params of a version's source run, and
    whether that run is still recorded (read without its metric history)."""
    if run_id is None or not (run_id.isascii() and run_id.isalnum()):
        return {}, {}, False
    from cairn.tracking import find_runs

    found = find_runs(f"attributes.run_id = '{run_id}'", include_deleted=True)
    if not found:  # purged: the version outlives its run's record
        return {}, {}, False
    record = found[0]
    metrics = {k: v for k, v in sorted(record.metrics.items()) if not k.startswith("system/")}
    return metrics, dict(sorted(record.params.items())), True


def spec_rows(spec: Any) -> list[dict[str, str]]:
    """A signature's inputs or outputs as table rows: name, dtype, shape."""
    if not isinstance(spec, dict):
        return []
    if spec.get("type") == "tensor":
        shape = spec.get("shape")
        shape_text = "[" + ", ".join(str(d) for d in shape) + "]" if isinstance(shape, list) else ""
        return [{"name": "(array)", "dtype": str(spec.get("dtype", "")), "shape": shape_text}]
    return [
        {"name": str(c.get("name", "")), "dtype": str(c.get("dtype", "")), "shape": ""}
        for c in spec.get("columns", [])
        if isinstance(c, dict)
    ]


def signature_summary(signature: dict[str, Any] | None) -> str:
    """One line on what the version takes and gives, or '' without a signature."""
    if not signature:
        return ""
    inputs = spec_rows(signature.get("inputs"))
    outputs = spec_rows(signature.get("outputs"))
    text = registry.Signature.from_dict(signature).describe()
    if outputs:
        text += " → " + ", ".join(out["dtype"] for out in outputs[:3])
    return text if inputs or outputs else ""


def runs_metrics(run_ids: list[str]) -> dict[str, dict[str, float]]:
    """The latest metrics (without system ones) of each run, read in a few queries rather
    than one per version (and without any run's metric history)."""
    from cairn.tracking import find_runs

    found: dict[str, dict[str, float]] = {}
    wanted = sorted({r for r in run_ids if r.isascii() and r.isalnum()})
    for start in range(0, len(wanted), _RUNS_PER_QUERY):
        chunk = wanted[start : start + _RUNS_PER_QUERY]
        listed = ", ".join(f"'{r}'" for r in chunk)
        for record in find_runs(f"attributes.run_id IN ({listed})", include_deleted=True):
            found[record.id] = {
                k: v for k, v in sorted(record.metrics.items()) if not k.startswith("system/")
            }
    return found


def version_row(version: ModelVersion, metrics: dict[str, float]) -> dict[str, Any]:
    """A version as a row of the model page, with its run's latest metrics."""
    return {
        "version": version.version,
        "created_ms": version.created_ms,
        "user": version.user,
        "run_id": version.run_id,
        "flavor": version.flavor,
        "signature": signature_summary(version.signature),
        "metrics": metrics,
        "aliases": version.aliases,
        "description": version.description,
        "tags": version.tags,
        "uri": version.uri,
    }


def aliases_context(name: str, caller: Caller) -> dict[str, Any]:
    """The model's aliases with their move history, and what the edit forms need: the
    fragment that an alias move answers, and part of the model page."""
    model = registry.get_model(name)
    moves = registry.alias_history(name)
    aliases = []
    for alias, number in sorted(model.aliases.items()):
        own = [m for m in moves if m.alias == alias]
        last = own[-1] if own else None
        back = last.from_version if last is not None and last.to_version == number else None
        aliases.append(
            {
                "alias": alias,
                "version": number,
                "moves": len(own),
                "moved_ms": last.ts_ms if last else None,
                "rollback_to": back,
            }
        )
    live = [v.version for v in registry.list_versions(name)]
    return {
        "name": name,
        "aliases": aliases,
        "history": list(reversed(moves)),
        "version_numbers": live,
        "may_edit": caller.may("writer"),
        "promotion": None,
        "comparison": None,
        "error": None,
        "notice": None,
    }


def model_context(name: str, caller: Caller) -> dict[str, Any]:
    """Everything the model page shows."""
    model = registry.get_model(name)
    listed = registry.list_versions(name)
    metrics = runs_metrics([v.run_id for v in listed if v.run_id is not None])
    versions = [version_row(v, metrics.get(v.run_id or "", {})) for v in listed]
    retrainings, policy = loop_context(name)
    return {
        "model": model,
        "versions": versions,
        "retrainings": retrainings,
        "policy": policy,
        **aliases_context(name, caller),
    }


def loop_context(name: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The model's newest retrainings (newest first) and its retraining policy (None when it
    has none); neither where the store is a client of a team server (the loop's records stay
    with the team's stores)."""
    from cairn import loop
    from cairn.core.errors import NotFoundError
    from cairn.store import get_store

    if get_store().remote is not None:
        return [], None
    rows = [retraining_row(r) for r in loop.list_retrainings(name, limit=RETRAININGS_SHOWN)]
    try:
        stored = loop.get_policy(name)
    except NotFoundError:
        return rows, None
    p = stored.policy
    policy = {
        "triggers": p.triggers,
        "pipeline": p.pipeline,
        "params": p.params,
        "executor": p.executor,
        "dataset": p.dataset,
        "suite": p.suite,
        "window": p.window,
        "holdout": p.holdout,
        "target": p.target,
        "rule": p.require,
        "alias": p.alias,
        "challenger_alias": p.challenger_alias,
        "on_busy": p.on_busy,
        "allow_signature_change": p.allow_signature_change,
        "enabled": stored.enabled,
        "next_due_ms": stored.next_due_ms,
        "updated_ms": stored.updated_ms,
        "updated_by": stored.updated_by,
    }
    return rows, policy


def retraining_row(r: Any) -> dict[str, Any]:
    """A retraining (``cairn.loop.Retraining``) as a row of the model page, with the links to
    its lineage and its pipeline run."""
    drift = r.evidence.get("alert_message")
    validation = r.validation or None
    run = r.pipeline_run if r.pipeline_run and r.pipeline_run.isalnum() else None
    return {
        "number": r.id,
        "state": r.state,
        "stage": r.stage,
        "created_ms": r.created_ms,
        "started_ms": r.started_ms,
        "ended_ms": r.ended_ms,
        "trigger": r.trigger,
        "trigger_kind": r.trigger_kind,
        "alert_id": r.alert_id,
        "drift": drift if isinstance(drift, str) else None,
        "dataset_version": r.dataset_version,
        "validation": validation,
        "pipeline_run": r.pipeline_run,
        "challenger": r.challenger,
        "champion": r.champion,
        "scores": r.scores,
        "checks": r.checks,
        "decision": r.reason,
        "result_alert_id": r.result_alert_id,
        "lineage_href": "/lineage?of=" + urllib.parse.quote(f"retraining:{r.id}", safe=""),
        "run_href": None if run is None else "/runs/" + urllib.parse.quote(run, safe=""),
    }


def version_context(request: Request, name: str, version: str, caller: Caller) -> dict[str, Any]:
    """Everything the version page shows: ``version`` is a number, an alias or ``latest``."""
    from cairn.registry import ingest

    registry.get_model(name)  # an unknown model says so before its version does
    ref = version_ref(name, version)
    by_number = "/" in ref
    found = registry.get_model_version(ref, include_deleted=by_number)
    metrics, params, run_known = run_facts(found.run_id)
    files: list[Any] = []
    if not found.deleted:
        uri = ModelUri(name, version=found.version)
        _, files = ingest.version_files(request.app.state.store, uri)
    inputs: list[dict[str, Any]] = []
    if run_known and found.run_id is not None:
        from cairn.data import run_datasets

        inputs = [
            {"ref": v.ref, "dataset": v.dataset, "number": v.number}
            for rel, v in run_datasets(found.run_id)
            if rel == "input"
        ]
    signature = found.signature or {}
    return {
        "name": name,
        "asked": version,
        "model_version": found,
        "signature": {
            "summary": signature_summary(found.signature),
            "inputs": spec_rows(signature.get("inputs")),
            "outputs": spec_rows(signature.get("outputs")),
        },
        "files": files,
        "total_size": sum(f.size for f in files),
        "metrics": metrics,
        "params": params,
        "run_known": run_known,
        "inputs": inputs,
        "lineage": lineage_link(name, found.version),
        "may_edit": caller.may("writer"),
    }
