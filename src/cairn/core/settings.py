"""One typed settings object: code arguments, then ``CAIRN_*`` variables, then ``cairn.yaml``.

This is the only module of cairn that reads the environment. ``get_settings()`` builds the
settings once and caches them; ``configure(**overrides)`` sets code arguments (highest
precedence) and drops the cache. The project root is found by walking up from the working
directory like git: the first folder holding ``.cairn/`` or ``cairn.yaml``, else the enclosing
git work tree, else the working directory itself.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from cairn.core import context
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


class CaptureSettings(BaseModel):
    """Switches for what a run records without being asked."""

    model_config = ConfigDict(extra="forbid")

    params: bool = Field(True, description="record config.params as the run's params")
    seed: bool = Field(
        True, description="seed a run whose program never called cairn.seed with a random seed"
    )
    git: bool = Field(
        True, description="record git commit, branch, remote, dirty flag and uncommitted diff"
    )
    environment: bool = Field(
        True, description="record Python, platform, hardware, command line and entry script"
    )
    packages: bool = Field(True, description="record installed packages (cairn/packages.txt)")
    output: bool = Field(True, description="mirror stdout and stderr to cairn/output.log")
    system_metrics: bool = Field(
        True, description="sample CPU, memory, disk, network and GPU use as system/* metrics"
    )
    system_metrics_interval: float = Field(
        10.0, ge=0.5, le=3600, description="seconds between system metric samples"
    )
    untracked_max_kb: int = Field(
        512, ge=0, description="untracked files larger than this are left out of the diff"
    )


class Settings(BaseSettings):
    """cairn's settings and the project's params."""

    model_config = SettingsConfigDict(
        env_prefix="CAIRN_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    root: Path = Field(default_factory=find_root, description="project root")
    home: Path | None = Field(None, description="folder of cairn.db and artifacts/")
    store: str | None = Field(None, description="metadata store URL (sqlite:/// or postgresql://)")
    store_sync: Literal["normal", "full"] = Field(
        "normal",
        description=(
            "SQLite durability: normal (WAL; a power cut may lose the last commits, never"
            " corrupts) or full (every commit is on disk before it returns)"
        ),
    )
    artifacts: str | None = Field(None, description="artifact store URL (a folder or s3://...)")
    artifacts_options: dict[str, Any] = Field(
        default_factory=dict, description="fsspec storage options for the artifact store"
    )
    experiment: str = Field("default", description="experiment of runs that name none")
    log_format: Literal["auto", "rich", "json", "plain"] = "auto"
    flush_interval: float = Field(1.0, gt=0, le=60, description="metric flush period, seconds")
    capture: CaptureSettings = Field(default_factory=CaptureSettings)
    seed: int | None = Field(
        None, ge=0, le=2**32 - 1, description="seed for cairn.seed() and runs (cairn run --seed)"
    )
    run_id: str | None = Field(
        None, description="a run started elsewhere (cairn run) that this process logs to"
    )
    params: Annotated[
        Params, PlainValidator(_to_params), PlainSerializer(lambda p: p.to_dict())
    ] = Field(default_factory=lambda: Params(is_root=True), description="the project's params")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        root = _root_from(init_settings, env_settings)
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=root / CONFIG_FILE)
        return init_settings, env_settings, yaml_source

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


def _root_from(*sources: PydanticBaseSettingsSource) -> Path:
    for source in sources:
        value = source().get("root")
        if value:
            return Path(value)
    return find_root()


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
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(
            f"invalid cairn settings ({problems}); check cairn.yaml, the CAIRN_* environment "
            "variables and cairn.configure() arguments"
        ) from None
    except (OSError, ValueError, yaml.YAMLError) as exc:
        variable = _unparsable_variable(exc)
        if variable is not None:
            raise ConfigError(
                f"the environment variable {variable} is not valid JSON ({exc.__cause__}); set "
                f'it to a JSON object, e.g. {variable}=\'{{"key": "value"}}\', or unset it'
            ) from None
        raise ConfigError(f"cannot read cairn settings: {exc}; fix {CONFIG_FILE}") from None


def _unparsable_variable(exc: BaseException) -> str | None:
    """``CAIRN_<FIELD>`` when ``exc`` is pydantic-settings failing to parse that variable's
    JSON (it names the field and the environment source only in its message)."""
    match = re.fullmatch(
        r'error parsing value for field "(\w+)" from source "EnvSettingsSource"', str(exc)
    )
    return None if match is None else f"CAIRN_{match.group(1).upper()}"
