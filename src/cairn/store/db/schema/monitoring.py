"""Tables of monitoring: training references, per-window results and alerts.

A model version's reference is the summary (``TableSketch``) of the data it was trained on and
of its predictions on that data, stored once as an artifact, so monitoring never re-reads the
training data. Each monitoring window of a served version keeps its result (drift of every
input and of the prediction, or quality once labels arrived) and the summary of the window's
rows (for the report's distributions). An alert fires at most once per rule, subject and
window; its delivery to webhooks is tracked on the row, so nothing fails unseen.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from cairn.store.db.schema._base import Id, metadata

model_references = Table(
    "model_references",
    metadata,
    Column("version_id", Id, ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(71), nullable=False),  # the summary (.npz)
    Column("rows", BigInteger, nullable=False),  # rows summarized
    Column("source", Text, nullable=False),  # JSON: {"datasets": [...], "predicted_rows": N}
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "digest"),
)

monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),  # the registered model's name
    Column("version", Integer, nullable=False),  # the version that answered the window's rows
    Column("kind", String(16), nullable=False),  # drift | quality
    Column("start_ms", BigInteger, nullable=False),  # first row's time (inclusive)
    Column("end_ms", BigInteger, nullable=False),  # end of the window (exclusive)
    Column("rows", BigInteger, nullable=False),
    Column("verdict", String(32), nullable=False),  # drift | no drift | not enough data | ...
    Column("score", Float),  # drift: share of drifted columns; quality: the main metric
    Column("result", Text, nullable=False),  # JSON: the drift report or the quality metrics
    Column("digest", String(71)),  # the window's summary (.npz), for reports
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("model", "version", "kind", "start_ms"),
    Index(None, "model", "kind", "start_ms"),
    Index(None, "digest"),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("rule", String(255), nullable=False),  # the rule's name in cairn.yaml
    Column("subject", String(255), nullable=False),  # model name, or data:<dataset>
    Column("window_start_ms", BigInteger, nullable=False),  # the window (or period) it is about
    Column("window_end_ms", BigInteger, nullable=False),
    Column("message", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON
    Column("fired_ms", BigInteger, nullable=False),
    Column("delivery", String(16), nullable=False),  # none | pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    UniqueConstraint("rule", "subject", "window_start_ms"),
    Index(None, "subject", "fired_ms"),
)
