"""``cairn.PythonModel``: anything that predicts, as a model version.

Subclass it, give ``predict(inputs)`` (and ``predict_proba`` if it has one), and optionally
``load(context)`` to open files bundled with the model: name them in ``artifacts`` (name ->
local path of a file or folder) and they travel with the version; ``context.artifacts[name]``
is their path once loaded. Good for pre- and post-processing around a model, rules, ensembles,
and constant fallbacks.

    class Threshold(cairn.PythonModel):
        def predict(self, inputs):
            return (inputs["score"] > 0.5).astype(int)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class ModelContext:
    """What a PythonModel's ``load`` receives: its bundled files and the version's metadata."""

    artifacts: dict[str, Path] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


class PythonModel:
    """Base class of user-defined models: override ``predict`` (and optionally ``load``)."""

    artifacts: ClassVar[Mapping[str, str]] = {}

    def load(self, context: ModelContext) -> None:
        """Open what ``predict`` needs from ``context.artifacts`` (called once on loading)."""

    def predict(self, inputs: Any) -> Any:
        """Return one prediction per input row."""
        raise NotImplementedError(f"{type(self).__name__} must define predict(inputs)")
