"""A PythonModel's bundled folder follows the symbolic-link rule of decision 0011: a link is
bundled as its file only when that file is inside the folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest

import cairn
from cairn import registry
from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.core.hashing import hash_bytes
from cairn.store import Store, get_store

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- not for the store"


class Lookup(cairn.PythonModel):
    """A user model answering with its bundled folder's ``latest.txt``."""

    artifacts: ClassVar[dict[str, str]] = {}

    def load(self, context: registry.ModelContext) -> None:
        self.answer = (Path(context.artifacts["data"]) / "latest.txt").read_text()

    def predict(self, inputs: Any) -> Any:
        return [self.answer] * len(inputs)


def _model_of(folder: Path, name: str = "data") -> cairn.PythonModel:
    """A Lookup bundling ``folder`` under ``name``."""

    class Bundled(Lookup):
        artifacts: ClassVar[dict[str, str]] = {name: str(folder)}

    return Bundled()


def test_a_bundled_folder_never_carries_an_outside_file(
    project: Path, store: Store, quiet_capture: None
) -> None:
    """A link out of the bundled folder is refused before anything is stored; a link inside it
    is bundled as its file; an artifact name leaving the model's folder is refused."""
    secret = project / "home" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_bytes(SECRET)
    data = project / "data"
    data.mkdir()
    (data / "table.txt").write_text("yes")
    (data / "latest.txt").symlink_to("table.txt")
    (data / "key").symlink_to(secret)
    with cairn.run(), pytest.raises(InvalidInputError, match="outside") as caught:
        cairn.log_model(_model_of(data), "leak")
    assert str(data / "key") in str(caught.value)
    with pytest.raises(NotFoundError):
        registry.get_model_version("leak/1")
    assert not get_store().artifacts.exists(hash_bytes(SECRET))
    (data / "key").unlink()
    with cairn.run():
        with pytest.raises(InvalidInputError, match="not a relative path"):
            cairn.log_model(_model_of(data, "../escape"), "bad")
        cairn.log_model(_model_of(data), "lookup")
    loaded = cairn.load_model("models:/lookup/1")
    assert list(loaded.predict(pd.DataFrame({"x": [1, 2]}))) == ["yes", "yes"]
    assert not get_store().artifacts.exists(hash_bytes(SECRET))
