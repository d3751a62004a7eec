"""The run page's artifacts: the listing by folder, previews (images, text, JSON, and the heads
of CSV and Parquet files) and the texts every run captures (git diff, packages, output log).

Objects are read by the digest the run recorded, from the artifact store; a path from the URL
only selects one of the run's recorded artifacts and never reaches a file system. Only what a
preview shows is read: the head of a CSV file, the first row group of a Parquet file, the tail
of a long output log; a file too big to show whole gets its size and a download link.
"""

from __future__ import annotations

import contextlib
import csv
import json
import mimetypes
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from cairn.core.errors import ArtifactNotFoundError
from cairn.store import get_store
from cairn.tracking import ArtifactEntry
from cairn.ui.page import quote, size_text

# The texts every run captures (the paths tracking writes them at).
DIFF_ARTIFACT = "cairn/git.diff"
PACKAGES_ARTIFACT = "cairn/packages.txt"
OUTPUT_ARTIFACT = "cairn/output.log"
CAPTURED = (
    ("Git diff", DIFF_ARTIFACT),
    ("Installed packages", PACKAGES_ARTIFACT),
    ("Output log", OUTPUT_ARTIFACT),
)

TEXT_LIMIT = 2_000_000  # text and JSON larger than this are not loaded into a page
IMAGE_LIMIT = 20_000_000
CAPTURED_LIMIT = 200_000  # the head of a diff, the tail of a log
HEAD_ROWS = 20
TEXT_LINES = 500
HEAD_BYTES = 256_000  # enough for 20 lines of any sane CSV
CELL_CHARS = 200

IMAGES = {"png", "jpg", "jpeg", "gif", "svg", "webp"}
TEXTS = {
    "txt", "log", "md", "py", "yaml", "yml", "toml", "cfg", "ini", "sh", "rst", "diff",
    "patch", "sql", "r", "js", "ts", "html", "xml", "tex", "ipynb", "jsonl", "tsv", "out", "err",
}  # fmt: skip


@dataclass(frozen=True)
class ArtifactItem:
    """One artifact in the listing: where it is, its size, and where to get it."""

    path: str
    name: str
    size: int
    digest: str
    kind: str
    download: str


@dataclass(frozen=True)
class ArtifactFolder:
    """The artifacts directly in one folder of the run (``""``: the top)."""

    folder: str
    files: list[ArtifactItem]


@dataclass(frozen=True)
class Preview:
    """What the page shows of one artifact. ``kind``: image, text, json, table, or none (then
    ``note`` says why and the download link is all there is)."""

    path: str
    kind: str
    size: int
    download: str
    text: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class CapturedText:
    """A captured text of the run (its head, or a log's tail, when long)."""

    label: str
    path: str
    size: int
    download: str
    text: str
    note: str


def kind_of(path: str) -> str:
    """What a file is by its name: image, json, csv, parquet, text or other."""
    ext = posixpath.splitext(path)[1].lower().lstrip(".")
    if ext in IMAGES:
        return "image"
    if ext in ("json", "csv", "parquet"):
        return ext
    if ext == "pq":
        return "parquet"
    return "text" if ext in TEXTS else "other"


def download_url(run_id: str, path: str) -> str:
    """The raw route of one artifact."""
    return f"/runs/{quote(run_id)}/artifacts/{quote_path(path)}"


def quote_path(path: str) -> str:
    """An artifact path for a URL: each segment quoted, the slashes kept."""
    return "/".join(quote(part) for part in path.split("/"))


def content_type(path: str) -> str:
    """The media type to serve an artifact as."""
    guessed, _ = mimetypes.guess_type(path, strict=False)
    if kind_of(path) in ("text", "csv") or guessed in ("application/json", "text/plain"):
        return f"{guessed or 'text/plain'}; charset=utf-8"
    return guessed or "application/octet-stream"


def folders(run_id: str, artifacts: list[ArtifactEntry]) -> list[ArtifactFolder]:
    """The run's artifacts grouped by folder, folders and files in name order."""
    grouped: dict[str, list[ArtifactItem]] = {}
    for entry in sorted(artifacts, key=lambda a: a.path):
        folder, _, name = entry.path.rpartition("/")
        item = ArtifactItem(
            entry.path,
            name,
            entry.size,
            entry.digest,
            kind_of(entry.path),
            download_url(run_id, entry.path),
        )
        grouped.setdefault(folder, []).append(item)
    return [ArtifactFolder(name, grouped[name]) for name in sorted(grouped)]


def find(artifacts: list[ArtifactEntry], run_id: str, path: str) -> ArtifactEntry:
    """The run's artifact at ``path`` (exactly as recorded)."""
    for entry in artifacts:
        if entry.path == path:
            return entry
    shown = path if len(path) <= 200 else path[:200] + "…"
    raise ArtifactNotFoundError(
        f"run {run_id} has no artifact {shown!r}; pick one from the run's page (/runs/{run_id})"
    )


@contextlib.contextmanager
def opened(entry: ArtifactEntry) -> Iterator[IO[bytes]]:
    """The stored object of ``entry``, open for reading a part of it (not verified: only
    previews read this way; downloads and whole reads are verified against the digest)."""
    objects = get_store().artifacts
    where = objects.object_path(entry.digest)
    try:
        if objects.is_local:
            stream: IO[bytes] = open(where, "rb")  # noqa: SIM115 (closed below)
        else:
            fs, _ = objects.filesystem()
            stream = fs.open(where, "rb")
    except FileNotFoundError:
        raise ArtifactNotFoundError(
            f"the stored object of artifact {entry.path!r} ({entry.digest}) is missing from the "
            "artifact store; log the artifact again"
        ) from None
    with stream:
        yield stream


def _head(entry: ArtifactEntry, limit: int) -> bytes:
    with opened(entry) as stream:
        return stream.read(limit)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "…"


def _is_binary(head: bytes) -> bool:
    if b"\x00" in head[:8192]:
        return True
    try:
        head[:8192].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head[:8192]) - 4  # a character cut at the end is still text
    return False


def preview(run_id: str, entry: ArtifactEntry) -> Preview:
    """What the page shows of ``entry``; only the part shown is read."""
    base: dict[str, Any] = {
        "path": entry.path,
        "size": entry.size,
        "download": download_url(run_id, entry.path),
    }
    kind = kind_of(entry.path)
    too_big = f"{size_text(entry.size)}: too large to show here; download it"
    try:
        if kind == "image":
            if entry.size > IMAGE_LIMIT:
                return Preview(kind="none", note=too_big, **base)
            return Preview(kind="image", **base)
        if kind == "parquet":
            return _parquet(entry, base)
        if kind == "csv":
            return _csv(entry, base)
        if kind == "other" and _is_binary(_head(entry, 8192)):
            return Preview(kind="none", note=f"a binary file of {size_text(entry.size)}", **base)
        if entry.size > TEXT_LIMIT:
            return Preview(kind="none", note=too_big, **base)
        text = get_store().artifacts.read_bytes(entry.digest).decode("utf-8", "replace")
    except ArtifactNotFoundError as exc:
        return Preview(kind="none", note=str(exc), **base)
    if kind == "json":
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return Preview(kind="text", text=_lines(text), note="not valid JSON", **base)
        return Preview(kind="json", text=_lines(text), **base)
    return Preview(kind="text", text=_lines(text), **base)


def _lines(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= TEXT_LINES:
        return text
    return "\n".join(lines[:TEXT_LINES]) + f"\n… ({len(lines) - TEXT_LINES} more lines)"


def _csv(entry: ArtifactEntry, base: dict[str, Any]) -> Preview:
    head = _head(entry, HEAD_BYTES).decode("utf-8", "replace")
    lines = head.splitlines()[: HEAD_ROWS + 1]
    rows = [[_cell(cell) for cell in row] for row in csv.reader(lines)]
    if not rows:
        return Preview(kind="none", note="an empty CSV file", **base)
    note = f"the first {len(rows) - 1} rows"
    return Preview(kind="table", columns=rows[0], rows=rows[1:], note=note, **base)


def _parquet(entry: ArtifactEntry, base: dict[str, Any]) -> Preview:
    import pyarrow.parquet as pq

    with opened(entry) as stream:
        try:
            parquet = pq.ParquetFile(stream)
            batch = next(parquet.iter_batches(batch_size=HEAD_ROWS), None)
            total = parquet.metadata.num_rows
            columns = list(parquet.schema_arrow.names)
        except Exception as exc:
            note = f"cannot read it as Parquet ({type(exc).__name__}: {str(exc)[:200]})"
            return Preview(kind="none", note=note, **base)
    records = batch.to_pylist() if batch is not None else []
    rows = [[_cell(record.get(name)) for name in columns] for record in records]
    note = f"the first {len(rows)} of {total} rows"
    return Preview(kind="table", columns=columns, rows=rows, note=note, **base)


def captured_texts(run_id: str, artifacts: list[ArtifactEntry]) -> list[CapturedText]:
    """The run's git diff, package list and output log, as far as the run has them."""
    by_path = {a.path: a for a in artifacts}
    texts = []
    for label, path in CAPTURED:
        entry = by_path.get(path)
        if entry is None:
            continue
        note = ""
        try:
            if entry.size <= CAPTURED_LIMIT:
                data = get_store().artifacts.read_bytes(entry.digest)
            elif path == OUTPUT_ARTIFACT:
                with opened(entry) as stream:
                    stream.seek(entry.size - CAPTURED_LIMIT)
                    data = stream.read(CAPTURED_LIMIT)
                data = data.partition(b"\n")[2]
                note = f"the last {size_text(len(data))} of {size_text(entry.size)}"
            else:
                data = _head(entry, CAPTURED_LIMIT)
                note = f"the first {size_text(len(data))} of {size_text(entry.size)}"
        except ArtifactNotFoundError as exc:
            data, note = b"", str(exc)
        text = data.decode("utf-8", "replace")
        texts.append(CapturedText(label, path, entry.size, download_url(run_id, path), text, note))
    return texts


def chunks(entry: ArtifactEntry) -> Iterator[bytes]:
    """The bytes of ``entry``, verified against its digest as they stream."""
    yield from get_store().artifacts.iter_verified(entry.digest)


def exists(entry: ArtifactEntry) -> bool:
    """Whether the stored object of ``entry`` is there to download."""
    return bool(get_store().artifacts.exists(entry.digest))


def attachment(path: str) -> str:
    """A Content-Disposition header that saves the file under its name."""
    name = posixpath.basename(path) or "artifact"
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_")
    ascii_name = "".join(c if c.isprintable() else "_" for c in ascii_name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
