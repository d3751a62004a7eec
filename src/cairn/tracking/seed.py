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
derive their state from the same seed. ``cairn run --seed N`` applies the same seeding at the
start of every Python process of its command, before the program's first line (see
``_startup/sitecustomize.py``).
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from typing import Any

from cairn.core.errors import InvalidInputError

# The mechanism lives in a module of its own, on the standard library alone, because
# `cairn run --seed N` also runs it at the start of the program, before cairn is imported.
from cairn.tracking import _seeding
from cairn.tracking._seeding import MAX_SEED, ON_IMPORT, seeded_libraries

__all__ = [
    "MAX_SEED",
    "ON_IMPORT",
    "current_seed",
    "ensure_seeded",
    "jax_key",
    "rng",
    "seed",
    "seed_worker",
    "seeded_libraries",
    "torch_generator",
]


def _check(value: Any) -> int:
    if not _seeding.is_seed(value):
        raise InvalidInputError(
            f"a seed is an integer from 0 to {MAX_SEED}, got {value!r}; e.g. cairn.seed(42)"
        )
    return int(value)


def seed(value: int | None = None) -> int:
    """Seed every installed RNG with ``value`` (a fresh random seed if None); return it.

    Libraries not imported yet are seeded when the program imports them.
    """
    if value is None:
        # Imported here: the package binds this function eagerly, and settings need pydantic.
        from cairn.core.settings import get_settings

        value = get_settings().seed  # set by `cairn run --seed N` for the program it runs
    chosen = _check(value) if value is not None else int.from_bytes(os.urandom(4), "big")
    _seeding.apply(chosen)
    return chosen


def _record(value: int) -> None:
    from cairn.tracking.run import active_run

    run = active_run()
    if run is not None:
        run.set_tags({"cairn.seed": value, "cairn.seeded": ",".join(seeded_libraries())})


if _record not in _seeding.on_seeded:
    _seeding.on_seeded.append(_record)


def current_seed() -> int | None:
    """The seed last applied by ``seed``, or None if nothing was seeded yet."""
    with _seeding.lock:
        return _seeding.state["seed"]  # type: ignore[no-any-return]


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
    if "numpy" in sys.modules or importlib.util.find_spec("numpy") is not None:
        import numpy as np

        np.random.seed(worker_seed)


def jax_key() -> Any:
    """The ``jax.random.PRNGKey`` made by the last ``seed`` call (None without JAX)."""
    ensure_seeded()
    with _seeding.lock:
        return _seeding.state["jax_key"]
