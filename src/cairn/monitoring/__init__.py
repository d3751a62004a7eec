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
    from cairn.monitoring.alerts import (
        Alert,
        AlertConfig,
        AlertRule,
        alert_config,
        check_alerts,
        flush_alerts,
        list_alerts,
        raise_alert,
    )
    from cairn.monitoring.drift import ColumnDrift, DriftReport, compare, drift
    from cairn.monitoring.overview import MonitoredModel, monitored_models, quality_history
    from cairn.monitoring.quality import QualityRun, QualityWindow, record_labels
    from cairn.monitoring.reference import (
        Reference,
        compute_reference,
        get_reference,
    )
    from cairn.monitoring.report import write_report
    from cairn.monitoring.scoring import SCORE_KEYS, ModelScores, score_model
    from cairn.monitoring.sketch import TableSketch, sketch_table
    from cairn.monitoring.windows import (
        MonitorRun,
        WindowResult,
        monitor_history,
        monitor_model,
    )

_LAZY: dict[str, str] = {
    "Alert": "cairn.monitoring.alerts",
    "AlertConfig": "cairn.monitoring.alerts",
    "AlertRule": "cairn.monitoring.alerts",
    "ColumnDrift": "cairn.monitoring.drift",
    "DriftReport": "cairn.monitoring.drift",
    "ModelScores": "cairn.monitoring.scoring",
    "MonitorRun": "cairn.monitoring.windows",
    "MonitoredModel": "cairn.monitoring.overview",
    "QualityRun": "cairn.monitoring.quality",
    "QualityWindow": "cairn.monitoring.quality",
    "Reference": "cairn.monitoring.reference",
    "SCORE_KEYS": "cairn.monitoring.scoring",
    "TableSketch": "cairn.monitoring.sketch",
    "WindowResult": "cairn.monitoring.windows",
    "alert_config": "cairn.monitoring.alerts",
    "check_alerts": "cairn.monitoring.alerts",
    "compare": "cairn.monitoring.drift",
    "compute_reference": "cairn.monitoring.reference",
    "drift": "cairn.monitoring.drift",
    "flush_alerts": "cairn.monitoring.alerts",
    "get_reference": "cairn.monitoring.reference",
    "list_alerts": "cairn.monitoring.alerts",
    "monitor_history": "cairn.monitoring.windows",
    "monitor_model": "cairn.monitoring.windows",
    "monitored_models": "cairn.monitoring.overview",
    "quality_history": "cairn.monitoring.overview",
    "raise_alert": "cairn.monitoring.alerts",
    "record_labels": "cairn.monitoring.quality",
    "score_model": "cairn.monitoring.scoring",
    "sketch_table": "cairn.monitoring.sketch",
    "write_report": "cairn.monitoring.report",
}

__all__ = [  # noqa: RUF022  (plainly sorted, as tests/test_public_api.py checks)
    "Alert",
    "AlertConfig",
    "AlertRule",
    "ColumnDrift",
    "DriftReport",
    "ModelScores",
    "MonitorRun",
    "MonitoredModel",
    "QualityRun",
    "QualityWindow",
    "Reference",
    "SCORE_KEYS",
    "TableSketch",
    "WindowResult",
    "alert_config",
    "check_alerts",
    "compare",
    "compute_reference",
    "drift",
    "flush_alerts",
    "get_reference",
    "list_alerts",
    "monitor_history",
    "monitor_model",
    "monitored_models",
    "quality_history",
    "raise_alert",
    "record_labels",
    "score_model",
    "sketch_table",
    "write_report",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
