"""Where steps run: in this process, on local processes, or on a Dask cluster.

An executor is any object with ``submit(task) -> concurrent.futures.Future`` and ``close()``
(``Executor``); ``executor_for`` makes one from its name: ``inline``, ``processes`` (the
default), ``dask`` (a local cluster) or ``dask=tcp://host:8786`` (an existing scheduler).
"""

from __future__ import annotations

from cairn.pipelines.executors.base import Executor, executor_for

__all__ = ["Executor", "executor_for"]
