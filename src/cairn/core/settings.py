"""One typed settings object: code arguments, then ``CAIRN_*`` variables, then ``cairn.yaml``.

This is the only module of cairn that reads the environment. ``get_settings()`` builds the
settings once and caches them; ``configure(**overrides)`` sets code arguments (highest
precedence) and drops the cache. The project root is found by walking up from the working
directory like git: the first folder holding ``.cairn/`` or ``cairn.yaml``, else the enclosing
git work tree, else the working directory itself.

Built on the standard library: every training script builds the settings before its first
point, and pydantic with pydantic-settings cost a third of that start (~0.3 s). The rules
are theirs (lax conversion of strings, nested ``__`` variables, JSON for mappings, deep merge
of the sources, unknown keys refused), checked in ``_settings_fields``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cairn.core import context
from cairn.core._settings_fields import (
    FieldSpec,
    Problems,
    bounded,
    check_model,
    literal,
    nested,
    to_bool,
    to_dict,
    to_float,
    to_int,
    to_path,
    to_str,
)
from cairn.core.errors import ConfigError
from cairn.core.home import CONFIG_FILE, HOME_DIR, find_root


class Params(Mapping[str, Any]):
    """The project's parameters, read as attributes (``config.params.optim.lr``) or keys.

    The root object shows the active run's effective params while a run that overrides them
    is active (``cairn.run(params=...)``), and the configured ones otherwise.
    """

    __slots__ = ("_data", "_is_root")

    def __init__(self, data: Mapping[str, Any] | None = None, *, is_root: bool = False) -> None:
        self._data: dict[str, Any] = dict(data or {})
        self._is_root = is_root

    def _effective(self) -> Mapping[str, Any]:
        if self._is_root:
            override = context.params_override()
            if override is not None:
                return override
        return self._data

    def __getitem__(self, key: str) -> Any:
        value = self._effective()[key]
        return Params(value) if isinstance(value, Mapping) else value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            known = ", ".join(sorted(self._effective())) or "none"
            raise AttributeError(
                f"no param {name!r} (known: {known}); add it under 'params:' in {CONFIG_FILE} "
                "or pass it with cairn.run(params={...})"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._effective())

    def __len__(self) -> int:
        return len(self._effective())

    def __repr__(self) -> str:
        return f"Params({dict(self._effective())!r})"

    def to_dict(self) -> dict[str, Any]:
        """Return a plain (deep) copy of the effective params."""
        return _plain(self._effective())


def _plain(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def _to_params(value: Any) -> Params:
    if isinstance(value, Params):
        return Params(value._data, is_root=True)
    if isinstance(value, Mapping):
        return Params(value, is_root=True)
    raise ValueError(f"params must be a mapping of names to values, got {type(value).__name__}")


@dataclass
class CaptureSettings:
    """Switches for what a run records without being asked (see ``CAPTURE_FIELDS``)."""

    params: bool = True
    seed: bool = True
    git: bool = True
    environment: bool = True
    packages: bool = True
    output: bool = True
    system_metrics: bool = True
    system_metrics_interval: float = 10.0
    untracked_max_kb: int = 512
    autolog: bool = True


def _spec(convert: Any, default: Any, description: str, *, nullable: bool = False) -> FieldSpec:
    factory = default if callable(default) else (lambda: default)
    return FieldSpec(convert, factory, nullable, description)


CAPTURE_FIELDS: dict[str, FieldSpec] = {
    "params": _spec(to_bool, True, "record config.params as the run's params"),
    "seed": _spec(
        to_bool, True, "seed a run whose program never called cairn.seed with a random seed"
    ),
    "git": _spec(
        to_bool, True, "record git commit, branch, remote, dirty flag and uncommitted diff"
    ),
    "environment": _spec(
        to_bool, True, "record Python, platform, hardware, command line and entry script"
    ),
    "packages": _spec(to_bool, True, "record installed packages (cairn/packages.txt)"),
    "output": _spec(to_bool, True, "mirror stdout and stderr to cairn/output.log"),
    "system_metrics": _spec(
        to_bool, True, "sample CPU, memory, disk, network and GPU use as system/* metrics"
    ),
    "system_metrics_interval": _spec(
        bounded(to_float, ge=0.5, le=3600), 10.0, "seconds between system metric samples"
    ),
    "untracked_max_kb": _spec(
        bounded(to_int, ge=0), 512, "untracked files larger than this are left out of the diff"
    ),
    "autolog": _spec(
        to_bool,
        True,
        "under cairn run, autolog the frameworks the program imports (cairn.autolog)",
    ),
}


@dataclass
class Settings:
    """cairn's settings and the project's params (see ``FIELDS`` for what each one means)."""

    root: Path
    home: Path | None
    store: str | None
    store_sync: Literal["normal", "full"]
    artifacts: str | None
    artifacts_options: dict[str, Any]
    experiment: str
    log_format: Literal["auto", "rich", "json", "plain"]
    flush_interval: float
    capture: CaptureSettings
    seed: int | None
    run_id: str | None
    params: Params = field(default_factory=lambda: Params(is_root=True))
    monitoring: dict[str, Any] = field(default_factory=dict)
    server: str | None = None
    token: str | None = field(default=None, repr=False)  # a secret: never in a repr

    @property
    def home_dir(self) -> Path:
        """The folder holding ``cairn.db`` and ``artifacts/``."""
        return self.home if self.home is not None else self.root / HOME_DIR

    @property
    def store_url(self) -> str:
        """The metadata store URL, defaulting to SQLite in the home folder."""
        return self.store or f"sqlite:///{self.home_dir / 'cairn.db'}"

    @property
    def artifacts_url(self) -> str:
        """The artifact store URL, defaulting to ``artifacts/`` in the home folder."""
        return self.artifacts or str(self.home_dir / "artifacts")


FIELDS: dict[str, FieldSpec] = {
    "root": _spec(to_path, find_root, "project root"),
    "home": _spec(to_path, None, "folder of cairn.db and artifacts/", nullable=True),
    "store": _spec(to_str, None, "metadata store URL (sqlite:/// or postgresql://)", nullable=True),
    "store_sync": _spec(
        literal("normal", "full"),
        "normal",
        "SQLite durability: normal (WAL; a power cut may lose the last commits, never"
        " corrupts) or full (every commit is on disk before it returns)",
    ),
    "artifacts": _spec(to_str, None, "artifact store URL (a folder or s3://...)", nullable=True),
    "artifacts_options": _spec(to_dict, dict, "fsspec storage options for the artifact store"),
    "experiment": _spec(to_str, "default", "experiment of runs that name none"),
    "log_format": _spec(literal("auto", "rich", "json", "plain"), "auto", "log output format"),
    "flush_interval": _spec(bounded(to_float, gt=0, le=60), 1.0, "metric flush period, seconds"),
    "capture": _spec(
        nested(CAPTURE_FIELDS, "capture", CaptureSettings, CaptureSettings),
        CaptureSettings,
        "what a run records without being asked",
    ),
    "seed": _spec(
        bounded(to_int, ge=0, le=2**32 - 1),
        None,
        "seed for cairn.seed() and runs (cairn run --seed)",
        nullable=True,
    ),
    "run_id": _spec(
        to_str,
        None,
        "a run started elsewhere (cairn run) that this process logs to",
        nullable=True,
    ),
    "params": _spec(_to_params, lambda: Params(is_root=True), "the project's params"),
    # Checked here only as a mapping: cairn.monitoring.alerts validates its rules and webhooks.
    "monitoring": _spec(to_dict, dict, "alert rules and webhooks (see cairn.monitoring.alerts)"),
    "server": _spec(
        to_str,
        None,
        "a cairn server URL (http://host:port): client mode, no store credentials needed",
        nullable=True,
    ),
    "token": _spec(to_str, None, "the API token for the cairn server", nullable=True),
}
# Settings whose variable holds JSON, and whose parts can be set as CAIRN_<NAME>__<PART>.
_MAPPINGS = ("artifacts_options", "capture", "monitoring", "params")


def _sources(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``cairn.yaml``, the environment and the code, deep-merged in that order."""
    environment = _environment()
    root = _root_from(overrides, environment)
    return _deep_update(_read_config(root / CONFIG_FILE), environment, dict(overrides))


def _root_from(*sources: Mapping[str, Any]) -> Path:
    for source in sources:
        value = source.get("root")
        if value and isinstance(value, (str, os.PathLike)):
            return Path(value)
    return find_root()


def _environment() -> dict[str, Any]:
    """The ``CAIRN_*`` variables (any case) of known settings, mappings read as JSON."""
    env = {k.lower(): v for k, v in os.environ.items() if k[:6].lower() == "cairn_"}
    values: dict[str, Any] = {}
    for name in FIELDS:
        key = f"cairn_{name}"
        raw = env.get(key)
        if name not in _MAPPINGS:
            if raw is not None:
                values[name] = raw
            continue
        parts = _exploded(env, f"{key}__", decode_deep=name == "artifacts_options")
        if raw is None:
            if parts:
                values[name] = parts
            continue
        try:
            value = json.loads(raw)
        except ValueError as exc:
            variable = f"CAIRN_{name.upper()}"
            raise ConfigError(
                f"the environment variable {variable} is not valid JSON ({exc}); set "
                f'it to a JSON object, e.g. {variable}=\'{{"key": "value"}}\', or unset it'
            ) from None
        if value is not None:  # JSON null: as if the variable were not set
            values[name] = _deep_update(value, parts) if isinstance(value, dict) else value
    return values


def _exploded(env: Mapping[str, str], prefix: str, *, decode_deep: bool) -> dict[str, Any]:
    """``PREFIX<a>__<b>=v`` variables as ``{"a": {"b": "v"}}`` (names lower-cased).

    Values stay text, except (``decode_deep``, as pydantic-settings does for a plain dict)
    those two or more levels down, read as JSON where they are JSON.
    """
    result: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(prefix):
            continue
        *keys, last = name[len(prefix) :].split("__")
        target: Any = result
        for key in keys:
            if isinstance(target, dict):
                target = target.setdefault(key, {})
        if isinstance(target, dict):
            target[last] = _json_or_text(value) if decode_deep and keys and value else value
    return result


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _read_config(path: Path) -> dict[str, Any]:
    """The settings in ``cairn.yaml`` (none when there is no such file)."""
    if not path.is_file():
        return {}
    import yaml  # only a project with a cairn.yaml pays for it

    try:
        with path.open(encoding="utf-8") as file:
            loaded = yaml.safe_load(file)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read cairn settings: {exc}; fix {CONFIG_FILE}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"cannot read cairn settings: {path} holds a {type(loaded).__name__}, not a "
            f"mapping of setting names to values; fix {CONFIG_FILE}"
        )
    return loaded


def _deep_update(base: dict[str, Any], *updates: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for update in updates:
        for key, value in update.items():
            if isinstance(merged.get(key), dict) and isinstance(value, dict):
                merged[key] = _deep_update(merged[key], value)
            else:
                merged[key] = value
    return merged


_lock = threading.Lock()
_overrides: dict[str, Any] = {}
_cached: Settings | None = None


def get_settings() -> Settings:
    """Return the settings, building them on first use."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = _build(_overrides)
        return _cached


def configure(**overrides: Any) -> Settings:
    """Set settings from code (highest precedence) and return the new settings.

    ``configure()`` with no arguments drops earlier code arguments and re-reads the
    environment and ``cairn.yaml``.
    """
    global _cached
    merged = {**_overrides, **overrides} if overrides else {}
    settings = _build(merged)
    with _lock:
        _overrides.clear()
        _overrides.update(merged)
        _cached = settings
    return settings


def _build(overrides: Mapping[str, Any]) -> Settings:
    try:
        values = _sources(overrides)
        problems: Problems = []
        checked = check_model(FIELDS, values, "", problems)
    except OSError as exc:  # the working directory is gone, cairn.yaml unreadable
        raise ConfigError(f"cannot read cairn settings: {exc}; fix {CONFIG_FILE}") from None
    if problems:
        raise ConfigError(
            f"invalid cairn settings ({'; '.join(f'{loc}: {msg}' for loc, msg in problems)}); "
            "check cairn.yaml, the CAIRN_* environment variables and cairn.configure() "
            "arguments"
        )
    return Settings(**checked)
