"""``MODULE:PIPELINE``: finding a pipeline in the project's code."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from cairn.core.errors import InvalidInputError
from cairn.pipelines.pipeline import Pipeline

MAX_TARGET = 1000


def load_pipeline(target: str, root: Path | None = None) -> Pipeline:
    """The pipeline ``target`` names: ``package.module:name`` or ``path/to/file.py:name``,
    imported with the project root (``root``, default the settings' root) on the path."""
    if not isinstance(target, str) or "\0" in target or len(target) > MAX_TARGET:
        raise InvalidInputError(
            f"a pipeline is named MODULE:PIPELINE (e.g. train:training), got {target!r:.80}"
        )
    module_name, sep, attr = target.strip().rpartition(":")
    if not sep or not module_name or not attr.isidentifier():
        raise InvalidInputError(
            f"a pipeline is named MODULE:PIPELINE (e.g. train:training), got {target!r:.80}"
        )
    if root is None:
        from cairn.core.settings import get_settings

        root = get_settings().root
    if module_name.endswith(".py") or "/" in module_name:
        path = (
            (root / module_name).resolve()
            if not Path(module_name).is_absolute()
            else Path(module_name)
        )
        try:
            relative = path.with_suffix("").relative_to(root.resolve())
        except ValueError:
            raise InvalidInputError(
                f"{module_name} is outside the project ({root}); name a module of the project"
            ) from None
        module_name = ".".join(relative.parts)
    root_text = str(root.resolve())
    if root_text not in sys.path:
        sys.path.insert(0, root_text)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise InvalidInputError(
                f"cannot find module {module_name!r:.200} in {root_text}; run from the project "
                "root and name the module as you would import it (train:training for train.py)"
            ) from None
        raise
    found = getattr(module, attr, None)
    if found is None:
        raise InvalidInputError(f"module {module_name} has no {attr!r}")
    if not isinstance(found, Pipeline):
        raise InvalidInputError(
            f"{module_name}:{attr} is a {type(found).__name__}, not a pipeline; decorate the "
            "function with @cairn.pipeline"
        )
    found.target = f"{module_name}:{attr}"
    return found
