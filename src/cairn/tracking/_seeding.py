"""The seeding mechanism itself, on the standard library alone.

``cairn.seed`` (``seed.py``) is the public face; this module holds what must also run at the
start of a program launched by ``cairn run --seed N``, before the program's first line and
whether or not it ever imports cairn: the start-up hook (``_startup/sitecustomize.py``) loads
this file by its path, without importing the ``cairn`` package (which would cost half a second
in every Python process the command starts, and may not even be importable by its
interpreter), and registers it under this module's name so that a later ``import cairn``
finds the same state. Hence: no imports from cairn here, and nothing but the standard
library at module level.

A library already imported is seeded at once; one installed but not imported yet is seeded
the moment it is imported (a finder on ``sys.meta_path`` runs the seeding right after the
library's own import), so seeding never pays for importing PyTorch or TensorFlow.
"""

from __future__ import annotations

import _thread  # threading's lock without threading's imports (collections, functools)
import os
import random
import sys

# Every Python process of a launched command imports this module before its first line: only
# what seeding needs is imported (threading, typing, importlib.util, logging: 10-20 ms more).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import importlib.machinery
    from collections.abc import Callable, Sequence
    from importlib.abc import Loader as _LoaderBase
    from types import ModuleType
    from typing import Any
else:
    _LoaderBase = object

MAX_SEED = 2**32 - 1  # NumPy's legacy RNG takes seeds below 2**32
ON_IMPORT = " (on import)"


def _warn(message: str, *args: object) -> None:
    import logging

    # cairn's logger by name: core.logging would import the cairn package.
    logging.getLogger("cairn").warning(message, *args)


lock = _thread.RLock()
state: dict[str, Any] = {"seed": None, "seeded": [], "pending": [], "jax_key": None}
#: Called with the seed after every seeding (seed.py records it on the active run).
on_seeded: list[Callable[[int], None]] = []


def is_seed(value: Any) -> bool:
    """Whether ``value`` is a seed every library takes: an int from 0 to 2**32 - 1."""
    return not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= MAX_SEED


def apply(value: int) -> None:
    """Seed ``random`` and every installed library with ``value`` (a valid seed)."""
    random.seed(value)
    seeded = ["random"]
    pending = []
    with lock:
        state.update(seed=value, jax_key=None, pending=[])
    # Seeders run outside the lock: they may import, and imports consult the finder.
    for name, seeder in SEEDERS.items():
        if name in sys.modules:
            seeded += seeder(value)
        elif _findable(name):
            pending.append(name)
    with lock:
        state.update(seeded=seeded, pending=pending)
        if pending:
            _install_finder()
    _notify(value)


def _findable(name: str) -> bool:
    """Whether top-level module ``name`` is installed (``importlib.util.find_spec``, lighter)."""
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is not None and find_spec(name, None) is not None:
            return True
    return False


def _seed_numpy(value: int) -> list[str]:
    import numpy as np

    np.random.seed(value)
    return ["numpy"]


def _seed_tensorflow(value: int) -> list[str]:
    import tensorflow as tf

    tf.random.set_seed(value)
    tf.config.experimental.enable_op_determinism()
    return ["tensorflow", "tensorflow.op_determinism"]


def _seed_jax(value: int) -> list[str]:
    import jax

    state["jax_key"] = jax.random.PRNGKey(value)
    return ["jax"]


def _seed_torch(value: int) -> list[str]:
    import torch

    torch.manual_seed(value)  # CPU and every CUDA device
    flags = ["torch"]
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(value)
        flags.append("torch.cuda")
        # A fact about this process, read rather than set: cuBLAS fixes its workspace when
        # CUDA starts, so only the process's creator can choose it (cairn run does).
        if "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
            _warn(
                "cuBLAS results on the GPU may vary between runs: start Python with "
                "CUBLAS_WORKSPACE_CONFIG=:4096:8 (cairn run sets it for its command)"
            )
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    return [
        *flags,
        "cudnn.deterministic=True",
        "cudnn.benchmark=False",
        "use_deterministic_algorithms(warn_only=True)",
    ]


SEEDERS: dict[str, Callable[[int], list[str]]] = {
    "numpy": _seed_numpy,
    "torch": _seed_torch,
    "tensorflow": _seed_tensorflow,
    "jax": _seed_jax,
}


class _SeedOnImport:
    """Finds nothing itself: wraps the loader of a library waiting to be seeded."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        with lock:
            if fullname not in state["pending"]:
                return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _SeedingLoader(spec.loader, fullname)
                return spec
        return None


class _SeedingLoader(_LoaderBase):
    """Runs the real loader, then seeds the library it loaded."""

    def __init__(self, inner: Any, name: str) -> None:
        self._inner = inner
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        # The module shows its real loader (importlib.resources and friends look at it).
        module.__loader__ = self._inner
        if module.__spec__ is not None:
            module.__spec__.loader = self._inner
        self._inner.exec_module(module)
        _seed_on_import(self._name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


finder = _SeedOnImport()


def _install_finder() -> None:
    if finder not in sys.meta_path:
        sys.meta_path.insert(0, finder)


def _seed_on_import(name: str) -> None:
    with lock:
        if name not in state["pending"]:
            return
        state["pending"] = [p for p in state["pending"] if p != name]
        if not state["pending"] and finder in sys.meta_path:
            sys.meta_path.remove(finder)
        value = state["seed"]
    try:
        flags = SEEDERS[name](value)
    except Exception as exc:  # the import itself succeeded: never break it
        _warn("could not seed %s after its import: %s", name, exc)
        return
    with lock:
        state["seeded"] = [*state["seeded"], *flags]
    _notify(value)


def _notify(value: int) -> None:
    for callback in list(on_seeded):
        callback(value)


def seeded_libraries() -> list[str]:
    """What the last seeding seeded, with the flags it set; then what waits for import."""
    with lock:
        return [*state["seeded"], *(f"{name}{ON_IMPORT}" for name in state["pending"])]
