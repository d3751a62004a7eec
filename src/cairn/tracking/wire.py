"""The wire models of runs: what a cairn client sends to a cairn server, and gets back.

Defined once, used by the client (``_remote``) and by the server's router for runs. Params
travel encoded as cairn stores them (``[text, is_json]``), so the server keeps exactly what the
client logged; metric points travel as columns per key. Every write names the run by its id
(made by the client), and a batch carries a key of its own, so a request sent twice — from the
offline spool, after an answer was lost — is applied once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cairn.tracking.record import record_from_wire, record_to_wire

MAX_ID = 64
MAX_ORDER_KEYS = 100  # the most order-by keys a search takes
__all__ = ["record_from_wire", "record_to_wire"]  # re-exported for the server


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunCreate(_Model):
    """A new run, with the params and tags it starts with."""

    uid: str = Field(min_length=1, max_length=26)
    experiment: str = Field(min_length=1, max_length=255)
    name: str = Field(min_length=1, max_length=255)
    parent: str | None = Field(default=None, max_length=26)
    start_ms: int
    user: str | None = Field(default=None, max_length=255)
    host: str | None = Field(default=None, max_length=255)
    pid: int | None = None
    params: dict[str, tuple[str, bool]] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class MetricSeries(_Model):
    """One key's points of a batch, as three equally long columns."""

    steps: list[int]
    ts: list[int]
    values: list[float]


class Batch(_Model):
    """Metric points, params and tags of one run, written in one transaction."""

    key: str = Field(min_length=1, max_length=MAX_ID, pattern=r"^[A-Za-z0-9_-]+$")
    metrics: dict[str, MetricSeries] = Field(default_factory=dict)
    params: dict[str, tuple[str, bool]] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class RunEnd(_Model):
    """How a run ended; ``fail`` marks it failed even if it ended otherwise."""

    status: Literal["finished", "failed", "killed"]
    end_ms: int
    error: str | None = None
    fail: bool = False


class Claim(_Model):
    """The process now running a run."""

    host: str = Field(max_length=255)
    pid: int


class RunIds(_Model):
    """Runs named by id (or unique prefix)."""

    runs: list[str] = Field(min_length=1, max_length=10_000)


class Heartbeat(_Model):
    """Runs whose processes are alive."""

    runs: list[str] = Field(max_length=10_000)


class ArtifactItem(_Model):
    """A stored object recorded under a path of a run."""

    path: str = Field(min_length=1, max_length=1000)
    digest: str = Field(min_length=1, max_length=71)
    size: int = Field(ge=0)


class ArtifactRecord(_Model):
    """Objects to record as a run's artifacts (each uploaded first)."""

    entries: list[ArtifactItem] = Field(max_length=100_000)


class RunSearch(_Model):
    """A search: the filter language, order, experiments, limit."""

    filter: str | None = None
    # A few keys order any search; hundreds pass what the databases take in one ORDER BY.
    order_by: list[str] | None = Field(default=None, max_length=MAX_ORDER_KEYS)
    experiment: list[str] | None = None
    limit: int | None = Field(default=None, ge=1)
    include_deleted: bool = False


class DigestList(_Model):
    """Digests to ask about; with ``sizes`` (bytes, one per digest) the server may offer
    direct uploads to its bucket for the large ones."""

    digests: list[str] = Field(max_length=100_000)
    sizes: list[int] | None = Field(default=None, max_length=100_000)


class StagedUpload(_Model):
    """A direct upload to commit: the staging token the server gave."""

    staging: str = Field(min_length=32, max_length=32)
