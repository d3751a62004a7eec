"""Adding data: content-addressed, immutable versions that lose nothing, on every store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn.core.errors import (
    ArtifactCorruptedError,
    InvalidInputError,
    NotFoundError,
)
from cairn.core.hashing import hash_file
from cairn.store import Store, get_store
from cairn.store.lineage import DATASET_VERSION, RUN, Node, edges_into, edges_out_of
from tests.data.folders import make_folder


def objects(store: Store) -> list[Path]:
    """Every object file in a local artifact store."""
    return sorted(p for p in Path(store.artifacts.url, "objects").rglob("*") if p.is_file())


def test_versions_are_content_addressed_and_unchanged_content_adds_nothing(
    project: Path, store: Store
) -> None:
    """Same content: no new version; new content: the next version; old content again: a new
    version with the old identity."""
    raw = make_folder(project / "raw", {"a.txt": b"alpha", "sub/b.bin": bytes(range(256))})
    first = cairn.data.add(raw, "customers", owner="ana@team", frequency="daily")
    assert first.created and first.version.ref == "customers@v1"
    assert (first.files, first.hashed, first.stored) == (2, 2, 2)
    again = cairn.data.add(raw, "customers")
    assert not again.created and again.version == first.version
    assert again.hashed == 0  # the stat cache knew both files
    (raw / "a.txt").write_bytes(b"alpha, revised")
    second = cairn.data.add(raw, "customers")
    assert second.version.number == 2 and second.stored == 1
    assert second.version.digest != first.version.digest
    (raw / "a.txt").write_bytes(b"alpha")
    third = cairn.data.add(raw, "customers")
    assert third.version.number == 3 and third.version.digest == first.version.digest
    assert third.stored == 0  # every object was already there
    files = {f.path: f for f in cairn.data.files("customers@v1")}
    assert set(files) == {"a.txt", "sub/b.bin"}
    assert files["sub/b.bin"].size == 256
    assert files["sub/b.bin"].digest == hash_file(raw / "sub" / "b.bin")[0]


def test_objects_are_stored_once_across_datasets(project: Path) -> None:
    """Identical files in several datasets and versions are one object each."""
    shared = {"x.bin": os.urandom(1000), "y.bin": os.urandom(1000)}
    cairn.data.add(make_folder(project / "one", shared), "one")
    cairn.data.add(make_folder(project / "two", {**shared, "z.bin": b"z"}), "two")
    store = get_store()
    manifests = 2
    assert len(objects(store)) == 3 + manifests


def test_a_version_never_changes(project: Path) -> None:
    """Editing the source after adding leaves the version's bytes, read-only, as they were."""
    raw = make_folder(project / "raw", {"data.csv": b"a,b\n1,2\n"})
    cairn.data.add(raw, "table")
    (raw / "data.csv").write_bytes(b"a,b\n9,9\n")
    folder = cairn.data.path("table@v1")
    assert (folder / "data.csv").read_bytes() == b"a,b\n1,2\n"
    assert (folder / "data.csv").stat().st_mode & 0o222 == 0  # read-only
    copy = cairn.data.get("table@v1", project / "copy")
    assert (copy / "data.csv").read_bytes() == b"a,b\n1,2\n"
    (copy / "data.csv").write_bytes(b"mine to edit")  # a copy, not the stored object
    assert (cairn.data.path("table@v1") / "data.csv").read_bytes() == b"a,b\n1,2\n"
    for obj in objects(get_store()):
        assert obj.stat().st_mode & 0o222 == 0


def test_corrupted_object_is_named_on_read(project: Path) -> None:
    """A damaged object is refused on read, naming the dataset, version and file."""
    raw = make_folder(project / "raw", {"part/data.csv": b"a,b\n1,2\n"})
    added = cairn.data.add(raw, "sales")
    (entry,) = cairn.data.files("sales")
    target = Path(get_store().artifacts.object_path(entry.digest))
    os.chmod(target, 0o644)
    target.write_bytes(b"a,b\n6,6\n")
    with pytest.raises(ArtifactCorruptedError) as caught:
        cairn.data.get(added.version.ref, project / "out")
    message = str(caught.value)
    assert "sales@v1" in message and "part/data.csv" in message


def test_lineage_of_a_run_that_reads_one_dataset_and_writes_another(project: Path) -> None:
    """A run that loads one dataset and adds another is the edge between the two versions."""
    import pandas as pd

    raw = project / "raw"
    raw.mkdir()
    pd.DataFrame({"x": [1, 2, 3]}).to_parquet(raw / "in.parquet")
    cairn.data.add(raw, "inputs")
    with cairn.run() as run:
        frame = cairn.data.load("inputs")
        out = project / "features"
        out.mkdir()
        (frame * 2).to_parquet(out / "features.parquet")
        written = cairn.data.add(out, "features")
    assert written.version.run_id == run.id
    store = get_store()
    with store.db.read() as conn:
        from sqlalchemy import select

        from cairn.store.db.schema import dataset_versions, runs

        run_db = conn.execute(select(runs.c.id).where(runs.c.uid == run.id)).scalar_one()
        ids = set(conn.execute(select(dataset_versions.c.id)).scalars())
        inputs = edges_into(conn, [Node(RUN, run_db)])
        outputs = edges_out_of(conn, [Node(RUN, run_db)])
    assert [(e.src.kind, e.relation) for e in inputs] == [(DATASET_VERSION, "input")]
    assert [(e.dst.kind, e.relation) for e in outputs] == [(DATASET_VERSION, "output")]
    assert {inputs[0].src.id, outputs[0].dst.id} == ids
    used = [(relation, v.ref) for relation, v in cairn.data.run_datasets(run.id)]
    assert used == [("input", "inputs@v1"), ("output", "features@v1")]


def test_tables_load_as_pandas_polars_and_arrow(project: Path) -> None:
    """A Parquet version loads into pandas, polars and pyarrow alike."""
    import pandas as pd

    raw = project / "raw"
    raw.mkdir()
    frame = pd.DataFrame({"id": [1, 2, 3], "city": ["Oslo", "Lima", "Pune"]})
    frame.to_parquet(raw / "t.parquet")
    cairn.data.add(raw, "cities")
    pd.testing.assert_frame_equal(cairn.data.load("cities"), frame)
    assert cairn.data.load("cities", as_="polars").shape == (3, 2)
    assert cairn.data.load("cities@v1", as_="arrow").num_rows == 3


ADDER = """
import sys
import cairn
cairn.data.add(sys.argv[1], sys.argv[2])
print("done", flush=True)
"""


def _env(store: Store) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_STORE"] = store.db.url
    return env


def test_killed_add_leaves_no_version_and_a_rerun_completes(project: Path, store: Store) -> None:
    """An add killed half-way leaves no version and no corrupt object; adding again works."""
    raw = make_folder(project / "raw", {f"f{i:04}.bin": os.urandom(20_000) for i in range(3000)})
    script = project / "adder.py"
    script.write_text(ADDER)
    with subprocess.Popen(
        [sys.executable, str(script), str(raw), "big"], cwd=project, env=_env(store)
    ) as proc:
        folder = project / ".cairn" / "artifacts" / "objects"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(folder.rglob("*"))) < 300:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with pytest.raises(NotFoundError):
        cairn.data.version("big")
    for obj in objects(get_store()):
        if not obj.name.startswith(".tmp-"):
            assert hash_file(obj)[0].endswith(obj.parent.name + obj.name)
    result = cairn.data.add(raw, "big")
    assert result.created and result.files == 3000
    copy = cairn.data.get("big", project / "copy")
    assert (copy / "f0042.bin").read_bytes() == (raw / "f0042.bin").read_bytes()


def test_concurrent_adds_get_distinct_versions(project: Path, store: Store) -> None:
    """Two processes adding different content to one dataset at once get v1 and v2."""
    script = project / "adder.py"
    script.write_text(ADDER)
    folders = [
        make_folder(project / f"raw{i}", {f"f{j}.bin": os.urandom(5000) for j in range(200)})
        for i in range(2)
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(f), "shared"],
            cwd=project,
            env=_env(store),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in folders
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    v1, v2 = cairn.data.version("shared@v1"), cairn.data.version("shared@v2")
    assert v1.digest != v2.digest
    with pytest.raises(NotFoundError):
        cairn.data.version("shared@v3")
    for ref in ("shared@v1", "shared@v2"):
        copy = cairn.data.get(ref, project / ref.replace("@", "-"))
        sources = {f.read_bytes() for folder in folders for f in folder.iterdir()}
        assert {p.read_bytes() for p in copy.iterdir()} <= sources


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: cairn.data.add(p / "missing", "x"), "no file or folder"),
        (lambda p: cairn.data.add(p, "no/slash"), "cannot name a dataset"),
        (lambda p: cairn.data.add(p, "x", frequency="sometimes"), "does not parse"),
        (lambda p: cairn.data.version("x@v9"), "has no version v9"),
        (lambda p: cairn.data.version("nothing"), "no dataset named"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(project: Path, call: Any, message: str) -> None:
    """Each mistake gets a clear message and leaves the catalog as it was."""
    raw = make_folder(project / "raw", {"a.txt": b"a"})
    if "v9" in message:
        for i in range(3):
            (raw / "a.txt").write_bytes(str(i).encode())
            cairn.data.add(raw, "x")
    with pytest.raises((InvalidInputError, NotFoundError)) as caught:
        call(raw)
    assert message in str(caught.value)
    if "v9" not in message:
        with pytest.raises(NotFoundError):
            cairn.data.version("x")


def test_adds_from_and_to_s3(project: Path, artifacts: Store, s3_bucket: Any) -> None:
    """A folder in S3 is added (streamed and hashed) into a local or S3 store and read back."""
    import fsspec

    url, options = s3_bucket
    fs = fsspec.filesystem("s3", **options)
    source = url.replace("/artifacts", "/raw")
    fs.pipe({f"{source}/a.txt": b"alpha", f"{source}/sub/b.txt": b"beta"})
    added = cairn.data.add(source, "remote", storage_options=options)
    assert added.files == 2 and added.version.location == source
    copy = cairn.data.get("remote", project / "copy")
    assert (copy / "sub" / "b.txt").read_bytes() == b"beta"
    unchanged = cairn.data.add(source, "remote", storage_options=options)
    assert not unchanged.created


def test_s3_url_without_credentials_is_a_clear_error(
    project: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading S3 without credentials says what to set."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(project / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(project / "none"))
    options = {"client_kwargs": {"endpoint_url": s3_endpoint}, "skip_instance_cache": True}
    with pytest.raises(InvalidInputError) as caught:
        cairn.data.add("s3://no-such-bucket/data", "remote", storage_options=options)
    assert "credentials" in str(caught.value)


def test_gc_frees_only_what_no_live_version_needs(project: Path, store: Store) -> None:
    """gc removes the files of deleted versions unless another version or run still uses them."""
    raw = make_folder(project / "raw", {"shared.bin": b"s" * 1000, "old.bin": b"o" * 500})
    cairn.data.add(raw, "ds")
    (raw / "old.bin").unlink()
    make_folder(raw, {"new.bin": b"n" * 700})
    cairn.data.add(raw, "ds")
    with cairn.run() as run:
        run.log_bytes(b"o" * 500, "copy-of-old.bin")  # a run artifact with the same bytes
    cairn.data.remove_version("ds@v1")
    first = cairn.data.gc(grace_s=0)
    assert (first.manifests, first.objects) == (1, 0)  # old.bin is the run's artifact too
    copy = cairn.data.get("ds@v2", project / "copy")
    assert sorted(p.name for p in copy.iterdir()) == ["new.bin", "shared.bin"]
    cairn.data.remove_version("ds@v2")
    kept = cairn.data.gc()  # written moments ago: kept for the grace period
    assert (kept.manifests, kept.objects, kept.kept) == (1, 0, 2)
    second = cairn.data.gc(grace_s=0)
    assert (second.manifests, second.objects, second.bytes) == (0, 2, 1700)
    assert cairn.data.gc(grace_s=0).objects == 0
    with pytest.raises(InvalidInputError, match="garbage-collected"):
        cairn.data.restore_version("ds@v2")
        cairn.data.path("ds@v2")


def test_a_failed_get_writes_nothing(project: Path) -> None:
    """A get that meets a damaged object leaves the destination without any of the files."""
    raw = make_folder(project / "raw", {"a.bin": b"a" * 100, "b.bin": b"b" * 100})
    cairn.data.add(raw, "pair")
    damaged = next(f for f in cairn.data.files("pair") if f.path == "b.bin")
    target = Path(get_store().artifacts.object_path(damaged.digest))
    os.chmod(target, 0o644)
    target.write_bytes(b"x" * 100)
    dest = project / "dest"
    with pytest.raises(ArtifactCorruptedError):
        cairn.data.get("pair", dest)
    assert list(dest.iterdir()) == []


def test_a_file_rewritten_after_the_scan_is_refused(tmp_path: Path) -> None:
    """What add found when it scanned must be what it reads; a rewrite in between is refused."""
    from cairn.data._add import _read_small
    from cairn.data._scan import scan_local

    (tmp_path / "a.csv").write_text("x\n1\n")
    (found,) = scan_local(tmp_path)
    assert _read_small(found) == b"x\n1\n"
    (tmp_path / "a.csv").write_text("x\n2\n")
    os.utime(tmp_path / "a.csv", ns=(found.mtime_ns + 10**9, found.mtime_ns + 10**9))
    with pytest.raises(InvalidInputError, match="changed while it was being added"):
        _read_small(found)
    (tmp_path / "a.csv").unlink()
    with pytest.raises(InvalidInputError, match="disappeared"):
        _read_small(found)
