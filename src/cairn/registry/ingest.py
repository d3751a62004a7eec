"""Registering a model version in one transaction, for ``log_model`` here and for the cairn
server's routes for models, and what those routes answer beyond the public API.

``record_version`` is the transaction's body (the version, its files, its tags and the lineage
edge from the run that logged it), shared by both paths. ``ingest_version`` is what a client's
``log_model`` asks the server for: every value is checked as the Python API checks it, and
every file must already be held by the server's artifact store, else nothing is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from cairn.core.checks import check_optional_text, check_tags, check_text, show
from cairn.core.destination import is_relative_path
from cairn.core.errors import ArtifactNotFoundError, InvalidInputError
from cairn.core.hashing import split_digest
from cairn.core.ids import now_ms
from cairn.core.uris import ModelUri, check_model_name
from cairn.registry import _queries
from cairn.registry.model_version import DESCRIPTOR, ModelFile, ModelVersion
from cairn.store import Store
from cairn.store.deletions import record_referencing, watermark
from cairn.store.lineage import INPUT, MODEL_VERSION, OUTPUT, RUN, Node, record_edge


def record_version(
    conn: Connection,
    name: str,
    *,
    run_id: str | None,
    artifact_path: str,
    flavor: str,
    digest: str,
    signature: Mapping[str, Any] | None,
    requirements: Mapping[str, str],
    metadata: Mapping[str, Any],
    description: str | None,
    tags: Mapping[str, str],
    files: Sequence[ModelFile],
    user: str | None,
) -> int:
    """Add the next version of ``name`` with its files, tags and the edge from its run
    (inside the caller's transaction); return its id."""
    now = now_ms()
    mid = _queries.lock_model(conn, name, now)
    run_db = _queries.run_db_id(conn, run_id) if run_id is not None else None
    version_id, _ = _queries.insert_version(
        conn,
        mid,
        {
            "run_id": run_db,
            "artifact_path": artifact_path.strip("/"),
            "flavor": flavor,
            "digest": digest,
            "signature": json.dumps(dict(signature)) if signature is not None else None,
            "requirements": json.dumps(dict(requirements)),
            "metadata": json.dumps(dict(metadata), default=str),
            "description": description,
            "created_ms": now,
            "user": user,
        },
    )
    _queries.insert_files(conn, version_id, files)
    _queries.set_version_tags(conn, version_id, dict(tags))
    if run_db is not None:
        record_edge(conn, Node(RUN, run_db), Node(MODEL_VERSION, version_id), OUTPUT, now)
    return version_id


def ingest_version(
    store: Store,
    name: str,
    *,
    run_id: str,
    artifact_path: str,
    flavor: str,
    digest: str,
    signature: Mapping[str, Any] | None,
    requirements: Mapping[str, str],
    metadata: Mapping[str, Any],
    description: str | None,
    tags: Mapping[str, str],
    files: Sequence[ModelFile],
    user: str | None,
) -> ModelVersion:
    """Register a version a client logged (its files uploaded first); return it.

    Refused, with nothing recorded, when a value could not come from ``log_model`` or when
    the artifact store lacks one of the files.
    """
    check_model_name(name)
    if not run_id.isascii() or not run_id.isalnum():
        raise InvalidInputError(f"{show(run_id)} is not a run id (26 letters and digits)")
    path = check_text(artifact_path, "artifact_path", empty=False).strip("/")
    if not is_relative_path(path):
        raise InvalidInputError(f"artifact_path {show(artifact_path)} must be a relative path")
    check_text(flavor, "flavor", empty=False)
    check_optional_text(description, "description")
    check_tags(tags)
    for key, value in requirements.items():
        check_text(key, "requirement", empty=False)
        check_text(value, "requirement version")
    if signature is not None:
        _check_signature(signature)
    checked = _check_files(files, digest)
    since = watermark(store.db)  # before the objects are looked for (gc may run)
    digests = sorted({f.digest for f in checked})
    missing = [d for d in digests if not store.artifacts.exists(d)]
    if missing:
        lacking = [f.path for f in checked if f.digest in set(missing)]
        raise ArtifactNotFoundError(
            f"the server holds no object for {len(lacking)} file(s) of this version of "
            f"{name!r} (e.g. {lacking[0]!r}: {missing[0]}); nothing was recorded. Upload the "
            "files first (log_model does, as artifacts of the run)"
        )

    def gone(lost: set[str]) -> None:
        raise ArtifactNotFoundError(
            f"{len(lost)} object(s) of this version were removed by gc while it was being "
            "registered; nothing was recorded. Log the model again"
        )

    def record(conn: Connection) -> int:
        # A registration sent again (its answer was lost) finds the version it made.
        found = _same_version(conn, name, run_id.lower(), path, digest)
        if found is not None:
            return found
        return record_version(
            conn,
            name,
            run_id=run_id.lower(),
            artifact_path=path,
            flavor=flavor,
            digest=digest,
            signature=signature,
            requirements=requirements,
            metadata=metadata,
            description=description,
            tags=tags,
            files=checked,
            user=user,
        )

    version_id = record_referencing(store.db, digests, since, record, gone)
    with store.db.read() as conn:
        return _queries.version(conn, version_id)


def _same_version(
    conn: Connection, name: str, run_id: str, artifact_path: str, digest: str
) -> int | None:
    """The version of ``name`` this run already registered from this folder and descriptor."""
    from sqlalchemy import select

    from cairn.store.db.schema import model_versions, models, runs

    v = model_versions
    row = conn.execute(
        select(v.c.id)
        .join(models, models.c.id == v.c.model_id)
        .join(runs, runs.c.id == v.c.run_id)
        .where(
            models.c.name == name,
            runs.c.uid == run_id,
            v.c.artifact_path == artifact_path,
            v.c.digest == digest,
        )
    ).first()
    return None if row is None else int(row.id)


def version_files(store: Store, uri: ModelUri) -> tuple[ModelVersion, list[ModelFile]]:
    """The live version ``uri`` names and its files (what a client loads)."""
    with store.db.read() as conn:
        version_id = _queries.resolve(conn, uri)
        return _queries.version(conn, version_id), _queries.files(conn, version_id)


def record_input(store: Store, uri: ModelUri, run_db_id: int) -> None:
    """Record the version ``uri`` names as an input of the run (once)."""

    def record(conn: Connection) -> None:
        version_id = _queries.resolve(conn, uri, include_deleted=True)
        record_edge(conn, Node(MODEL_VERSION, version_id), Node(RUN, run_db_id), INPUT, now_ms())

    store.db.transact(record)


def _check_signature(signature: Mapping[str, Any]) -> None:
    from cairn.registry.signature import Signature

    try:
        Signature.from_dict(dict(signature))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInputError(f"the signature is not one cairn writes: {exc}") from None


def _check_files(files: Sequence[ModelFile], digest: str) -> list[ModelFile]:
    seen: set[str] = set()
    for file in files:
        if not is_relative_path(file.path) or file.path in seen:
            raise InvalidInputError(
                f"the file path {show(file.path)} is repeated or leaves the model's folder"
            )
        seen.add(file.path)
        split_digest(file.digest)
        if file.size < 0:
            raise InvalidInputError(f"the size of {show(file.path)} must not be negative")
    descriptor = [f for f in files if f.path == DESCRIPTOR]
    if not descriptor or descriptor[0].digest != digest:
        raise InvalidInputError(
            f"a model version needs its {DESCRIPTOR} among its files, with the digest given "
            "for the version"
        )
    return sorted(files, key=lambda f: f.path)
