"""The ``python`` flavor: a ``cairn.PythonModel``, pickled with cloudpickle (so classes defined
in a script or notebook travel too), its bundled artifacts copied beside it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cairn.core.destination import is_relative_path
from cairn.core.errors import InvalidInputError
from cairn.core.links import followed_link
from cairn.registry.python_model import ModelContext, PythonModel

_FILE = "python_model.pkl"


class PythonFlavor:
    """Flavor of ``cairn.PythonModel`` subclasses."""

    name = "python"
    packages = ("cloudpickle", "numpy", "pandas")
    order = 0

    def recognizes(self, model: Any) -> bool:
        """A PythonModel instance."""
        return isinstance(model, PythonModel)

    def save(
        self, model: Any, folder: Path, *, input_example: Any, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Pickle the instance; copy each bundled artifact under ``artifacts/<name>``."""
        import cloudpickle

        bundled: dict[str, str] = {}
        for name, source in dict(model.artifacts).items():
            path = Path(source).expanduser()
            if not path.exists():
                raise InvalidInputError(
                    f"the artifact {name!r} of {type(model).__name__} points at {path}, which "
                    "does not exist; fix the path in its artifacts mapping"
                )
            if not isinstance(name, str) or not is_relative_path(name):
                raise InvalidInputError(
                    f"the artifact name {name!r} of {type(model).__name__} is not a relative "
                    "path inside the model's folder; name it like 'weights' or 'data/vocab.txt'"
                )
            dest = folder / "artifacts" / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                _copy_folder(path, dest)
            else:
                shutil.copy2(path, dest)
            bundled[name] = f"artifacts/{name}"
        (folder / _FILE).write_bytes(cloudpickle.dumps(model))
        return {"file": _FILE, "artifacts": bundled, "safe": False}

    def load(self, folder: Path, options: dict[str, Any]) -> Any:
        """Unpickle the instance and call its ``load`` with the bundled artifacts."""
        import cloudpickle

        model = cloudpickle.loads((folder / options["file"]).read_bytes())
        artifacts = {k: folder / v for k, v in options.get("artifacts", {}).items()}
        model.load(ModelContext(artifacts, dict(options.get("metadata", {}))))
        return model


def _copy_folder(source: Path, dest: Path) -> None:
    """Copy the files of the folder ``source`` to ``dest``; a symbolic link is copied as the
    file it points to only when that file is inside ``source``, else refused (decision 0011):
    a bundled folder must not carry a secret from outside it into the model."""
    found = sorted(p for p in source.rglob("*") if p.is_symlink() or p.is_file())
    pairs = [
        (Path(followed_link(str(f), str(source))[0]) if f.is_symlink() else f, f) for f in found
    ]  # every link checked before anything is copied
    for real, seen in pairs:
        target = dest / seen.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real, target)
