"""One audit trail per model: every alias move, and for each retraining the trigger, the drift
evidence, the data version and its validation, the pipeline run, both scores, the rule's checks
and the decision."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cairn.core.uris import check_model_name
from cairn.loop.retraining import Retraining, list_retrainings

_RETRAINING = re.compile(r"^retraining #(\d+)\b")


@dataclass(frozen=True)
class ModelHistory:
    """A model's alias moves (oldest first) and retrainings (newest first)."""

    model: str
    moves: list[Any]  # registry.AliasMove
    retrainings: list[Retraining]

    def retraining_of(self, move: Any) -> Retraining | None:
        """The retraining that made an alias move (None for a move by hand)."""
        found = _RETRAINING.match(move.reason or "")
        if found is None:
            return None
        number = int(found.group(1))
        return next((r for r in self.retrainings if r.id == number), None)

    def to_dict(self) -> dict[str, Any]:
        """The history as plain JSON-ready values."""
        from dataclasses import asdict

        return {
            "model": self.model,
            "moves": [asdict(m) for m in self.moves],
            "retrainings": [r.to_dict() for r in self.retrainings],
        }


def model_history(model: str, *, limit: int | None = 100) -> ModelHistory:
    """Every alias move of ``model`` and its newest ``limit`` retrainings."""
    from cairn import registry
    from cairn.store import get_store

    check_model_name(model)
    moves = registry.alias_history(model)
    if get_store().remote is not None:  # client mode: the loop's records stay with the team
        return ModelHistory(model, list(moves), [])
    return ModelHistory(model, list(moves), list_retrainings(model, limit=limit))


def describe(retraining: Retraining) -> list[str]:
    """A retraining as lines of text: each stage's finding, for ``cairn models history``."""
    if not isinstance(retraining, Retraining):
        from cairn.core.checks import show
        from cairn.core.errors import InvalidInputError

        raise InvalidInputError(
            f"describe takes a Retraining (cairn.loop.get_retraining(N)), not {show(retraining)}"
        )
    r = retraining
    lines = [
        f"retraining #{r.id} ({r.trigger}): {r.state}"
        + (f" at {r.stage}" if r.state == "running" else "")
    ]
    if r.evidence.get("alert_message"):
        lines.append(f"  drift: {r.evidence['alert_message']}")
    if r.dataset_version:
        lines.append(f"  data: {r.dataset_version}")
    if r.validation is not None:
        verdict = "passed" if r.validation.get("passed") else "failed"
        lines.append(
            f"  validation: suite {r.validation.get('suite')} {verdict} on "
            f"{r.validation.get('rows')} rows"
            + (f" ({'; '.join(r.validation.get('failures') or [])})" if verdict == "failed" else "")
        )
    if r.pipeline_run:
        lines.append(f"  pipeline run: {r.pipeline_run}")
    if r.challenger is not None:
        champion = "none" if r.champion is None else f"version {r.champion}"
        lines.append(f"  challenger: version {r.challenger}; champion: {champion}")
    if r.scores:
        lines.append(f"  scored on {r.scores.get('holdout')}:")
        for side in ("challenger", "champion"):
            values = r.scores.get(side)
            if isinstance(values, dict):
                shown = ", ".join(f"{k} {_num(v)}" for k, v in sorted(values.items()))
                lines.append(f"    {side}: {shown}")
        lines += _shadow_lines(r.scores)
    for check in r.checks or []:
        mark = "ok" if check.get("ok") else "no"
        lines.append(f"  {mark}  {check.get('text')}: {check.get('why')}")
    if r.reason:
        lines.append(f"  decision: {r.reason}")
    if r.result_alert_id is not None:
        lines.append(f"  alert: #{r.result_alert_id}")
    return lines


def _shadow_lines(scores: dict[str, Any]) -> list[str]:
    """The shadow period's figures, when the retraining had one."""
    period = scores.get("shadow")
    if not isinstance(period, dict):
        return []
    ours = scores.get("challenger") or {}
    compared = ours.get("shadow_rows") if isinstance(ours, dict) else None
    if compared is None:
        return [f"  shadow period: {period.get('rows_seen', 'no')} rows logged, none compared"]
    figures = [f"{compared} rows compared with version {period.get('champion')}"]
    if isinstance(ours, dict) and ours.get("shadow_agreement") is not None:
        figures.append(f"agreement {_num(ours['shadow_agreement'])}")
    if isinstance(ours, dict) and ours.get("shadow_mae") is not None:
        figures.append(f"mean absolute difference {_num(ours['shadow_mae'])}")
    return [f"  shadow period: {', '.join(figures)}"]


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)
