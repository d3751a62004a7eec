"""The data catalog: datasets with owners and update frequencies, immutable versions.

import cairn

cairn.data.add("raw/customers.parquet", name="customers", owner="ana@team")
df = cairn.data.load("customers")          # the latest version, as pandas
folder = cairn.data.path("customers@v2")   # a read-only local folder
cairn.data.diff_versions("customers@v1", "customers@v2")
"""

from __future__ import annotations

from cairn.data.add import add
from cairn.data.catalog import (
    diff_versions,
    edit_dataset,
    list_datasets,
    remove_version,
    restore_version,
    run_datasets,
    show_dataset,
    stale_datasets,
    status,
)
from cairn.data.dataset import (
    AddResult,
    CatalogEvent,
    Dataset,
    DatasetDetail,
    DatasetVersion,
    FileChange,
    FileEntry,
    StatusResult,
    TableChange,
    TableFacts,
    VersionDiff,
    VersionUse,
)
from cairn.data.gc import DataGcResult, drop_deleted_files, gc
from cairn.data.read import files, get, load, path, version

__all__ = [
    "AddResult",
    "CatalogEvent",
    "DataGcResult",
    "Dataset",
    "DatasetDetail",
    "DatasetVersion",
    "FileChange",
    "FileEntry",
    "StatusResult",
    "TableChange",
    "TableFacts",
    "VersionDiff",
    "VersionUse",
    "add",
    "diff_versions",
    "drop_deleted_files",
    "edit_dataset",
    "files",
    "gc",
    "get",
    "list_datasets",
    "load",
    "path",
    "remove_version",
    "restore_version",
    "run_datasets",
    "show_dataset",
    "stale_datasets",
    "status",
    "version",
]
