"""Value types of the data catalog: what ``cairn.data`` functions return."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileEntry:
    """One file of a version: its path inside the version, size and content digest."""

    path: str
    size: int
    digest: str


@dataclass(frozen=True)
class TableFacts:
    """What a tabular file (Parquet, CSV) holds: its columns with their types, and its rows."""

    format: str
    columns: list[tuple[str, str]]
    rows: int


@dataclass(frozen=True)
class DatasetVersion:
    """An immutable version of a dataset, identified by the digest of its manifest."""

    dataset: str
    number: int
    digest: str
    file_count: int
    size: int
    created_ms: int
    user: str | None
    run_id: str | None  # the run that added it, if one was active
    location: str | None  # where it was added from
    deleted: bool = False

    @property
    def ref(self) -> str:
        """``name@vN``: how to ask for this version."""
        return f"{self.dataset}@v{self.number}"


@dataclass(frozen=True)
class Dataset:
    """A catalog entry: what the data is, who owns it, how often it changes, and its versions."""

    name: str
    description: str | None
    owner: str | None
    frequency: str | None
    source: str | None
    created_ms: int
    updated_ms: int
    tags: dict[str, str] = field(default_factory=dict)
    latest: DatasetVersion | None = None
    version_count: int = 0
    stale: bool = False  # the latest version is older than the frequency allows


@dataclass(frozen=True)
class AddResult:
    """What ``add`` did: the version, whether it is new, and the work it took."""

    version: DatasetVersion
    created: bool  # False: the content equals the latest version ("unchanged")
    files: int
    hashed: int  # files read and hashed (the others came from the stat cache)
    stored: int  # objects new to the store
    stored_bytes: int
    # With a suite: its verdict, then one line per failed expectation (warnings included).
    suite_report: str | None = None


@dataclass(frozen=True)
class VersionUse:
    """A run that read or wrote a version."""

    run_id: str
    run_name: str
    relation: str  # "input" or "output"
    created_ms: int


@dataclass(frozen=True)
class ModelUse:
    """A registered model version made from a dataset version (directly or by its run)."""

    model_version: str  # name/N
    run_id: str | None  # the run that read the data and logged the model


@dataclass(frozen=True)
class CatalogEvent:
    """One edit of a catalog field."""

    ts_ms: int
    user: str | None
    field: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class DatasetDetail:
    """Everything the catalog knows about one dataset: ``cairn data show``."""

    dataset: Dataset
    versions: list[DatasetVersion]  # every version, oldest first, deleted ones flagged
    tables: dict[int, dict[str, TableFacts]]  # version number -> file path -> facts
    uses: dict[int, list[VersionUse]]  # version number -> runs that read or wrote it
    events: list[CatalogEvent]  # catalog edits, removals and restores, oldest first
    models: dict[int, list[ModelUse]] = field(default_factory=dict)  # number -> model versions


@dataclass(frozen=True)
class FileChange:
    """A file present in both versions with different content."""

    path: str
    size_a: int
    size_b: int


@dataclass(frozen=True)
class TableChange:
    """How a table differs between two versions: rows and columns."""

    path_a: str
    path_b: str
    rows_a: int
    rows_b: int
    columns_added: list[tuple[str, str]]  # (name, type) only in b
    columns_removed: list[tuple[str, str]]  # (name, type) only in a
    types_changed: list[tuple[str, str, str]]  # (name, type in a, type in b)

    @property
    def schema_changed(self) -> bool:
        """Whether any column was added, removed or changed type."""
        return bool(self.columns_added or self.columns_removed or self.types_changed)


@dataclass(frozen=True)
class VersionDiff:
    """What differs between two versions (of one dataset or two)."""

    a: DatasetVersion
    b: DatasetVersion
    added: list[FileEntry]  # only in b
    removed: list[FileEntry]  # only in a
    changed: list[FileChange]
    tables: list[TableChange]  # tables whose content differs, where both sides have facts

    @property
    def same(self) -> bool:
        """Whether both versions hold the same files with the same content."""
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True)
class StatusResult:
    """How the files at a local path differ from a version (nothing is recorded)."""

    version: DatasetVersion
    path: str
    added: list[str]  # at the path, not in the version
    removed: list[str]  # in the version, not at the path
    changed: list[str]  # at both, with different content
    hashed: int  # files that had to be read (the stat cache knew the others)

    @property
    def unchanged(self) -> bool:
        """Whether the path holds exactly the version's files."""
        return not (self.added or self.removed or self.changed)
