"""The wire models of validation: what a cairn client sends to register a suite version and
to record a check's result.

Both name an object uploaded first, by digest (the suite's YAML, the result's JSON report).
Registering a suite is idempotent by nature (the same text makes no new version); a result
carries the time the client made it, and with its report's digest that identifies it, so a
request sent again from the client's spool is recorded once.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"  # a suite's name (as save_suite accepts it)
DIGEST_LENGTH = 71


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SuiteSave(_Model):
    """A suite's YAML (uploaded as ``digest``) to store as the next version of ``name`` (the
    dataset version it was profiled from is the one its YAML names)."""

    name: str = Field(pattern=NAME)
    digest: str = Field(min_length=1, max_length=DIGEST_LENGTH)


class ResultRecord(_Model):
    """A check's result: its JSON report (uploaded as ``digest``) and what it checked."""

    suite: str = Field(pattern=NAME)
    number: int = Field(ge=1, lt=2**63)
    digest: str = Field(min_length=1, max_length=DIGEST_LENGTH)
    target: str = Field(max_length=100_000)
    dataset_version: str | None = Field(default=None, min_length=1, max_length=1000)
    run: str | None = Field(default=None, min_length=1, max_length=26)
    created_ms: int = Field(ge=0, lt=2**62)
