"""Monitoring: drift of inputs and predictions against the training data, model quality when
labels arrive, and alerts.

    import cairn

    report = cairn.monitor.drift(training_frame, todays_frame)
    report.drifted_columns          # ['age']
    cairn.monitor.drift("models:/churn@champion", todays_frame)   # the stored reference

Names are imported on first use (module ``__getattr__``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from cairn.monitoring.drift import ColumnDrift, DriftReport, compare, drift
    from cairn.monitoring.reference import (
        Reference,
        compute_reference,
        get_reference,
    )
    from cairn.monitoring.sketch import TableSketch, sketch_table

_LAZY: dict[str, str] = {
    "ColumnDrift": "cairn.monitoring.drift",
    "DriftReport": "cairn.monitoring.drift",
    "Reference": "cairn.monitoring.reference",
    "TableSketch": "cairn.monitoring.sketch",
    "compare": "cairn.monitoring.drift",
    "compute_reference": "cairn.monitoring.reference",
    "drift": "cairn.monitoring.drift",
    "get_reference": "cairn.monitoring.reference",
    "sketch_table": "cairn.monitoring.sketch",
}

__all__ = [
    "ColumnDrift",
    "DriftReport",
    "Reference",
    "TableSketch",
    "compare",
    "compute_reference",
    "drift",
    "get_reference",
    "sketch_table",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
