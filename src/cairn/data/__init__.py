"""The data catalog: datasets with owners and update frequencies, immutable versions.

    import cairn

    cairn.data.add("raw/customers.parquet", name="customers", owner="ana@team")
    df = cairn.data.load("customers")          # the latest version, as pandas
    folder = cairn.data.path("customers@v2")   # a read-only local folder
"""

from __future__ import annotations

from cairn.data.add import add
from cairn.data.dataset import (
    AddResult,
    CatalogEvent,
    Dataset,
    DatasetVersion,
    FileEntry,
    TableFacts,
    VersionUse,
)
from cairn.data.read import files, get, load, path, version

__all__ = [
    "AddResult",
    "CatalogEvent",
    "Dataset",
    "DatasetVersion",
    "FileEntry",
    "TableFacts",
    "VersionUse",
    "add",
    "files",
    "get",
    "load",
    "path",
    "version",
]
