"""The data catalog: datasets with owners and update frequencies, immutable versions.

import cairn

cairn.data._add("raw/customers.parquet", name="customers", owner="ana@team")
df = cairn.data.load("customers")          # the latest version, as pandas
folder = cairn.data.path("customers@v2")   # a read-only local folder
cairn.data.diff_versions("customers@v1", "customers@v2")

Names are imported on first use (module ``__getattr__``): importing a submodule such as the
standard-library-only ``quick_check`` does not pull in SQLAlchemy or pyarrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from cairn.data._add import add
    from cairn.data._gc import DataGcResult, drop_deleted_files, gc
    from cairn.data._lean import list_datasets_lean, quick_check
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
        ModelUse,
        StatusResult,
        TableChange,
        TableFacts,
        VersionDiff,
        VersionUse,
    )
    from cairn.data.read import files, get, load, path, version

_LAZY: dict[str, str] = {
    "AddResult": "cairn.data.dataset",
    "CatalogEvent": "cairn.data.dataset",
    "DataGcResult": "cairn.data._gc",
    "Dataset": "cairn.data.dataset",
    "DatasetDetail": "cairn.data.dataset",
    "ModelUse": "cairn.data.dataset",
    "DatasetVersion": "cairn.data.dataset",
    "FileChange": "cairn.data.dataset",
    "FileEntry": "cairn.data.dataset",
    "StatusResult": "cairn.data.dataset",
    "TableChange": "cairn.data.dataset",
    "TableFacts": "cairn.data.dataset",
    "VersionDiff": "cairn.data.dataset",
    "VersionUse": "cairn.data.dataset",
    "add": "cairn.data._add",
    "diff_versions": "cairn.data.catalog",
    "drop_deleted_files": "cairn.data._gc",
    "edit_dataset": "cairn.data.catalog",
    "files": "cairn.data.read",
    "gc": "cairn.data._gc",
    "get": "cairn.data.read",
    "list_datasets": "cairn.data.catalog",
    "list_datasets_lean": "cairn.data._lean",
    "load": "cairn.data.read",
    "path": "cairn.data.read",
    "quick_check": "cairn.data._lean",
    "remove_version": "cairn.data.catalog",
    "restore_version": "cairn.data.catalog",
    "run_datasets": "cairn.data.catalog",
    "show_dataset": "cairn.data.catalog",
    "stale_datasets": "cairn.data.catalog",
    "status": "cairn.data.catalog",
    "version": "cairn.data.read",
}

__all__ = [
    "AddResult",
    "CatalogEvent",
    "DataGcResult",
    "Dataset",
    "DatasetDetail",
    "DatasetVersion",
    "FileChange",
    "FileEntry",
    "ModelUse",
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
    "list_datasets_lean",
    "load",
    "path",
    "quick_check",
    "remove_version",
    "restore_version",
    "run_datasets",
    "show_dataset",
    "stale_datasets",
    "status",
    "version",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
