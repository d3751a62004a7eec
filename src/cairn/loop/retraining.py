"""A retraining as recorded: one trip round the loop, its trigger, what each stage found, and
how it ended; reading them, and the row of a new one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from cairn.core.checks import check_int, check_optional_int
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.core.ids import now_ms
from cairn.core.uris import check_model_name
from cairn.loop import _queries
from cairn.loop.policy import RetrainPolicy
from cairn.store import get_store

#: Where a retraining ended.
ENDED = ("promoted", "refused", "blocked", "unchanged", "failed", "dropped", "stopped")
STAGES = ("validate", "train", "score", "shadow", "decide", "done")


@dataclass(frozen=True)
class Retraining:
    """One retraining: what started it, what each stage found, and how it ended."""

    id: int
    model: str
    state: str  # queued | running | promoted | refused | blocked | unchanged | failed | dropped
    stage: str
    trigger_kind: str  # alert | data | cron | manual
    trigger: str
    alert_id: int | None
    evidence: dict[str, Any]
    policy: dict[str, Any]
    dataset_version: str | None
    validation: dict[str, Any] | None
    pipeline_run: str | None
    challenger: int | None
    champion: int | None
    scores: dict[str, Any] | None
    checks: list[dict[str, Any]] | None
    reason: str | None
    result_alert_id: int | None
    owner: str | None
    heartbeat_ms: int | None
    attempts: int
    created_ms: int
    started_ms: int | None
    ended_ms: int | None

    @property
    def is_over(self) -> bool:
        """Whether it ended (one way or another)."""
        return self.state in ENDED

    @property
    def duration_s(self) -> float | None:
        """From its start to its end (None until both)."""
        if self.started_ms is None or self.ended_ms is None:
            return None
        return (self.ended_ms - self.started_ms) / 1000

    def summary(self) -> str:
        """One line: its number, model, trigger, and how it ended."""
        line = f"retraining #{self.id} of {self.model} ({self.trigger}): {self.state}"
        if self.state == "running":
            line += f" at {self.stage}"
        return line + (f": {self.reason}" if self.reason else "")

    def to_dict(self) -> dict[str, Any]:
        """The retraining as plain JSON-ready values."""
        from dataclasses import asdict

        return asdict(self)


def retraining(row: Row[Any]) -> Retraining:
    """A stored retraining."""

    def loads(text: str | None) -> Any:
        return None if text is None else json.loads(text)

    return Retraining(
        id=int(row.id),
        model=row.model,
        state=row.state,
        stage=row.stage,
        trigger_kind=row.trigger_kind,
        trigger=row.trigger,
        alert_id=row.alert_id,
        evidence=loads(row.evidence) or {},
        policy=loads(row.policy) or {},
        dataset_version=row.dataset_version,
        validation=loads(row.validation),
        pipeline_run=row.pipeline_run,
        challenger=row.challenger,
        champion=row.champion,
        scores=loads(row.scores),
        checks=loads(row.checks),
        reason=row.reason,
        result_alert_id=row.result_alert_id,
        owner=row.owner,
        heartbeat_ms=row.heartbeat_ms,
        attempts=int(row.attempts),
        created_ms=int(row.created_ms),
        started_ms=row.started_ms,
        ended_ms=row.ended_ms,
    )


def local_store() -> Any:
    """The store, when it is the team's own (the loop's records are not served to clients)."""
    store = get_store()
    if store.remote is not None:
        raise InvalidInputError(
            "the closed loop's policies and retrainings live with the team's stores, where "
            "`cairn scheduler` runs: use these commands there (without CAIRN_SERVER)"
        )
    return store


def get_retraining(number: int) -> Retraining:
    """Retraining ``number``."""
    number = check_int(number, "retraining number", minimum=1)
    with local_store().db.read() as conn:
        row = _queries.retraining_row(conn, number)
    if row is None:
        raise NotFoundError(
            f"no retraining #{number}; cairn models retrainings MODEL lists a model's"
        )
    return retraining(row)


def list_retrainings(model: str | None = None, *, limit: int | None = 50) -> list[Retraining]:
    """Retrainings, newest first: of ``model``, or of every model."""
    if model is not None:
        check_model_name(model)
    limit = check_optional_int(limit, "limit", minimum=1)
    with local_store().db.read() as conn:
        rows = _queries.retraining_rows(conn, model=model, limit=limit)
    return [retraining(row) for row in rows]


def queue_values(
    model: str,
    policy: RetrainPolicy,
    *,
    kind: str,
    trigger: str,
    alert_id: int | None = None,
    evidence: dict[str, Any] | None = None,
    state: str = "queued",
    reason: str | None = None,
) -> dict[str, Any]:
    """The row of a new retraining (queued, or already ended as ``dropped``)."""
    now = now_ms()
    return {
        "model": model,
        "state": state,
        "stage": "validate" if state == "queued" else "done",
        "trigger_kind": kind,
        "trigger": trigger,
        "alert_id": alert_id,
        "evidence": json.dumps(evidence or {}, allow_nan=False, default=str),
        "policy": policy.to_json(),
        "reason": reason,
        "claim": 0,
        "attempts": 0,
        "created_ms": now,
        "ended_ms": None if state == "queued" else now,
    }
