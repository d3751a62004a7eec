"""The model registry in client mode: the same operations, asked of a cairn server.

Each public function of the registry chooses this path once, when the store is a session to a
server (``CAIRN_SERVER``). Reads and changes whose answer the caller needs (a new version, an
alias move) are plain calls: they answer, or fail with the server's error or a clear
``ServerUnavailableError``. Recording that a run loaded a version goes through the outbox, as
the run's other writes do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from cairn.core.errors import ModelNotFoundError, ServerUnavailableError
from cairn.core.uris import ModelUri
from cairn.registry.lineage import LineageNode
from cairn.registry.model_version import AliasMove, ModelFile, ModelVersion, RegisteredModel
from cairn.store.remote import RemoteSession

T = TypeVar("T")
DRAIN_S = 60.0  # the longest log_model waits for the run's spooled uploads to reach the server


def _build(cls: type[T], fields: Mapping[str, Any]) -> T:
    """A registry value from its JSON form (keys the dataclass lacks are left out)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in fields.items() if k in names})


def _model(name: str) -> str:
    return f"/models/{quote(name, safe='')}"


def _version(uri: ModelUri) -> str:
    """The route of the version ``uri`` names: by number, alias, or ``latest``."""
    if uri.alias is not None:
        ref = uri.alias
    else:
        ref = str(uri.version) if uri.version is not None else "latest"
    return f"{_model(uri.name)}/versions/{quote(ref, safe='')}"


def list_models(session: RemoteSession) -> list[RegisteredModel]:
    """Every registered model, by name."""
    return [_build(RegisteredModel, m) for m in session.call("GET", "/models")]


def get_model(session: RemoteSession, name: str) -> RegisteredModel:
    """One registered model."""
    return _build(RegisteredModel, session.call("GET", _model(name)))


def list_versions(session: RemoteSession, name: str, include_deleted: bool) -> list[ModelVersion]:
    """The versions of a model, newest first."""
    answer = session.call("GET", _model(name), params={"deleted": include_deleted})
    return [_build(ModelVersion, v) for v in answer["versions"]]


def get_model_version(session: RemoteSession, uri: ModelUri, include_deleted: bool) -> ModelVersion:
    """The version ``uri`` names (a deleted one only when ``include_deleted``)."""
    version = _build(ModelVersion, session.call("GET", _version(uri)))
    if version.deleted and not include_deleted:
        raise ModelNotFoundError(
            f"version {version.version} of model {uri.name!r} was deleted; restore it first "
            f"(cairn models restore {uri.name}/{version.version}) or choose a live version"
        )
    return version


def set_alias(
    session: RemoteSession, name: str, alias: str, number: int, reason: str | None
) -> AliasMove:
    """Point ``alias`` at version ``number`` on the server."""
    path = f"{_model(name)}/aliases/{quote(alias, safe='')}"
    return _build(AliasMove, session.call("PUT", path, {"version": number, "reason": reason}))


def delete_alias(session: RemoteSession, name: str, alias: str) -> AliasMove:
    """Remove ``alias`` on the server (kept in its history)."""
    return _build(
        AliasMove, session.call("DELETE", f"{_model(name)}/aliases/{quote(alias, safe='')}")
    )


def alias_history(session: RemoteSession, name: str) -> list[AliasMove]:
    """Every move of every alias of ``name``, oldest first."""
    return [_build(AliasMove, m) for m in session.call("GET", f"{_model(name)}/history")]


def set_tags(
    session: RemoteSession, uri: ModelUri, of_version: bool, tags: Mapping[str, str]
) -> None:
    """Set tags on the model ``uri`` names, or on its version when ``of_version``."""
    where = _version(uri) if of_version else _model(uri.name)
    session.call("PUT", f"{where}/tags", {"tags": dict(tags)})


def describe(session: RemoteSession, uri: ModelUri, of_version: bool, text: str | None) -> None:
    """Set the description of the model ``uri`` names, or of its version when ``of_version``."""
    where = _version(uri) if of_version else _model(uri.name)
    session.call("PUT", f"{where}/description", {"description": text})


def delete_version(session: RemoteSession, uri: ModelUri) -> ModelVersion:
    """Mark a version deleted (admins)."""
    return _build(ModelVersion, session.call("POST", f"{_version(uri)}/delete"))


def restore_version(session: RemoteSession, uri: ModelUri) -> ModelVersion:
    """Undo a deletion (admins)."""
    return _build(ModelVersion, session.call("POST", f"{_version(uri)}/restore"))


def model_lineage(session: RemoteSession, uri: ModelUri) -> LineageNode:
    """The lineage map of the version ``uri`` names, as the server walks it."""
    return _node(session.call("GET", f"{_version(uri)}/lineage"))


def _node(fields: Mapping[str, Any]) -> LineageNode:
    return LineageNode(
        str(fields["kind"]),
        str(fields["ref"]),
        dict(fields.get("facts") or {}),
        [_node(p) for p in fields.get("parents") or []],
        bool(fields.get("seen_above", False)),
    )


def resolve(session: RemoteSession, uri: ModelUri) -> tuple[ModelVersion, list[ModelFile]]:
    """The live version ``uri`` names and its files (by digest), to load it."""
    answer = session.call("GET", f"{_version(uri)}/files")
    files = [ModelFile(str(f["path"]), int(f["size"]), str(f["digest"])) for f in answer["files"]]
    return _build(ModelVersion, answer["version"]), files


def record_input(session: RemoteSession, version: ModelVersion | None) -> None:
    """Record, through the outbox, that the active run (if any) loaded ``version``."""
    from cairn.core.context import current_run_id

    run_id = current_run_id()
    if version is None or run_id is None:
        return
    uri = ModelUri(version.name, version=version.version)
    session.post(f"{_version(uri)}/inputs", {"run_id": run_id})


class RemoteRegistrar:
    """Where ``log_model`` puts a new version in client mode: the server."""

    def __init__(self, session: RemoteSession) -> None:
        self.session = session

    def taken(self, run_id: str, prefix: str) -> set[str]:
        """The first path parts of the run's artifacts starting with ``prefix``, as the
        server holds them once the run's spooled writes have reached it."""
        from cairn.tracking import get_run

        self.session.drain(DRAIN_S)
        record = get_run(run_id)
        return {a.path.split("/", 1)[0] for a in record.artifacts if a.path.startswith(prefix)}

    def register(self, name: str, record: Mapping[str, Any]) -> ModelVersion:
        """Register the version on the server, once its files (uploaded as the run's
        artifacts) have reached it; nothing is registered when they cannot."""
        left = self.session.drain(DRAIN_S)
        if left:
            raise ServerUnavailableError(
                f"the new version of {name!r} was not registered: the cairn server at "
                f"{self.session.url} cannot be reached, and {left} request(s) of the run "
                "(its files among them) wait in the spool, sent when it answers again. Log "
                "the model again then"
            )
        body = {
            **record,
            "files": [
                {"path": f.path, "size": f.size, "digest": f.digest} for f in record["files"]
            ],
        }
        answer = self.session.call("POST", f"{_model(name)}/versions", body)
        return _build(ModelVersion, answer)
