"""Where a project's cairn lives: its root (found by walking up like git) and its home.

Kept apart from ``settings`` (and free of pydantic) so that start-up-critical paths can find
the store without building the settings; ``settings`` uses the same functions. Besides
``settings``, this is the one module that reads cairn's environment variables, for the three
that locate a SQLite store, and a test keeps its answer equal to the settings'.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CONFIG_FILE = "cairn.yaml"
HOME_DIR = ".cairn"


def find_root(start: Path | None = None) -> Path:
    """Return the project root for ``start`` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    candidates = [here, *here.parents]
    for folder in candidates:
        if (folder / HOME_DIR).is_dir() or (folder / CONFIG_FILE).is_file():
            return folder
    for folder in candidates:
        if (folder / ".git").exists():
            return folder
    return here


def sqlite_locations() -> tuple[Path, Path] | None:
    """The home folder and SQLite database the settings would name, found without building
    them, or None where only the full settings can tell (another store, an unusual value).

    Follows the settings' precedence for the three values involved: ``CAIRN_ROOT``,
    ``CAIRN_HOME`` and ``CAIRN_STORE`` (any case), then ``home:`` and ``store:`` in
    ``cairn.yaml``, then the defaults. A test keeps it equal to ``Settings``.
    """
    env = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith("CAIRN_")}
    root = Path(env["CAIRN_ROOT"]) if env.get("CAIRN_ROOT") else find_root()
    config: dict[str, object] = {}
    config_file = root / CONFIG_FILE
    if config_file.is_file():
        import yaml

        loaded = yaml.safe_load(config_file.read_text(encoding="utf-8"))
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict) or "root" in loaded:
            return None
        config = loaded
    if env.get("CAIRN_SERVER") or config.get("server"):
        return None  # client mode: the server holds the store
    home = env.get("CAIRN_HOME") or config.get("home")
    store = env.get("CAIRN_STORE") or config.get("store")
    if (home is not None and not isinstance(home, str)) or (
        store is not None and not isinstance(store, str)
    ):
        return None
    home_dir = Path(home) if home else root / HOME_DIR
    database = sqlite_file(home_dir, store)
    return None if database is None else (home_dir, database)


def current_sqlite_locations() -> tuple[Path, Path] | None:
    """(home, SQLite file): from the settings where they are built already (they may hold
    ``cairn.configure`` arguments), else found as they would find them (``sqlite_locations``)."""
    settings = sys.modules.get("cairn.core.settings")
    if settings is None:
        return sqlite_locations()
    current = settings.get_settings()
    if current.server is not None:
        return None  # client mode: the server holds the store
    database = sqlite_file(current.home_dir, current.store)
    return None if database is None else (current.home_dir, database)


def current_sqlite_file() -> Path | None:
    """The SQLite file of ``current_sqlite_locations``, or None."""
    locations = current_sqlite_locations()
    return None if locations is None else locations[1]


def sqlite_file(home_dir: Path, store: str | None) -> Path | None:
    """The SQLite database a store URL names (the home's ``cairn.db`` when there is none), or
    None for another database or a URL with options."""
    if not store:
        return home_dir / "cairn.db"
    prefix = "sqlite:///"
    if not store.startswith(prefix) or "?" in store:
        return None
    return Path(store[len(prefix) :])
