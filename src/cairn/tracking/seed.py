"""Seeding every random number generator that is installed, in one call.

``seed(n)`` seeds Python's ``random``, NumPy's legacy global RNG, PyTorch (CPU and CUDA, with
cuDNN's deterministic flags and ``use_deterministic_algorithms(True, warn_only=True)``),
TensorFlow (with op determinism) and JAX (a ``PRNGKey`` kept for ``jax_key()``). A library
already imported is seeded at once; one installed but not imported yet is seeded the moment
it is imported (a finder on ``sys.meta_path`` runs the seeding right after the library's own
import), so seeding never pays for importing PyTorch or TensorFlow, and a library imported
after a run started is seeded all the same. The seed and what was seeded are recorded on the
active run as the tags ``cairn.seed`` and ``cairn.seeded`` (a library still waiting for its
import shows as ``torch (on import)``). ``rng()``, ``torch_generator()`` and ``seed_worker``
derive their state from the same seed.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import random
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.core.logging import logger
from cairn.core.settings import get_settings

MAX_SEED = 2**32 - 1  # NumPy's legacy RNG takes seeds below 2**32
ON_IMPORT = " (on import)"

_lock = threading.RLock()
_state: dict[str, Any] = {"seed": None, "seeded": [], "pending": [], "jax_key": None}


def _installed(module: str) -> bool:
    return module in sys.modules or importlib.util.find_spec(module) is not None


def _check(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise InvalidInputError(
            f"a seed is an integer from 0 to {MAX_SEED}, got {value!r}; e.g. cairn.seed(42)"
        )
    return value


def seed(value: int | None = None) -> int:
    """Seed every installed RNG with ``value`` (a fresh random seed if None); return it.

    Libraries not imported yet are seeded when the program imports them.
    """
    if value is None:
        value = get_settings().seed  # set by `cairn run --seed N` for the program it runs
    chosen = _check(value) if value is not None else int.from_bytes(os.urandom(4), "big")
    random.seed(chosen)
    seeded = ["random"]
    pending = []
    with _lock:
        _state.update(seed=chosen, jax_key=None, pending=[])
    # Seeders run outside the lock: they may import, and imports consult the finder.
    for name, seeder in _SEEDERS.items():
        if name in sys.modules:
            seeded += seeder(chosen)
        elif importlib.util.find_spec(name) is not None:
            pending.append(name)
    with _lock:
        _state.update(seeded=seeded, pending=pending)
        if pending:
            _install_finder()
    _record(chosen)
    return chosen


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

    _state["jax_key"] = jax.random.PRNGKey(value)
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
            logger.warning(
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


_SEEDERS: dict[str, Callable[[int], list[str]]] = {
    "numpy": _seed_numpy,
    "torch": _seed_torch,
    "tensorflow": _seed_tensorflow,
    "jax": _seed_jax,
}


class _SeedOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of a library waiting to be seeded."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        with _lock:
            if fullname not in _state["pending"]:
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


class _SeedingLoader(importlib.abc.Loader):
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


_finder = _SeedOnImport()


def _install_finder() -> None:
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def _seed_on_import(name: str) -> None:
    with _lock:
        if name not in _state["pending"]:
            return
        _state["pending"] = [p for p in _state["pending"] if p != name]
        if not _state["pending"] and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
        value = _state["seed"]
    try:
        flags = _SEEDERS[name](value)
    except Exception as exc:  # the import itself succeeded: never break it
        logger.warning("could not seed %s after its import: %s", name, exc)
        return
    with _lock:
        _state["seeded"] = [*_state["seeded"], *flags]
    _record(value)


def _record(value: int) -> None:
    from cairn.tracking.run import active_run

    run = active_run()
    if run is not None:
        run.set_tags({"cairn.seed": value, "cairn.seeded": ",".join(seeded_libraries())})


def current_seed() -> int | None:
    """The seed last applied by ``seed``, or None if nothing was seeded yet."""
    with _lock:
        return _state["seed"]  # type: ignore[no-any-return]


def seeded_libraries() -> list[str]:
    """What the last ``seed`` call seeded, with the flags it set; then what waits for import."""
    with _lock:
        return [*_state["seeded"], *(f"{name}{ON_IMPORT}" for name in _state["pending"])]


def ensure_seeded() -> int:
    """Return the current seed, seeding with a fresh random one first if there is none."""
    current = current_seed()
    return seed() if current is None else current


def rng() -> Any:
    """A ``numpy.random.Generator`` seeded from the current seed (seeding first if needed)."""
    import numpy as np

    return np.random.default_rng(ensure_seeded())


def torch_generator() -> Any:
    """A ``torch.Generator`` seeded from the current seed, for a DataLoader's ``generator=``."""
    import torch

    generator = torch.Generator()
    generator.manual_seed(ensure_seeded())
    return generator


def seed_worker(worker_id: int) -> None:
    """A DataLoader ``worker_init_fn``: seeds ``random`` and NumPy from the worker's torch seed.

    PyTorch gives each worker ``base_seed + worker_id``; with ``generator=torch_generator()``
    the base seed, and so every worker's stream, is the same on every run.
    """
    import torch

    worker_seed = torch.initial_seed() % 2**32
    random.seed(worker_seed)
    if _installed("numpy"):
        import numpy as np

        np.random.seed(worker_seed)


def jax_key() -> Any:
    """The ``jax.random.PRNGKey`` made by the last ``seed`` call (None without JAX)."""
    ensure_seeded()
    with _lock:
        return _state["jax_key"]
