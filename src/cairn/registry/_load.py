"""``load_model``: one uniform object for any registered model version or logged model.

Every file of the version is checked against its digest (while it is linked or copied out of
the artifact store) before anything is deserialised; a mismatch refuses to load and names the
file. Packages installed at other versions than the model was saved with are warned about.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.core.checks import check_path, show
from cairn.core.destination import is_relative_path, named_folder
from cairn.core.errors import (
    ArtifactCorruptedError,
    ArtifactNotFoundError,
    CairnError,
    InvalidInputError,
    ModelLoadError,
    ModelNotFoundError,
)
from cairn.core.hashing import hash_bytes, hash_file, split_digest
from cairn.core.logging import logger
from cairn.core.uris import ModelUri, RunUri, parse_model_uri
from cairn.registry import _lean
from cairn.registry.flavors import get_flavor, requirement_mismatches
from cairn.registry.model_version import DESCRIPTOR, FORMAT, ModelFile, ModelVersion
from cairn.registry.signature import Signature, enforce

if TYPE_CHECKING:
    from cairn.store import Store

# The store (SQLAlchemy) and the settings (pydantic) are imported where they are used: a
# program that only loads a model by URI from the default SQLite store never needs them
# (see ``_lean``).

FILES = "cairn-files.json"  # an exported model's file list, checked when it is loaded


class LoadedModel:
    """A loaded model: ``predict`` (and ``predict_proba`` where the flavor has it), checked
    against the signature, with the version's facts."""

    def __init__(
        self,
        predictor: Any,
        *,
        uri: str,
        flavor: str,
        signature: Signature | None,
        metadata: dict[str, Any],
        model_version: ModelVersion | None,
        input_example: Any = None,
    ) -> None:
        self._predictor = predictor
        self.uri = uri
        self.flavor = flavor
        self.signature = signature
        self.metadata = metadata
        self.model_version = model_version
        self.input_example = input_example  # the first rows logged with it (records), if any

    @property
    def name(self) -> str | None:
        """The registered model's name (None for a run's model never registered)."""
        return self.model_version.name if self.model_version else None

    @property
    def version(self) -> int | None:
        """The version number that answers (None for a run's model never registered)."""
        return self.model_version.version if self.model_version else None

    @property
    def has_proba(self) -> bool:
        """Whether the model gives class probabilities."""
        return callable(getattr(self._predictor, "predict_proba", None))

    @property
    def raw(self) -> Any:
        """The framework's own model object."""
        return self._predictor

    def prepare(self, data: Any) -> Any:
        """``data`` checked and converted by the signature (as ``predict`` passes it on)."""
        return enforce(self.signature, data) if self.signature is not None else data

    def predict(self, data: Any) -> Any:
        """Predictions for ``data`` (a DataFrame, records, a dict of columns or an array)."""
        return self._predictor.predict(self.prepare(data))

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities for ``data``."""
        if not self.has_proba:
            raise InvalidInputError(
                f"the {self.flavor} model {self.uri} gives no probabilities; use predict"
            )
        return self._predictor.predict_proba(self.prepare(data))

    def __repr__(self) -> str:
        return f"<LoadedModel {self.uri} ({self.flavor})>"


def load_model(uri: str | Path, *, safe: bool = False) -> LoadedModel:
    """Load ``models:/name@alias``, ``models:/name/3``, ``models:/name/latest``,
    ``runs:/<run id>/<path>``, or a folder written by ``export_model``. ``safe=True`` refuses
    formats whose loading runs code from the files (pickle). Inside a run, the version loaded
    is recorded as an input of the run."""
    if isinstance(uri, Path) or (
        isinstance(uri, str) and not uri.startswith(("models:", "runs:")) and os.path.isdir(uri)
    ):
        return _load_exported(Path(uri), safe=safe)
    parsed = parse_model_uri(uri)
    lean = _lean.resolve(parsed) if isinstance(parsed, ModelUri) else None
    if lean is not None:  # no run to record the load in: the rows were read directly
        home, registered, listed = lean
        folder = _materialize(_get_store, parsed, listed, home)
        return _load_folder(folder, str(parsed), registered, safe=safe)
    from cairn.core.settings import get_settings
    from cairn.store.lineage import MODEL_VERSION, Node, record_run_input

    store = _get_store()
    version_id, version, files = _resolve(store, parsed)
    folder = _materialize(lambda: store, parsed, files, get_settings().home_dir)
    loaded = _load_folder(folder, str(parsed), version, safe=safe)
    if store.remote is not None:  # client mode: the server records the run's input
        from cairn.registry import _remote

        _remote.record_input(store.remote, version)
    elif version_id is not None:
        record_run_input(store.db, Node(MODEL_VERSION, version_id))
    return loaded


def _get_store() -> Store:
    from cairn.store import get_store

    return get_store()


def export_model(uri: str, dest: str | Path) -> Path:
    """Copy a model version's files, verified, into the new folder ``dest`` with a list of
    their digests (``cairn-files.json``): ``load_model(dest)`` then needs no store, as in a
    container."""
    parsed = parse_model_uri(uri)
    # A link named as the destination is the caller's choice: the export replaces the empty
    # folder it points to (renaming onto the link itself would fail).
    target = named_folder(check_path(dest, "destination").expanduser())
    if target.exists() and any(target.iterdir()):
        raise InvalidInputError(f"{target} is not empty; export into a new or empty folder")
    store = _get_store()
    _, version, files = _resolve(store, parsed)
    _check_paths(parsed, files)
    staging = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        for file in files:
            _fetch(store, file.digest, staging / file.path, link=False)
        listing = {
            "uri": str(parsed),
            "version": None if version is None else _version_facts(version),
            "files": [[f.path, f.size, f.digest] for f in files],
        }
        (staging / FILES).write_text(json.dumps(listing, indent=1))
        if target.exists():
            target.rmdir()
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _load_exported(folder: Path, *, safe: bool) -> LoadedModel:
    listing_path = folder / FILES
    if not (folder / DESCRIPTOR).is_file() or not listing_path.is_file():
        raise ModelNotFoundError(
            f"{folder} is not an exported model (it needs {DESCRIPTOR} and {FILES}); write one "
            "with cairn.registry.export_model(uri, folder)"
        )
    try:
        listing = json.loads(listing_path.read_text())
        files = [ModelFile(str(p), int(n), str(d)) for p, n, d in listing["files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"cannot read {listing_path}: {exc}") from None
    for file in files:
        try:
            digest = hash_file(folder / file.path)[0]
        except OSError:
            digest = None
        if digest != file.digest:
            raise ArtifactCorruptedError(
                f"{folder}: the file {file.path!r} is missing or was changed after the model was "
                f"exported (expected {file.digest}); refusing to load it. Export it again"
            )
    facts = listing.get("version")
    version = ModelVersion(**facts) if isinstance(facts, dict) else None
    return _load_folder(folder, str(listing.get("uri") or folder), version, safe=safe)


def _version_facts(version: ModelVersion) -> dict[str, Any]:
    return dataclasses.asdict(version)


def _load_folder(
    folder: Path, label: str, version: ModelVersion | None, *, safe: bool
) -> LoadedModel:
    descriptor = _descriptor(folder, label)
    flavor_name = str(descriptor.get("flavor"))
    options = dict(descriptor.get("options") or {})
    if safe and not options.get("safe"):
        raise ModelLoadError(
            f"{label} was saved in a format that runs code when loaded "
            f"({flavor_name}, {options.get('format', 'pickle')}); load it with safe=False if "
            "you trust who logged it, or log it again in a safe format (for scikit-learn: "
            "serialization='skops')"
        )
    flavor = get_flavor(flavor_name)
    options.setdefault("metadata", descriptor.get("metadata") or {})
    try:
        predictor = flavor.load(folder, options)
    except CairnError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"could not load {label} with the {flavor_name} flavor "
            f"({type(exc).__name__}: {exc}); check that the packages it was saved with are "
            f"installed: {', '.join(dict(descriptor.get('requirements') or {})) or 'none'}"
        ) from None
    # After loading: the packages are imported then, and their versions cheap to read.
    mismatches = requirement_mismatches(dict(descriptor.get("requirements") or {}))
    if mismatches:
        logger.warning(
            "%s was saved with other package versions than are installed (%s); "
            "predictions may differ",
            label,
            ", ".join(mismatches),
        )
    sig = descriptor.get("signature")
    return LoadedModel(
        predictor,
        uri=label,
        flavor=flavor_name,
        signature=Signature.from_dict(sig) if sig else None,
        metadata=dict(descriptor.get("metadata") or {}),
        model_version=version,
        input_example=descriptor.get("input_example"),
    )


def _resolve(
    store: Store, uri: ModelUri | RunUri
) -> tuple[int | None, ModelVersion | None, list[ModelFile]]:
    """(version id, version, files) of what ``uri`` names (no version for an unregistered
    model of a run; in client mode no version id: the server resolved it)."""
    from cairn.registry import _queries

    if store.remote is not None:
        from cairn.registry import _remote

        if isinstance(uri, ModelUri):
            return None, *_remote.resolve(store.remote, uri)
        return None, None, _run_files(uri)
    with store.db.read() as conn:
        if isinstance(uri, ModelUri):
            version_id = _queries.resolve(conn, uri)
            return version_id, _queries.version(conn, version_id), _queries.files(conn, version_id)
        path = uri.path.strip("/")
        files = _queries.run_artifact_files(conn, uri.run_id, path)
        run_uid = uri.run_id
        if files is None:  # maybe an id prefix: tracking resolves it (or says what is wrong)
            from cairn.tracking import get_run

            run_uid = get_run(uri.run_id).id
            files = _queries.run_artifact_files(conn, run_uid, path) or []
        _check_model_files(run_uid, path, files)
        found = _queries.version_of_run_path(conn, run_uid, path)
        return found, (None if found is None else _queries.version(conn, found)), files


def model_files(uri: RunUri) -> tuple[str, list[ModelFile]]:
    """The run's full id and the files of its model folder ``uri`` names."""
    from cairn.tracking import get_run

    store = _get_store()
    if store.remote is not None:
        return get_run(uri.run_id, history=False).id, _run_files(uri)
    _, _, files = _resolve(store, uri)
    return get_run(uri.run_id, history=False).id, files


def _run_files(uri: RunUri) -> list[ModelFile]:
    """The files of a run's model folder, from the run's record (client mode)."""
    from cairn.tracking import get_run

    record = get_run(uri.run_id)
    path = uri.path.strip("/")
    prefix = path + "/"
    files = [
        ModelFile(a.path[len(prefix) :], a.size, a.digest)
        for a in sorted(record.artifacts, key=lambda a: a.path)
        if a.path.startswith(prefix)
    ]
    _check_model_files(record.id, path, files)
    return files


def _check_model_files(run_uid: str, path: str, files: list[ModelFile]) -> None:
    if not any(f.path == DESCRIPTOR for f in files):
        raise ModelNotFoundError(
            f"run {run_uid} has no model at {path!r}; models are logged with "
            "cairn.log_model(model, name) (see `cairn runs show` for the run's artifacts)"
        )


def _fetch(store: Store, digest: str, dest: Path, *, link: bool) -> None:
    """Write the object to ``dest``, verified (downloaded from the server in client mode)."""
    if store.remote is not None:
        store.artifacts.copy_to(digest, dest)
    else:
        store.artifacts.materialize(digest, dest, link=link)


def _materialize(
    store_of: Callable[[], Store], uri: ModelUri | RunUri, files: list[ModelFile], home: Path
) -> Path:
    """The version's files in a cached read-only folder, every file verified on every load.

    The folder is named by the digest of the file list, built beside it and renamed into
    place (concurrent loaders agree on the result), and holds hard links to the objects where
    the store is local. A cached file that no longer matches is rebuilt from the store, which
    refuses a changed object naming the file.
    """
    _check_paths(uri, files)
    listing = "\n".join(f"{f.path}\t{f.digest}" for f in files).encode()
    _, key = split_digest(hash_bytes(listing))
    root = home / "cache" / "models"
    folder = root / key[:32]
    if folder.is_dir() and _intact(folder, files):
        return folder
    store = store_of()
    building = root / f".building-{key[:16]}-{uuid.uuid4().hex[:8]}"
    try:
        for file in files:
            try:
                _fetch(store, file.digest, building / file.path, link=True)
            except ArtifactCorruptedError:
                raise ArtifactCorruptedError(
                    f"{uri}: the file {file.path!r} was changed after the model was logged (its "
                    f"bytes no longer match {file.digest}); refusing to load it. Log the model "
                    "again, or restore the artifact store from a backup"
                ) from None
            except ArtifactNotFoundError:
                raise ArtifactNotFoundError(
                    f"{uri}: the file {file.path!r} ({file.digest}) is missing from the artifact "
                    "store; restore it from a backup or log the model again"
                ) from None
        if folder.exists():  # stale (failed the check above) or built meanwhile by another loader
            stale = root / f".stale-{uuid.uuid4().hex[:8]}"
            with contextlib.suppress(OSError):
                folder.rename(stale)
                shutil.rmtree(stale, ignore_errors=True)
        try:
            building.rename(folder)
        except OSError:
            if not (folder.is_dir() and _intact(folder, files)):
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return folder


def _check_paths(uri: ModelUri | RunUri, files: list[ModelFile]) -> None:
    """Refuse file paths that would leave the model's folder (a run's artifacts recorded
    before names were checked) before anything is written."""
    unsafe = [f.path for f in files if not is_relative_path(f.path)]
    if unsafe:
        raise ModelLoadError(
            f"{uri} holds {len(unsafe)} file path(s) that would leave its folder, e.g. "
            f"{show(unsafe[0])}; nothing was written. Log the model again"
        )


def _intact(folder: Path, files: list[ModelFile]) -> bool:
    """Whether every file under ``folder`` still has its digest."""
    for file in files:
        try:
            if hash_file(folder / file.path)[0] != file.digest:
                return False
        except OSError:
            return False
    return True


def _descriptor(folder: Path, uri: str) -> dict[str, Any]:
    try:
        descriptor = json.loads((folder / DESCRIPTOR).read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{uri}: cannot read its {DESCRIPTOR} ({exc})") from None
    if not isinstance(descriptor, dict) or int(descriptor.get("format", 0)) > FORMAT:
        raise ModelLoadError(
            f"{uri} was saved by a newer cairn (descriptor format {descriptor.get('format')}); "
            "upgrade cairn to load it"
        )
    return descriptor
