"""The seeding mechanism itself, on the standard library alone.

``cairn.seed`` (``seed.py``) is the public face; this module holds what must also run at the
start of a program launched by ``cairn run --seed N``, before the program's first line and
whether or not it ever imports cairn: the start-up hook (``_startup/sitecustomize.py``) loads
this file by its path, without importing the ``cairn`` package (which would cost half a second
in every Python process the command starts, and may not even be importable by its
interpreter), and registers it under this module's name so that a later ``import cairn``
finds the same state. Hence: nothing but the standard library at module level, and of cairn
only ``core/on_import.py`` (itself standard library only), which the hook loads by its path
first; the ``from ... import`` form takes it from ``sys.modules`` without importing the
packages above it.

A library already imported is seeded at once; one installed but not imported yet is seeded
the moment it is imported (``core.on_import`` runs the seeding right after the library's own
import), so seeding never pays for importing PyTorch or TensorFlow.
"""

from __future__ import annotations

import _thread  # threading's lock without threading's imports (collections, functools)
import os
import random
import sys

from cairn.core.on_import import cancel, is_installed, when_imported

# Every Python process of a launched command imports this module before its first line: only
# what seeding needs is imported (threading, typing, importlib.util, logging: 10-20 ms more).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

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
        elif is_installed(name):
            cancel(name, _seed_on_import)
            pending.append(name)
    with lock:
        state.update(seeded=seeded, pending=pending)
    for name in pending:
        # Once per library: a later seeding changes the seed, not what waits for the import.
        when_imported(name, _seed_on_import)
    _notify(value)


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


def _seed_on_import(module: ModuleType) -> None:
    name = module.__name__
    with lock:
        if name not in state["pending"]:
            return
        state["pending"] = [p for p in state["pending"] if p != name]
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
