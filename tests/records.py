"""What a test logged itself, apart from what every run records implicitly."""

from __future__ import annotations

from cairn.tracking import RunRecord

IMPLICIT_ARTIFACTS = ("cairn/",)


def own_metrics(record: RunRecord) -> dict[str, float]:
    """The run's latest metrics without the system/* metrics of the sampler."""
    return {k: v for k, v in record.metrics.items() if not k.startswith("system/")}


def own_artifacts(record: RunRecord) -> list[str]:
    """The run's artifact paths without the captured cairn/* files."""
    return [a.path for a in record.artifacts if not a.path.startswith(IMPLICIT_ARTIFACTS)]
