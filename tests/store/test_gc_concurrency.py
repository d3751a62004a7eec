"""Garbage collection beside writers that reuse stored objects: nothing referenced is lost.

Every test runs on SQLite and PostgreSQL, with the artifacts on local files and on S3 (where
no modification time marks an object as just reused).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

import cairn
from cairn.cli.gc import gc_command
from cairn.store import Store
from cairn.store.db.schema import object_deletions
from cairn.store.deletions import record_referencing, watermark
from cairn.store.references import sweep
from tests.data.folders import make_folder


def test_a_writer_that_reused_an_object_gc_deleted_stores_it_again(
    store: Store, artifacts: Store
) -> None:
    """An object found stored, then deleted by gc before its reference is recorded, is stored
    again before the reference is committed, so it reads back."""
    data = b"found already stored, about to be referenced"
    artifacts.artifacts.put_bytes(data)  # an orphan: stored, referenced by nothing
    with cairn.run() as run:
        since = watermark(artifacts.db)
        stored = artifacts.artifacts.put_bytes(data)  # reused: nothing is written
        assert sweep(artifacts, grace_s=0).objects == 1  # gc runs between check and record
        assert not artifacts.artifacts.exists(stored.digest)
        restored: list[set[str]] = []

        def restore(gone: set[str]) -> None:
            restored.append(gone)
            artifacts.artifacts.put_bytes(data)

        record_referencing(
            artifacts.db,
            [stored.digest],
            since,
            lambda conn: _record_artifact(conn, run.id, stored.digest, len(data)),
            restore,
        )
    assert restored == [{stored.digest}]
    assert artifacts.artifacts.read_bytes(stored.digest) == data
    assert sweep(artifacts, grace_s=0).objects == 0  # referenced now: kept
    with artifacts.db.read() as conn:  # the mark stays for writers that started before it
        assert conn.execute(select(func.count()).select_from(object_deletions)).scalar() == 1


def _record_artifact(conn: object, run_id: str, digest: str, size: int) -> None:
    from cairn.tracking import _queries
    from cairn.tracking.record import ArtifactEntry

    db_id, _ = _queries.resolve_run(conn, run_id)  # type: ignore[arg-type]
    entry = ArtifactEntry("reused.txt", digest, size)
    _queries.record_artifacts(conn, db_id, [entry], 0)  # type: ignore[arg-type]


def test_adds_and_log_artifacts_beside_gc_lose_nothing(
    project: Path, store: Store, artifacts: Store
) -> None:
    """Data adds and log_artifacts that reuse objects nothing references yet, run beside
    ``cairn gc --grace 0`` in a loop, all read back byte for byte."""
    rounds = 12
    errors: list[BaseException] = []
    stop = threading.Event()
    versions: dict[str, bytes] = {}
    logged: dict[str, bytes] = {}

    def guarded(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # the test fails with it below
            errors.append(exc)

    def add_data() -> None:
        for i in range(rounds):
            content = f"dataset content {i}\n".encode() * (i + 1)
            artifacts.artifacts.put_bytes(content)  # stored, unreferenced: gc's prey
            folder = make_folder(project / f"data{i}", {"file.txt": content})
            versions[cairn.data.add(folder, f"ds{i}").version.ref] = content

    def log_artifacts() -> None:
        for i in range(rounds):
            content = f"artifact content {i}\n".encode() * (i + 1)
            artifacts.artifacts.put_bytes(content)  # stored, unreferenced: gc's prey
            source = project / f"artifact{i}.txt"
            source.write_bytes(content)
            with cairn.run() as run:
                run.log_artifact(source, "file.txt")
            logged[run.id] = content

    def collect() -> None:
        while not stop.is_set():
            gc_command(grace=0)  # cairn gc --grace 0

    gc = threading.Thread(target=guarded, args=(collect,))
    writers = [threading.Thread(target=guarded, args=(w,)) for w in (add_data, log_artifacts)]
    gc.start()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=600)
    stop.set()
    gc.join(timeout=600)
    assert not errors, errors
    gc_command(grace=0)  # a last gc, alone: everything written is referenced, so kept
    assert len(versions) == len(logged) == rounds
    for n, (ref, content) in enumerate(versions.items()):
        assert (cairn.data.get(ref, project / f"out{n}") / "file.txt").read_bytes() == content
    for n, (run_id, content) in enumerate(logged.items()):
        download = cairn.download_artifacts(run_id, dest=project / f"download{n}")
        assert (download / "file.txt").read_bytes() == content
