"""Which files ``models:/name@alias`` (or ``/N``, ``/latest``) names, on the standard library.

A program that only loads a model and predicts spends a third of a second importing SQLAlchemy
and pydantic just to read four rows. When the store is a SQLite file (found as the settings
would find it, or taken from them where they are built), no run is active in the process and
none is named in its environment (``cairn run``), this module reads those rows directly,
read-only, and ``load_model`` goes on from the verified model cache as usual. Anything else
(another store, an unknown name, alias or version, a database it cannot read) returns None, and
the full path decides with its own errors. Its answers are tested to equal the full path's.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

from cairn.core.context import current_run_id
from cairn.core.home import current_sqlite_locations
from cairn.core.uris import ModelUri
from cairn.registry.model_version import (
    ModelFile,
    ModelVersion,
    RegisteredModel,
    version_from_row,
)

_BY_ALIAS = """
SELECT a.version_id FROM model_aliases a JOIN models m ON m.id = a.model_id
WHERE m.name = ? AND a.alias = ?
"""
_BY_NUMBER = """
SELECT v.id FROM model_versions v JOIN models m ON m.id = v.model_id
WHERE m.name = ? AND v.number = ? AND v.deleted_ms IS NULL
"""
_LATEST = """
SELECT v.id FROM model_versions v JOIN models m ON m.id = v.model_id
WHERE m.name = ? AND v.deleted_ms IS NULL ORDER BY v.number DESC LIMIT 1
"""
_VERSION = """
SELECT v.id, m.name, v.number, v.flavor, r.uid AS uid, v.artifact_path, v.created_ms, v.user,
       v.description, v.signature, v.requirements, v.metadata, v.deleted_ms
FROM model_versions v JOIN models m ON m.id = v.model_id LEFT JOIN runs r ON r.id = v.run_id
WHERE v.id = ?
"""
_TAGS = "SELECT key, value FROM model_version_tags WHERE version_id = ?"
_ALIASES = "SELECT alias FROM model_aliases WHERE version_id = ? ORDER BY alias"
_FILES = "SELECT path, size, digest FROM model_version_files WHERE version_id = ? ORDER BY path"
_MODEL_STATS = """
SELECT model_id, max(number), count(*) FROM model_versions WHERE deleted_ms IS NULL
GROUP BY model_id
"""
_MODEL_ALIASES = """
SELECT a.model_id, a.alias, v.number FROM model_aliases a
JOIN model_versions v ON v.id = a.version_id ORDER BY a.alias
"""
_MODEL_TAGS = "SELECT model_id, key, value FROM model_tags"
_MODELS = "SELECT id, name, description, created_ms, updated_ms FROM models ORDER BY name"


def resolve(uri: ModelUri) -> tuple[Path, ModelVersion, list[ModelFile]] | None:
    """(home folder, version, files) of what ``uri`` names, or None to ask the full path."""
    settings = sys.modules.get("cairn.core.settings")
    if (
        current_run_id() is not None
        or any(k.upper() == "CAIRN_RUN_ID" for k in os.environ)
        or (settings is not None and settings.get_settings().run_id)
    ):
        return None  # the load is an input of a run: the full path records the edge
    try:
        locations = current_sqlite_locations()
        if locations is None or not locations[1].is_file():
            return None
        home, database = locations
        conn = sqlite3.connect(f"file:{database.resolve()}?mode=ro", uri=True, timeout=5)
    except Exception:
        return None
    try:
        conn.row_factory = sqlite3.Row
        found = _version_id(conn, uri)
        if found is None:
            return None
        row = conn.execute(_VERSION, (found,)).fetchone()
        if row is None or row["deleted_ms"] is not None:
            return None
        tags = {str(k): str(v) for k, v in conn.execute(_TAGS, (found,))}
        aliases = [str(a) for (a,) in conn.execute(_ALIASES, (found,))]
        files = [ModelFile(str(p), int(n), str(d)) for p, n, d in conn.execute(_FILES, (found,))]
        return home, version_from_row(row, tags, aliases), files
    except Exception:  # an older or newer schema, a locked or damaged file: ask the full path
        return None
    finally:
        conn.close()


def _version_id(conn: sqlite3.Connection, uri: ModelUri) -> int | None:
    if uri.alias is not None:
        row = conn.execute(_BY_ALIAS, (uri.name, uri.alias)).fetchone()
    elif uri.version is not None:
        row = conn.execute(_BY_NUMBER, (uri.name, uri.version)).fetchone()
    else:
        row = conn.execute(_LATEST, (uri.name,)).fetchone()
    return None if row is None else int(row[0])


def list_models_lean() -> list[RegisteredModel] | None:
    """``registry.list_models()`` read directly from the SQLite store (``cairn models ls``), or
    None where the full path must answer."""
    try:
        locations = current_sqlite_locations()
        if locations is None or not locations[1].is_file():
            return None
        conn = sqlite3.connect(f"file:{locations[1].resolve()}?mode=ro", uri=True, timeout=5)
    except Exception:
        return None
    try:
        stats = {int(m): (latest, count) for m, latest, count in conn.execute(_MODEL_STATS)}
        aliases: dict[int, dict[str, int]] = {}
        for mid, alias, number in conn.execute(_MODEL_ALIASES):
            aliases.setdefault(int(mid), {})[alias] = int(number)
        tags: dict[int, dict[str, str]] = {}
        for mid, key, value in conn.execute(_MODEL_TAGS):
            tags.setdefault(int(mid), {})[key] = value
        out = []
        for mid, name, description, created, updated in conn.execute(_MODELS):
            latest, count = stats.get(int(mid), (None, 0))
            out.append(
                RegisteredModel(
                    name=name,
                    description=description,
                    created_ms=int(created),
                    updated_ms=int(updated),
                    latest_version=None if latest is None else int(latest),
                    version_count=int(count),
                    aliases=aliases.get(int(mid), {}),
                    tags=tags.get(int(mid), {}),
                )
            )
        return out
    except Exception:  # an older or newer schema, a locked or damaged file: ask the full path
        return None
    finally:
        conn.close()
