"""Registering a version a client logged is idempotent: sent again (an answer lost), it finds
the version it made instead of adding another."""

from __future__ import annotations

import json

from sqlalchemy import select

import cairn
from cairn.registry import ingest
from cairn.registry.model_version import ModelFile
from cairn.store import Store
from cairn.store.db.schema import model_version_files, model_versions


def test_the_same_registration_twice_is_one_version(quiet_capture: None, store: Store) -> None:
    """ingest_version with the run, folder and descriptor of an existing version returns it."""
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    with cairn.start_run() as run:
        logged = cairn.log_model(model, "twice")
    with store.db.read() as conn:
        row = conn.execute(select(model_versions)).one()
        files = [
            ModelFile(f.path, f.size, f.digest) for f in conn.execute(select(model_version_files))
        ]
    again = ingest.ingest_version(
        store,
        "twice",
        run_id=run.id,
        artifact_path=row.artifact_path,
        flavor=row.flavor,
        digest=row.digest,
        signature=json.loads(row.signature) if row.signature else None,
        requirements=json.loads(row.requirements),
        metadata={},
        description=None,
        tags={},
        files=files,
        user="someone",
    )
    assert again.version == logged.version
    assert [v.version for v in cairn.registry.list_versions("twice")] == [logged.version]
