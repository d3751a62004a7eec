"""Browsing and curating the registry: models, versions, aliases (with their history), tags,
descriptions, and soft deletion of versions. In client mode (``CAIRN_SERVER``) each function
asks the cairn server instead (``_remote``), after the same checks of its arguments."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection

from cairn.core.checks import (
    INT64_MAX,
    check_mapping,
    check_optional_text,
    check_tags,
    check_text,
    show,
)
from cairn.core.errors import InvalidInputError, ModelNotFoundError
from cairn.core.ids import now_ms
from cairn.core.uris import ModelUri, RunUri, check_alias, check_model_name, parse_model_uri
from cairn.core.user import current_user
from cairn.registry import _queries, _remote
from cairn.registry.model_version import AliasMove, ModelVersion, RegisteredModel
from cairn.store import get_store


def list_models() -> list[RegisteredModel]:
    """Every registered model, by name."""
    store = get_store()
    if store.remote is not None:
        return _remote.list_models(store.remote)
    with store.db.read() as conn:
        return _queries.list_models(conn)


def get_model(name: str) -> RegisteredModel:
    """One registered model."""
    check_model_name(name)
    store = get_store()
    if store.remote is not None:
        return _remote.get_model(store.remote, name)
    for model in list_models():
        if model.name == name:
            return model
    with get_store().db.read() as conn:
        _queries.model_id(conn, name)  # raises the clear "no model named" error
    raise ModelNotFoundError(f"no model named {name!r}")


def get_model_version(ref: str, *, include_deleted: bool = False) -> ModelVersion:
    """The version ``ref`` names (``name@alias``, ``name/3``, ``name`` for the latest, or the
    same with the ``models:/`` prefix)."""
    uri = _model_uri(ref)
    store = get_store()
    if store.remote is not None:
        return _remote.get_model_version(store.remote, uri, include_deleted)
    with store.db.read() as conn:
        return _queries.version(conn, _queries.resolve(conn, uri, include_deleted=include_deleted))


def list_versions(name: str, *, include_deleted: bool = False) -> list[ModelVersion]:
    """The versions of a model, newest first."""
    check_model_name(name)
    store = get_store()
    if store.remote is not None:
        return _remote.list_versions(store.remote, name, include_deleted)
    with store.db.read() as conn:
        mid = _queries.model_id(conn, name)
        return _queries.versions(
            conn, _queries.version_ids(conn, mid, include_deleted=include_deleted)
        )


def set_alias(
    name: str,
    alias: str,
    version: int | str,
    *,
    reason: str | None = None,
    also: Callable[[Connection], object] | None = None,
) -> AliasMove:
    """Point ``alias`` (e.g. ``champion``) at ``version`` of model ``name``; the move is kept.
    ``also(conn)`` runs in the same transaction after the move: both commit, or neither."""
    check_model_name(name)
    check_alias(alias)
    number = _number(version)
    check_optional_text(reason, "reason")
    if also is not None and not callable(also):
        raise InvalidInputError(
            f"also must be a function taking the database connection, got {show(also)}"
        )
    store = get_store()
    if store.remote is not None:
        if also is not None:
            raise InvalidInputError(
                "set_alias(also=...) writes in the same transaction as the move, which needs "
                "the team's store: run it where CAIRN_STORE is the store (the server side), "
                "not through CAIRN_SERVER"
            )
        return _remote.set_alias(store.remote, name, alias, number, reason)

    def move(conn: Connection) -> AliasMove:
        mid = _queries.model_id(conn, name)
        moved = _move(conn, mid, name, alias, number, reason)
        if also is not None:
            also(conn)
        return moved

    return store.db.transact(move)


def rollback_alias(name: str, alias: str = "champion", *, reason: str) -> AliasMove:
    """Move ``alias`` back to the version it pointed at before its last move; the history
    keeps ``rollback: <reason>``."""
    check_model_name(name)
    check_alias(alias)
    why = check_text(reason, "reason").strip()
    if not why:
        raise InvalidInputError(
            "say why the alias moves back: a reason is required (the history keeps it as "
            "'rollback: <reason>')"
        )
    store = get_store()
    if store.remote is not None:
        session = store.remote
        current = _remote.get_model(session, name).aliases.get(alias)
        before = _before(name, alias, current, _remote.alias_history(session, name))
        return _remote.set_alias(session, name, alias, before, f"rollback: {why}")

    def back(conn: Connection) -> AliasMove:
        mid = _queries.model_id(conn, name)
        current = _queries.number_of(conn, _queries.alias_target(conn, mid, alias))
        before = _before(name, alias, current, _queries.alias_history(conn, mid))
        return _move(conn, mid, name, alias, before, f"rollback: {why}")

    return store.db.transact(back)


def _before(name: str, alias: str, current: int | None, history: list[AliasMove]) -> int:
    """The version ``alias`` pointed at before its last move (to ``current``), or a clear
    refusal."""
    if current is None:
        raise InvalidInputError(
            f"model {name!r} has no alias {alias!r} to roll back; set it first "
            f"(cairn models alias {name} {alias} <version>)"
        )
    moves = [m for m in history if m.alias == alias]
    before = moves[-1].from_version if moves and moves[-1].to_version == current else None
    if before is None:
        raise InvalidInputError(
            f"{alias} has pointed at version {current} since it was set: there is no earlier "
            "version to roll back to"
        )
    return before


def _move(
    conn: Connection, mid: int, name: str, alias: str, number: int, reason: str | None
) -> AliasMove:
    """Point ``alias`` at live version ``number`` inside the caller's transaction."""
    found = _queries.version_number_id(conn, mid, number)
    if found is None:
        raise ModelNotFoundError(f"model {name!r} has no version {number}")
    if found[1]:
        raise InvalidInputError(
            f"version {number} of model {name!r} is deleted; restore it first "
            f"(cairn models restore {name}/{number}) or choose a live version"
        )
    now = now_ms()
    before, after = _queries.move_alias(conn, mid, alias, found[0], now, current_user(), reason)
    return AliasMove(alias, before, after, now, current_user(), reason)


def delete_alias(name: str, alias: str) -> AliasMove:
    """Remove ``alias`` from model ``name`` (kept in the history)."""
    check_model_name(name)
    check_alias(alias)
    store = get_store()
    if store.remote is not None:
        return _remote.delete_alias(store.remote, name, alias)

    def drop(conn: Connection) -> AliasMove:
        mid = _queries.model_id(conn, name)
        if _queries.alias_target(conn, mid, alias) is None:
            raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
        now = now_ms()
        before, _ = _queries.move_alias(conn, mid, alias, None, now, current_user(), None)
        return AliasMove(alias, before, None, now, current_user())

    return store.db.transact(drop)


def alias_history(name: str) -> list[AliasMove]:
    """Every move of every alias of model ``name``: who, when, from which version to which."""
    check_model_name(name)
    store = get_store()
    if store.remote is not None:
        return _remote.alias_history(store.remote, name)
    with store.db.read() as conn:
        return _queries.alias_history(conn, _queries.model_id(conn, name))


def set_model_tags(ref: str, tags: Mapping[str, Any]) -> None:
    """Set tags on a model (``name``) or on a version (``name/3``, ``name@alias``)."""
    uri = _model_uri(ref)
    values = {str(k): str(v) for k, v in check_mapping(check_tags(tags), "tags").items()}
    store = get_store()
    if store.remote is not None:
        _remote.set_tags(store.remote, uri, _names_version(ref), values)
        return

    def write(conn: Connection) -> None:
        if _names_version(ref):
            _queries.set_version_tags(conn, _queries.resolve(conn, uri), values)
        else:
            _queries.set_model_tags(conn, _queries.model_id(conn, uri.name), values)

    store.db.transact(write)


def describe(ref: str, description: str | None) -> None:
    """Set the description of a model (``name``) or of a version (``name/3``)."""
    uri = _model_uri(ref)
    text = (check_optional_text(description, "description") or "").strip() or None
    store = get_store()
    if store.remote is not None:
        _remote.describe(store.remote, uri, _names_version(ref), text)
        return

    def write(conn: Connection) -> None:
        mid = _queries.model_id(conn, uri.name)
        vid = _queries.resolve(conn, uri) if _names_version(ref) else None
        _queries.set_description(conn, mid, vid, text, now_ms())

    store.db.transact(write)


def delete_version(ref: str) -> ModelVersion:
    """Mark a version deleted (its files stay until ``cairn gc``); refused while an alias
    points at it."""
    uri = _model_uri(ref)
    if uri.version is None:
        raise InvalidInputError(f"{ref!r}: name the version to delete by number, e.g. {uri.name}/3")
    store = get_store()
    if store.remote is not None:
        return _remote.delete_version(store.remote, uri)

    def mark(conn: Connection) -> ModelVersion:
        vid = _queries.resolve(conn, uri)
        aliases = _queries.aliases_of_version(conn, vid)
        if aliases:
            raise InvalidInputError(
                f"version {uri.version} of model {uri.name!r} is what {', '.join(aliases)} "
                f"point{'s' if len(aliases) == 1 else ''} at; move or delete "
                f"{'that alias' if len(aliases) == 1 else 'those aliases'} first "
                f"(cairn models alias {uri.name} {aliases[0]} <version>)"
            )
        _queries.mark_deleted(conn, vid, now_ms(), current_user())
        return _queries.version(conn, vid)

    return store.db.transact(mark)


def restore_version(ref: str) -> ModelVersion:
    """Undo ``delete_version`` (while ``cairn gc`` has not removed its files)."""
    uri = _model_uri(ref)
    if uri.version is None:
        raise InvalidInputError(
            f"{ref!r}: name the version to restore by number, e.g. {uri.name}/3"
        )
    store = get_store()
    if store.remote is not None:
        return _remote.restore_version(store.remote, uri)

    def mark(conn: Connection) -> ModelVersion:
        vid = _queries.resolve(conn, uri, include_deleted=True)
        if not _queries.files(conn, vid):
            raise InvalidInputError(
                f"{uri.name}/{uri.version} cannot be restored: cairn gc has freed its files"
            )
        _queries.mark_deleted(conn, vid, None, None)
        return _queries.version(conn, vid)

    return store.db.transact(mark)


def _model_uri(ref: str) -> ModelUri:
    uri = parse_model_uri(ref)
    if isinstance(uri, RunUri):
        raise InvalidInputError(
            f"{ref!r} names a run's files, not a registered model; use name, name/3 or name@alias"
        )
    return uri


def _names_version(ref: str) -> bool:
    text = ref.removeprefix("models:/").removeprefix("models:")
    return "@" in text or "/" in text


def _number(version: int | str) -> int:
    if isinstance(version, bool) or not isinstance(version, (int, str)):
        raise InvalidInputError(f"{show(version)} is not a version number; use 1, 2, ...")
    text = str(version).removeprefix("v")
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= INT64_MAX:
        raise InvalidInputError(f"{show(version)} is not a version number; use 1, 2, ...")
    return int(text)
