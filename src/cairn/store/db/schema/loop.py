"""Tables of the closed loop: each model's retraining policy, and every retraining it started.

A policy says which pipeline retrains a model, on which triggers (alert rules, new versions of
a catalog dataset, a cron expression), which data it must pass first, on which held-out data
champion and challenger are scored, and the rule that decides the promotion. Schedulers claim
a due policy with a compare-and-set on its ``claim`` counter (as pipeline schedules do).

A retraining is one trip round the loop, kept whole for the audit trail: what started it (and
the alert's evidence), the data version validated, the pipeline run, the challenger and the
champion, both scores, the checks of the rule, the decision and the alias move. A scheduler
holds the retraining it works on by its ``owner`` and ``heartbeat_ms``; another takes it over
(and resumes it from its last finished stage) when the owner stopped beating.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, String, Table, Text

from cairn.store.db.schema._base import Id, metadata

retrain_policies = Table(
    "retrain_policies",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False, unique=True),
    Column("spec", Text, nullable=False),  # JSON: the policy as set (see loop/policy.py)
    Column("root", Text, nullable=False),  # the project folder the pipeline runs in
    Column("enabled", Boolean, nullable=False),
    Column("next_due_ms", BigInteger),  # cron: when it is next due
    Column("seen_alert_id", BigInteger, nullable=False),  # alerts up to it are handled
    Column("seen_version_id", BigInteger, nullable=False),  # data versions up to it handled
    Column("claim", BigInteger, nullable=False),  # bumped by each scheduler claim
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("updated_by", String(255)),
)

retrainings = Table(
    "retrainings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    # queued | running | promoted | refused | failed | dropped | stopped
    Column("state", String(16), nullable=False),
    # where a running one is: validate | train | score | decide (the next stage to do)
    Column("stage", String(16), nullable=False),
    Column("trigger_kind", String(16), nullable=False),  # alert | data | cron | manual
    Column("trigger", Text, nullable=False),  # in words: "alert wine-drift #12"
    Column("alert_id", BigInteger),
    Column("evidence", Text, nullable=False),  # JSON: the trigger's evidence (drift)
    Column("policy", Text, nullable=False),  # JSON: the policy as it was when it started
    Column("dataset_version", String(512)),  # the catalog version validated and trained on
    Column("validation", Text),  # JSON: {passed, suite, rows, failures}
    Column("pipeline_run", String(26)),
    Column("challenger", BigInteger),  # version number registered by the pipeline
    Column("champion", BigInteger),  # version number served when it was scored
    Column("scores", Text),  # JSON: {holdout, challenger: {...}, champion: {...}}
    Column("checks", Text),  # JSON: the rule's checks
    Column("reason", Text),  # the decision in words (or why it failed)
    Column("result_alert_id", BigInteger),  # the alert raised on a refusal or a failure
    Column("owner", String(255)),  # the scheduler working on it: host:pid:token
    Column("heartbeat_ms", BigInteger),
    Column("claim", BigInteger, nullable=False),
    Column("attempts", BigInteger, nullable=False),  # times a scheduler took it up
    Column("created_ms", BigInteger, nullable=False),
    Column("started_ms", BigInteger),
    Column("ended_ms", BigInteger),
    Index(None, "model", "id"),
    Index(None, "state"),
)
