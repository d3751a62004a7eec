"""The ``torch`` flavor: PyTorch modules (``torch.nn.Module``).

Saved as TorchScript where possible (``torch.jit.script``, else ``torch.jit.trace`` on the input
example): the archive holds the code and weights, so the model loads without its Python class.
Otherwise (or with ``options={"torch_format": "state_dict"}``, which
``cairn.log_model(..., serialization="state_dict")`` passes on) the weights are saved with
``torch.save(state_dict)`` and the class is recorded as ``module:QualName``; loading re-imports
the class, builds it with no arguments and reads the weights with ``weights_only=True``. Both
load without unpickling arbitrary objects (``safe``).

Predictions are made on the CPU in eval mode, under ``torch.inference_mode()``, on the inputs
as a (C-ordered) float32 tensor; the output comes back as a NumPy array.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cairn.core.errors import InvalidInputError, ModelLoadError
from cairn.core.lazy import import_optional

FORMATS = ("torchscript", "state_dict")
_SCRIPT_FILE = "model.pt"
_STATE_FILE = "state_dict.pt"


class TorchFlavor:
    """Flavor of PyTorch modules."""

    name = "torch"
    packages = ("torch", "numpy")
    order = 30

    def recognizes(self, model: Any) -> bool:
        """A ``torch.nn.Module`` (TorchScript modules included)."""
        if "torch" not in sys.modules:
            return False
        import torch

        return isinstance(model, torch.nn.Module)

    def save(
        self, model: Any, folder: Path, *, input_example: Any, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Write ``model.pt`` (TorchScript) or ``state_dict.pt`` and the class path."""
        torch = import_optional("torch", "torch", "saving a PyTorch model")
        # cairn.log_model passes its serialization= argument as options["serialization"].
        fmt = options.get("torch_format") or options.get("serialization") or "torchscript"
        if fmt not in FORMATS:
            raise InvalidInputError(
                f"the torch flavor's formats are {', '.join(FORMATS)}, not {fmt!r} "
                "(options torch_format, or serialization= in cairn.log_model)"
            )
        if not isinstance(model, torch.nn.Module):
            raise InvalidInputError(
                f"the torch flavor saves a torch.nn.Module, not a "
                f"{type(model).__module__}.{type(model).__qualname__}"
            )
        if fmt == "torchscript":
            scripted, why_not = _to_torchscript(torch, model, input_example)
            if scripted is not None:
                with _quiet_jit():
                    torch.jit.save(scripted, str(folder / _SCRIPT_FILE))
                return {"file": _SCRIPT_FILE, "format": "torchscript", "safe": True}
        else:
            why_not = ""
        class_path = _importable_class(model, why_not)
        torch.save(model.state_dict(), folder / _STATE_FILE)
        return {"file": _STATE_FILE, "format": "state_dict", "class": class_path, "safe": True}

    def load(self, folder: Path, options: dict[str, Any]) -> Any:
        """Load the TorchScript archive, or rebuild the class and read its weights."""
        torch = import_optional("torch", "torch", "loading a PyTorch model")
        path = folder / options["file"]
        if options.get("format") == "state_dict":
            module_name, _, qualname = str(options["class"]).partition(":")
            try:
                cls = _resolve(module_name, qualname)
                model = cls()
            except Exception as exc:
                raise ModelLoadError(
                    f"the PyTorch model's class {options['class']} cannot be imported or built "
                    f"with no arguments here ({exc}); install the package that defines it"
                ) from exc
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        else:
            with _quiet_jit():
                model = torch.jit.load(str(path), map_location="cpu")
        return _ModulePredictor(model)


class _ModulePredictor:
    """A module answering ``predict`` on a DataFrame or an array, with NumPy output."""

    def __init__(self, module: Any) -> None:
        module.eval()
        self.module = module

    def predict(self, inputs: Any) -> Any:
        """The module's output for ``inputs`` (as float32), as a NumPy array."""
        import numpy as np
        import torch

        # C order: a DataFrame's values come out column-major, and a strided input takes other
        # matmul kernels, whose last bits differ from those of the contiguous tensors a module
        # is normally called with.
        tensor = torch.as_tensor(np.ascontiguousarray(inputs, dtype=np.float32))
        with torch.inference_mode():
            return _to_numpy(self.module(tensor))


def _to_numpy(output: Any) -> Any:
    """Tensors as NumPy arrays, keeping a tuple's, list's or dict's shape."""
    if isinstance(output, dict):
        return {k: _to_numpy(v) for k, v in output.items()}
    if isinstance(output, (tuple, list)):
        return type(output)(_to_numpy(v) for v in output)
    if hasattr(output, "detach"):
        return output.detach().cpu().numpy()
    return output


@contextlib.contextmanager
def _quiet_jit() -> Iterator[None]:
    # PyTorch 2.13 deprecates every torch.jit entry point (script, trace, save, load) with a
    # DeprecationWarning; TorchScript still works and is the format that loads without the
    # model's class, so those warnings (and only those) are silenced here.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning
        )
        yield


def _to_torchscript(torch: Any, model: Any, input_example: Any) -> tuple[Any, str]:
    """The module as TorchScript (scripted, else traced on the example), or why it is not."""
    if isinstance(model, torch.jit.ScriptModule):
        return model, ""
    with _quiet_jit():
        try:
            return torch.jit.script(model), ""
        except Exception as exc:
            why_not = f"torch.jit.script failed ({type(exc).__name__}: {_first_line(exc)})"
        if input_example is None:
            return None, f"{why_not} and no input_example was given to trace it with"
        import numpy as np

        example = torch.as_tensor(np.ascontiguousarray(input_example, dtype=np.float32))
        was_training = model.training
        model.eval()  # trace the inference path (dropout, batch norm)
        try:
            # check_trace=False: re-running the trace to compare outputs doubles the cost and
            # fails spuriously on nondeterministic modules; the archive is what gets loaded.
            return torch.jit.trace(model, example, check_trace=False), ""
        except Exception as exc:
            return None, (
                f"{why_not}, and torch.jit.trace failed too ({type(exc).__name__}: "
                f"{_first_line(exc)})"
            )
        finally:
            model.train(was_training)


def _importable_class(model: Any, why: str) -> str:
    """``module:QualName`` of the model's class, checked to re-import and build with no
    arguments into a module that takes the model's weights; ``why``: why not TorchScript."""
    cls = type(model)
    path = f"{cls.__module__}:{cls.__qualname__}"
    lead = (
        f"cannot save the PyTorch model as TorchScript: {why}; its weights alone cannot be "
        "saved either"
        if why
        else "cannot save the PyTorch model's weights (torch_format='state_dict')"
    )
    advice = (
        "move the class to an importable module and give its constructor default arguments, "
        "or wrap the model in a cairn.PythonModel"
    )
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        place = "a script's __main__" if cls.__module__ == "__main__" else "a function"
        raise InvalidInputError(
            f"{lead}, because its class {cls.__qualname__} is defined in {place} and "
            f"cannot be re-imported when loading. To log it, {advice}"
        )
    try:
        found = _resolve(cls.__module__, cls.__qualname__)
    except Exception:
        found = None
    if found is not cls:
        raise InvalidInputError(
            f"{lead}, because its class {path} cannot be re-imported by that name. To log "
            f"it, {advice}"
        )
    try:
        probe = cls()
        probe.load_state_dict(model.state_dict())
    except Exception as exc:
        raise InvalidInputError(
            f"{lead}, because {path}() with no arguments does not build a module that "
            f"takes its weights ({type(exc).__name__}: {_first_line(exc)}). To log it, {advice}"
        ) from exc
    return path


def _resolve(module_name: str, qualname: str) -> Any:
    """The object ``module_name:qualname`` names (importing the module)."""
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
