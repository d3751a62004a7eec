"""``log_model``: save a model as artifacts of the active run and register its next version.

The flavor writes the model's files into a scratch folder with a descriptor
(``cairn-model.json``: flavor, options, signature, requirements, metadata, input example); the
saved model is loaded back and asked to predict the input example, which both checks that what
was saved works and gives the output half of the signature. The files are stored as artifacts
of the run, then the version is recorded in one transaction (with a lineage edge from the run),
so a failure before that leaves no version, only run artifacts. Where the version is recorded
is chosen once per call (``registrar_for``): this store, or in client mode (``CAIRN_SERVER``)
the server, which checks that it holds every file before it records anything.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cairn.core.checks import check_optional_text, check_tags
from cairn.core.errors import CairnError, InvalidInputError, RunStateError
from cairn.core.logging import logger
from cairn.core.uris import ModelUri, check_model_name
from cairn.core.user import current_user
from cairn.registry import _queries
from cairn.registry.flavors import Flavor, flavor_for, requirements
from cairn.registry.ingest import record_version
from cairn.registry.model_version import DESCRIPTOR, FORMAT, ModelFile, ModelVersion
from cairn.registry.signature import Signature, enforce, infer_signature
from cairn.store import Store, get_store

_EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class SavedModel:
    """A model saved in a run (``save_model``), not yet a registered version."""

    run_id: str
    path: str
    flavor: str
    files: list[ModelFile]
    descriptor: dict[str, Any]

    @property
    def uri(self) -> str:
        """``runs:/<run id>/<path>``: what ``load_model`` and ``register_model`` take."""
        return f"runs:/{self.run_id}/{self.path}"


def save_model(
    model: Any,
    path: str | None = None,
    *,
    input_example: Any = None,
    signature: Signature | Mapping[str, Any] | None = None,
    flavor: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    serialization: str | None = None,
    run: Any = None,
) -> SavedModel:
    """Save ``model`` as artifacts of the active run (or ``run``) without registering it:
    ``load_model("runs:/<run>/<path>")`` loads it, ``register_model`` makes it a version.

    ``path`` defaults to ``model`` (``model-2``, ... when taken).
    """
    from cairn.tracking import Run, active_run

    check_optional_text(path, "path", empty=False)
    if run is not None and not isinstance(run, Run):
        raise InvalidInputError(
            f"run must be a cairn Run (cairn.run() returns one), not {type(run).__name__}"
        )
    if run is None:
        run = active_run()
    if run is None:
        raise RunStateError(
            "saving a model needs an active run: call it inside `with cairn.run():` so the "
            "model is linked to the code, params and data that made it"
        )
    chosen = flavor_for(model, flavor)
    meta = _json_object(metadata, "metadata")
    with tempfile.TemporaryDirectory(prefix="cairn-model-") as scratch:
        folder = Path(scratch) / "model"
        folder.mkdir()
        options = {"serialization": serialization} if serialization else {}
        saved = chosen.save(model, folder, input_example=input_example, options=options)
        sig = _signature(chosen, folder, saved, signature, input_example)
        descriptor = {
            "format": FORMAT,
            "flavor": chosen.name,
            "options": saved,
            "signature": sig.to_dict() if sig is not None else None,
            "requirements": requirements(chosen.packages),
            "metadata": meta,
            "input_example": _example_json(input_example),
        }
        (folder / DESCRIPTOR).write_text(json.dumps(descriptor, indent=1, default=str))
        where = path or _free_path(registrar_for(get_store()), run.id)
        entries = run.log_artifact(folder, name=where)
    prefix = where.strip("/") + "/"
    files = sorted(
        (ModelFile(e.path[len(prefix) :], e.size, e.digest) for e in entries), key=lambda f: f.path
    )
    return SavedModel(run.id, where.strip("/"), chosen.name, files, descriptor)


def log_model(
    model: Any,
    name: str,
    *,
    input_example: Any = None,
    signature: Signature | Mapping[str, Any] | None = None,
    flavor: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    serialization: str | None = None,
    artifact_path: str | None = None,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Save ``model`` in the active run and register it as the next version of ``name``.

    ``flavor`` is found from the model's type unless given; ``signature`` is inferred from
    ``input_example`` and the model's prediction on it unless given; ``serialization`` picks a
    flavor's file format (sklearn: ``joblib`` or ``skops``).
    """
    check_model_name(name)
    check_optional_text(description, "description")
    check_optional_text(artifact_path, "artifact_path", empty=False)
    check_tags(tags)
    saved = save_model(
        model,
        artifact_path,
        input_example=input_example,
        signature=signature,
        flavor=flavor,
        metadata=metadata,
        serialization=serialization,
    )
    return _register(saved, name, description, tags)


def register_model(
    uri: str, name: str, *, description: str | None = None, tags: Mapping[str, Any] | None = None
) -> ModelVersion:
    """Register the model a run saved (``runs:/<run id>/<path>``, e.g. by autologging) as the
    next version of ``name``."""
    from cairn.core.uris import RunUri, parse_model_uri
    from cairn.registry._load import model_files

    check_model_name(name)
    check_optional_text(description, "description")
    check_tags(tags)
    parsed = parse_model_uri(uri) if isinstance(uri, str) else None
    if not isinstance(parsed, RunUri):
        raise InvalidInputError(
            f"{uri!r:.80} names no run's model: register_model takes runs:/<run id>/<path>, "
            "e.g. runs:/01JD2.../model (see `cairn runs artifacts RUN`)"
        )
    run_id, files = model_files(parsed)
    store = get_store()
    descriptor_file = next(f for f in files if f.path == DESCRIPTOR)
    try:
        descriptor = json.loads(store.artifacts.read_bytes(descriptor_file.digest))
    except ValueError as exc:
        raise InvalidInputError(f"{uri}: its {DESCRIPTOR} is not JSON ({exc})") from None
    saved = SavedModel(
        run_id, parsed.path.strip("/"), str(descriptor.get("flavor")), files, descriptor
    )
    return _register(saved, name, description, tags)


def _register(
    saved: SavedModel, name: str, description: str | None, tags: Mapping[str, Any] | None
) -> ModelVersion:
    descriptor = saved.descriptor
    record = {
        "run_id": saved.run_id,
        "artifact_path": saved.path,
        "flavor": saved.flavor,
        "digest": next(f.digest for f in saved.files if f.path == DESCRIPTOR),
        "signature": descriptor.get("signature"),
        "requirements": descriptor.get("requirements") or {},
        "metadata": descriptor.get("metadata") or {},
        "description": description,
        "tags": {str(k): str(v) for k, v in (tags or {}).items()},
        "files": saved.files,
        "user": current_user(),
    }
    version = registrar_for(get_store()).register(name, record)
    # Monitoring summarizes the training data as this version's reference (it reports its own
    # failures: a reference that cannot be made never fails the training that logged it).
    from cairn.core.plugins import plugin_manager

    plugin_manager().hook.cairn_model_logged(
        model=version.name, version=version.version, run_id=saved.run_id
    )
    return version


class Registrar(Protocol):
    """Where ``log_model`` puts a new version: this store, or a cairn server (client mode)."""

    def taken(self, run_id: str, prefix: str) -> set[str]:
        """The first path parts of the run's artifacts that start with ``prefix``."""
        ...

    def register(self, name: str, record: Mapping[str, Any]) -> ModelVersion:
        """Record the version (its files stored already) in one transaction; return it."""
        ...


class LocalRegistrar:
    """Registers versions in this project's (or team's) metadata store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def taken(self, run_id: str, prefix: str) -> set[str]:
        """The first path parts of the run's artifacts that start with ``prefix``."""
        with self.store.db.read() as conn:
            return _queries.artifact_roots(conn, run_id, prefix)

    def register(self, name: str, record: Mapping[str, Any]) -> ModelVersion:
        """Record the version, its files, tags and lineage edge in one transaction, then
        prepare the load cache."""
        store = self.store
        version_id = store.db.transact(lambda conn: record_version(conn, name, **record))
        with store.db.read() as conn:
            version = _queries.version(conn, version_id)
        if store.artifacts.is_local:
            _warm_load_cache(store, version, list(record["files"]))
        return version


def registrar_for(store: Store) -> Registrar:
    """The registrar of ``store``, chosen once per ``log_model``."""
    if store.remote is not None:
        from cairn.registry._remote import RemoteRegistrar

        return RemoteRegistrar(store.remote)
    return LocalRegistrar(store)


def _warm_load_cache(store: Store, version: ModelVersion, files: list[ModelFile]) -> None:
    """Link the new version's files into the load cache (hard links, verified), so that the
    first ``load_model`` in another process finds them there and needs no store at all."""
    from cairn.core.settings import get_settings
    from cairn.registry._load import _materialize

    uri = ModelUri(version.name, version=version.version)
    try:
        _materialize(lambda: store, uri, files, get_settings().home_dir)
    except (CairnError, OSError) as exc:  # loading builds it then: nothing is lost
        logger.debug("could not prepare the load cache for %s: %s", uri, exc)


def _signature(
    flavor: Flavor,
    folder: Path,
    saved: dict[str, Any],
    given: Signature | Mapping[str, Any] | None,
    example: Any,
) -> Signature | None:
    """The signature given, or inferred from the example and the saved model's answer to it."""
    if isinstance(given, Signature):
        return given
    if given is not None:
        try:
            return Signature.from_dict(dict(given))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"signature {given!r} is not a signature: {exc}; pass a cairn.registry.Signature "
                "or leave it out and give input_example"
            ) from None
    if example is None:
        return None
    inputs = infer_signature(example)
    try:
        predictor = flavor.load(folder, saved)
        output = predictor.predict(enforce(inputs, example))
    except CairnError:
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"the saved {flavor.name} model could not predict its input example "
            f"({type(exc).__name__}: {exc}); check that input_example is what the model takes"
        ) from None
    return infer_signature(example, output)


def _example_json(example: Any) -> Any:
    """The first rows of the input example as JSON (records or nested lists), or None."""
    if example is None:
        return None
    try:
        from cairn.registry.signature import _is_array, to_frame

        if _is_array(example):
            import numpy as np

            return json.loads(json.dumps(np.asarray(example)[:_EXAMPLE_ROWS].tolist(), default=str))
        frame = to_frame(example).head(_EXAMPLE_ROWS)
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        return json.loads(json.dumps(records, default=str))  # floats kept to the last digit
    except (CairnError, TypeError, ValueError):
        return None  # an example that cannot be shown is still fine as a signature source


def _json_object(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must be a mapping of names to values, got {value!r}")
    try:
        return dict(json.loads(json.dumps(dict(value), default=str)))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} must be JSON-serialisable: {exc}") from None


def _free_path(registrar: Registrar, run_id: str) -> str:
    """``model``, or ``model-2``, ... when the run already holds a model there."""
    taken = registrar.taken(run_id, "model")
    if "model" not in taken:
        return "model"
    n = 2
    while f"model-{n}" in taken:
        n += 1
    return f"model-{n}"
