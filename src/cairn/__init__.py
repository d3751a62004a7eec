"""cairn: self-hosted MLOps in one pip install.

``import cairn`` is light: every name, the logger included, is imported on first
use (module ``__getattr__``), so neither SQLAlchemy nor pandas load until they are needed.

    import cairn

    with cairn.run(params={"lr": 0.01}) as run:
        df = cairn.data.load("customers")  # recorded as an input of the run
        for step in range(100):
            cairn.log({"loss": 1 / (step + 1)})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn import data, integrations, pipelines, registry, serving, validation
    from cairn import monitoring as monitor
    from cairn.core.errors import CairnError, FilterError, NotFoundError, RunNotFoundError
    from cairn.core.logging import logger
    from cairn.core.settings import Settings, configure
    from cairn.integrations import autolog
    from cairn.pipelines import pipeline, step
    from cairn.registry import (
        LoadedModel,
        ModelVersion,
        PythonModel,
        load_model,
        log_model,
        register_model,
    )
    from cairn.tracking import (
        Run,
        RunRecord,
        active_run,
        delete_runs,
        download_artifacts,
        end_run,
        get_run,
        log,
        log_artifact,
        log_dict,
        log_figure,
        log_params,
        log_text,
        rng,
        search_runs,
        seed,
        seed_worker,
        set_tags,
        start_run,
        torch_generator,
    )
    from cairn.tracking import start_run as run
    from cairn.validation import validate

    config: Settings

from cairn._version import __version__

_LAZY: dict[str, tuple[str, str]] = {
    "CairnError": ("cairn.core.errors", "CairnError"),
    "FilterError": ("cairn.core.errors", "FilterError"),
    "NotFoundError": ("cairn.core.errors", "NotFoundError"),
    "RunNotFoundError": ("cairn.core.errors", "RunNotFoundError"),
    "Run": ("cairn.tracking", "Run"),
    "RunRecord": ("cairn.tracking", "RunRecord"),
    "active_run": ("cairn.tracking", "active_run"),
    "configure": ("cairn.core.settings", "configure"),
    "LoadedModel": ("cairn.registry", "LoadedModel"),
    "ModelVersion": ("cairn.registry", "ModelVersion"),
    "PythonModel": ("cairn.registry", "PythonModel"),
    "load_model": ("cairn.registry", "load_model"),
    "pipeline": ("cairn.pipelines.pipeline", "pipeline"),
    "step": ("cairn.pipelines.step", "step"),
    "log_model": ("cairn.registry", "log_model"),
    "register_model": ("cairn.registry", "register_model"),
    "autolog": ("cairn.integrations.frameworks", "autolog"),
    "delete_runs": ("cairn.tracking", "delete_runs"),
    "download_artifacts": ("cairn.tracking", "download_artifacts"),
    "end_run": ("cairn.tracking", "end_run"),
    "get_run": ("cairn.tracking", "get_run"),
    "log": ("cairn.tracking", "log"),
    "log_artifact": ("cairn.tracking", "log_artifact"),
    "log_dict": ("cairn.tracking", "log_dict"),
    "log_figure": ("cairn.tracking", "log_figure"),
    "log_params": ("cairn.tracking", "log_params"),
    "log_text": ("cairn.tracking", "log_text"),
    "logger": ("cairn.core.logging", "logger"),
    "run": ("cairn.tracking", "start_run"),
    "rng": ("cairn.tracking", "rng"),
    "search_runs": ("cairn.tracking", "search_runs"),
    "seed": ("cairn.tracking.seed", "seed"),  # the package attribute may be the submodule
    "seed_worker": ("cairn.tracking", "seed_worker"),
    "set_tags": ("cairn.tracking", "set_tags"),
    "start_run": ("cairn.tracking", "start_run"),
    "torch_generator": ("cairn.tracking", "torch_generator"),
    "validate": ("cairn.validation", "validate"),
}

__all__ = [
    "CairnError",
    "FilterError",
    "LoadedModel",
    "ModelVersion",
    "NotFoundError",
    "PythonModel",
    "Run",
    "RunNotFoundError",
    "RunRecord",
    "__version__",
    "active_run",
    "autolog",
    "config",
    "configure",
    "data",
    "delete_runs",
    "download_artifacts",
    "end_run",
    "get_run",
    "integrations",
    "load_model",
    "log",
    "log_artifact",
    "log_dict",
    "log_figure",
    "log_model",
    "log_params",
    "log_text",
    "logger",
    "monitor",
    "pipeline",
    "pipelines",
    "register_model",
    "registry",
    "rng",
    "run",
    "search_runs",
    "seed",
    "seed_worker",
    "serving",
    "set_tags",
    "start_run",
    "step",
    "torch_generator",
    "validate",
    "validation",
]


def __getattr__(name: str) -> Any:
    if name == "config":
        # Not cached: cairn.configure() replaces the settings object.
        from cairn.core.settings import get_settings

        return get_settings()
    if name in (
        "data",
        "integrations",
        "pipelines",
        "registry",
        "serving",
        "validation",
    ):  # namespaces: cairn.data.load("customers")
        import importlib

        return importlib.import_module(f"cairn.{name}")
    if name == "monitor":  # cairn.monitor.drift(...): the monitoring capability
        import importlib

        return importlib.import_module("cairn.monitoring")
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'cairn' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
