"""Tables of pipelines: the step cache, schedules and the events that trigger them.

A step's result is keyed by the BLAKE3 digest of what it depends on (code, params, input
digests, package versions); the row keeps the parts of that key (to say why a step is stale),
the catalog versions the step read (a hit needs them unchanged) and its outputs, which are the
artifacts of the step's run (so gc keeps them while the run lives).

A schedule starts a pipeline on a cron expression, on a dataset's new version or on a named
event. Schedulers claim a due schedule with a compare-and-set on its ``claim`` counter, so two
schedulers at once start it once, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, String, Table, Text

from cairn.store.db.schema._base import Id, metadata

step_results = Table(
    "step_results",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False),  # hex BLAKE3 of the parts
    Column("pipeline", String(255), nullable=False),  # the pipeline's name
    Column("node", String(255), nullable=False),  # the step's place in it: train[2]
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("parts", Text, nullable=False),  # JSON: {code, params, inputs, packages} digests
    Column("reads", Text, nullable=False),  # JSON: catalog versions read [[name, version]]
    Column("outputs", Text, nullable=False),  # JSON: [{digest, size, format}]
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "key"),
    Index(None, "pipeline", "node", "id"),
    Index(None, "run_id"),
)

pipeline_schedules = Table(
    "pipeline_schedules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("target", String(1000), nullable=False),  # MODULE:PIPELINE
    Column("root", Text, nullable=False),  # the project folder it runs in
    Column("cron", String(255)),
    Column("on_data", String(255)),  # a catalog dataset's name
    Column("on_event", String(64)),  # a hook event: drift_detected
    Column("params", Text, nullable=False),  # JSON: --set values
    Column("executor", String(255)),
    Column("enabled", Boolean, nullable=False),
    Column("next_due_ms", BigInteger),  # cron: when it is next due
    Column("seen_version_id", BigInteger),  # on_data: the newest version already handled
    Column("seen_event_id", BigInteger),  # on_event: the newest event already handled
    Column("claim", BigInteger, nullable=False),  # bumped by the scheduler that starts it
    Column("last_run_uid", String(26)),
    Column("last_started_ms", BigInteger),
    Column("last_error", Text),
    Column("created_ms", BigInteger, nullable=False),
)

pipeline_events = Table(
    "pipeline_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "name", "id"),
)
