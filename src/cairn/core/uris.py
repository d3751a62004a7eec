"""Model URIs, MLflow's grammar: ``models:/name@alias``, ``models:/name/3``,
``models:/name/latest`` and ``runs:/<run id>/<path>``; plain ``name@alias`` and ``name/3`` too.

Parsed into frozen dataclasses; ``str()`` gives the canonical form back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cairn.core.checks import INT64_MAX, check_text, show
from cairn.core.errors import InvalidInputError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
#: The alias whose version shadows the traffic of a served alias of the same model: servers
#: following the model score it too and log its answers (the closed loop sets it).
SHADOW_ALIAS = "shadow"


def check_model_name(name: str) -> str:
    """Return ``name`` if it can name a model; raise a clear error otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"{show(name)} cannot name a model: use 1 to 128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. churn or fraud-detector.v2)"
        )
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if it can be an alias (not a number, not 'latest')."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or alias == "latest":
        raise InvalidInputError(
            f"{show(alias)} cannot be an alias: use a letter then letters, digits, '_' or '-' "
            "(e.g. champion or challenger); 'latest' is reserved"
        )
    return alias


@dataclass(frozen=True)
class ModelUri:
    """A registered model version: by ``version`` number, by ``alias``, or the latest."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{self.version if self.version is not None else 'latest'}"


@dataclass(frozen=True)
class RunUri:
    """A folder of a run's artifacts: ``runs:/<run id>/<path>``."""

    run_id: str
    path: str

    def __str__(self) -> str:
        return f"runs:/{self.run_id}/{self.path}"


def parse_model_uri(uri: str) -> ModelUri | RunUri:
    """Parse a model URI (or the short ``name@alias``, ``name/3``, ``name`` forms)."""
    if not isinstance(uri, str):
        raise InvalidInputError(
            f"a model URI is text such as 'models:/churn@champion', got {show(uri)}"
        )
    check_text(uri, "model URI")
    if uri.startswith("runs:/"):
        run_id, _, path = uri.removeprefix("runs:/").strip("/").partition("/")
        if not run_id or not path or any(p in ("", ".", "..") for p in path.split("/")):
            raise InvalidInputError(
                f"{show(uri)}: a run URI is runs:/<run id>/<path> (e.g. runs:/01JD2.../model)"
            )
        return RunUri(run_id, path)
    text = uri.removeprefix("models:/").removeprefix("models:")
    name, sep, alias = text.partition("@")
    if sep:
        return ModelUri(check_model_name(name), alias=check_alias(alias))
    name, sep, version = text.partition("/")
    check_model_name(name)
    if not sep or version == "latest":
        return ModelUri(name)
    if version.isascii() and version.isdigit() and 1 <= int(version) <= INT64_MAX:
        return ModelUri(name, version=int(version))
    raise InvalidInputError(
        f"{show(uri)}: use models:/{name}@<alias>, models:/{name}/<version number> or "
        f"models:/{name}/latest"
    )
