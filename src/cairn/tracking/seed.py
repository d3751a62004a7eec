"""Seeding every random number generator that is installed, in one call.

``seed(n)`` seeds Python's ``random``, NumPy's legacy global RNG, PyTorch (CPU and CUDA, with
cuDNN's deterministic flags and ``use_deterministic_algorithms(True, warn_only=True)``),
TensorFlow (with op determinism) and JAX (a ``PRNGKey`` kept for ``jax_key()``), importing
each only if it is installed. The seed and what was seeded are recorded on the active run as
the tags ``cairn.seed`` and ``cairn.seeded``. ``rng()``, ``torch_generator()`` and
``seed_worker`` derive their state from the same seed.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
import threading
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.core.logging import logger
from cairn.core.settings import get_settings

MAX_SEED = 2**32 - 1  # NumPy's legacy RNG takes seeds below 2**32

_lock = threading.Lock()
_state: dict[str, Any] = {"seed": None, "seeded": [], "jax_key": None}


def _installed(module: str) -> bool:
    return module in sys.modules or importlib.util.find_spec(module) is not None


def _check(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise InvalidInputError(
            f"a seed is an integer from 0 to {MAX_SEED}, got {value!r}; e.g. cairn.seed(42)"
        )
    return value


def seed(value: int | None = None, *, only_imported: bool = False) -> int:
    """Seed every installed RNG with ``value`` (a fresh random seed if None); return it.

    ``only_imported`` limits seeding to libraries the program has already imported (what a
    run does at start, so that starting a run never pays for importing PyTorch).
    """
    if value is None:
        value = get_settings().seed  # set by `cairn run --seed N` for the program it runs
    chosen = _check(value) if value is not None else int.from_bytes(os.urandom(4), "big")
    wanted = (lambda m: m in sys.modules) if only_imported else _installed
    seeded = ["random"]
    random.seed(chosen)
    if wanted("numpy"):
        import numpy as np

        np.random.seed(chosen)
        seeded.append("numpy")
    if wanted("torch"):
        seeded += _seed_torch(chosen)
    if wanted("tensorflow"):
        import tensorflow as tf

        tf.random.set_seed(chosen)
        tf.config.experimental.enable_op_determinism()
        seeded += ["tensorflow", "tensorflow.op_determinism"]
    jax_key = None
    if wanted("jax"):
        import jax

        jax_key = jax.random.PRNGKey(chosen)
        seeded.append("jax")
    with _lock:
        _state.update(seed=chosen, seeded=seeded, jax_key=jax_key)
    _record(chosen, seeded)
    return chosen


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


def _record(value: int, seeded: list[str]) -> None:
    from cairn.tracking.run import active_run

    run = active_run()
    if run is not None:
        run.set_tags({"cairn.seed": value, "cairn.seeded": ",".join(seeded)})


def current_seed() -> int | None:
    """The seed last applied by ``seed``, or None if nothing was seeded yet."""
    with _lock:
        return _state["seed"]  # type: ignore[no-any-return]


def seeded_libraries() -> list[str]:
    """What the last ``seed`` call seeded, with the flags it set."""
    with _lock:
        return list(_state["seeded"])


def ensure_seeded(*, only_imported: bool = False) -> int:
    """Return the current seed, seeding with a fresh random one first if there is none."""
    current = current_seed()
    return seed(only_imported=only_imported) if current is None else current


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
