"""The closed loop: drift, a new dataset version or a schedule retrains a model through its
pipeline; the challenger is validated, scored beside the champion on the same held-out data,
promoted by rule (or refused with an alert), and every ``cairn serve`` following the alias
swaps it in.

    cairn.loop.set_policy("wine", pipeline="pipeline:training", on_alerts=["wine-drift"],
                          holdout="wine-holdout", target="target",
                          require="accuracy >= champion.accuracy")
    # then: cairn scheduler

Names are imported on first use (module ``__getattr__``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from cairn.loop.audit import ModelHistory, describe, model_history
    from cairn.loop.policy import (
        RetrainPolicy,
        StoredPolicy,
        get_policy,
        list_policies,
        remove_policy,
        set_policy,
    )
    from cairn.loop.retraining import Retraining, get_retraining, list_retrainings
    from cairn.loop.runner import Retrainer, request_retraining, run_retraining

_LAZY: dict[str, str] = {
    "ModelHistory": "cairn.loop.audit",
    "Retrainer": "cairn.loop.runner",
    "RetrainPolicy": "cairn.loop.policy",
    "Retraining": "cairn.loop.retraining",
    "StoredPolicy": "cairn.loop.policy",
    "describe": "cairn.loop.audit",
    "get_policy": "cairn.loop.policy",
    "get_retraining": "cairn.loop.retraining",
    "list_policies": "cairn.loop.policy",
    "list_retrainings": "cairn.loop.retraining",
    "model_history": "cairn.loop.audit",
    "remove_policy": "cairn.loop.policy",
    "request_retraining": "cairn.loop.runner",
    "run_retraining": "cairn.loop.runner",
    "set_policy": "cairn.loop.policy",
}

__all__ = [
    "ModelHistory",
    "RetrainPolicy",
    "Retrainer",
    "Retraining",
    "StoredPolicy",
    "describe",
    "get_policy",
    "get_retraining",
    "list_policies",
    "list_retrainings",
    "model_history",
    "remove_policy",
    "request_retraining",
    "run_retraining",
    "set_policy",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
