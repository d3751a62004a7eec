"""The wire model of serving: a sealed prediction-log file a ``cairn serve`` running as a
client of a cairn server registers there (its Parquet bytes uploaded first, by digest)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PredictionLogFile(BaseModel):
    """A sealed file of ``model``'s prediction log: the version that answered its rows (None:
    an unregistered model), their UTC day, and the uploaded Parquet object."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=128)
    version: int | None = Field(default=None, ge=1, lt=2**31)
    day: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    digest: str = Field(min_length=1, max_length=71)
