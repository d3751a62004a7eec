"""Runs: start, log to, and end them.

``start_run`` (exported as ``cairn.run`` too) returns a started ``Run`` that is also a context
manager; a run started while another is active becomes its child. Module-level functions act
on the innermost active run and start one when none is active, so a script can call
``cairn.log`` without any set-up. Runs still active at interpreter exit are ended there:
``failed`` when an exception escaped, ``finished`` otherwise (``_exit`` does that).
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from cairn.core import context
from cairn.core.checks import (
    INT64_MAX,
    INT64_MIN,
    check_int,
    check_mapping,
    check_name,
    check_optional_mapping,
    check_path,
    check_tags,
    show,
)
from cairn.core.errors import InvalidInputError, RunStateError
from cairn.core.ids import new_id, now_ms
from cairn.core.links import followed_link
from cairn.core.logging import logger
from cairn.core.progress import track
from cairn.core.settings import get_settings
from cairn.core.user import current_user
from cairn.store import Store, get_store
from cairn.tracking import _exit, _implicit
from cairn.tracking._codec import (
    MAX_KEY_LENGTH,
    check_key,
    check_text,
    flatten,
    metric_value,
    tag_values,
)
from cairn.tracking._exit import Terminated, describe  # noqa: F401  (importable from here)
from cairn.tracking._liveness import this_host
from cairn.tracking._names import run_name
from cairn.tracking._writer import writer_for
from cairn.tracking.record import ArtifactEntry
from cairn.tracking.seed import current_seed, ensure_seeded, seed, seeded_libraries

MAX_NAME_LENGTH = 255  # runs.name and experiments.name
MAX_EXACT = 2**53  # ints up to this convert to float without the overflow check
MAX_ARTIFACT_PATH = 1000  # run_artifacts.path
_attached: list[str] = []  # the run this process was launched into, once attached


class Run:
    """A run in progress: log metrics, params, tags and artifacts to it, then end it."""

    def __init__(
        self, store: Store, db_id: int, uid: str, name: str, experiment: str, parent_id: str | None
    ) -> None:
        self.id = uid
        self.name = name
        self.experiment = experiment
        self.parent_id = parent_id
        self._store = store
        self._db_id = db_id
        self._writer = writer_for(store)
        self._sink = self._writer.sink
        self._next_step = 0
        self._known_keys: set[str] = set()
        self._ended = False
        self._end_lock = threading.Lock()
        self._tokens: Any = None
        self._capturing = _implicit.Capturing()
        self._joined = False  # joined from another process, which ends it (join_run)

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.name!r} experiment={self.experiment!r}>"

    @property
    def is_active(self) -> bool:
        """Whether the run has not ended yet."""
        return not self._ended

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record metric values at ``step`` (default: one more than the last step)."""
        if type(metrics) is not dict:
            check_mapping(metrics, "metrics")
        if self._ended:
            raise RunStateError(f"run {self.id} has ended; start a new run to log more metrics")
        if step is None:
            step = self._next_step
            self._next_step += 1
        else:
            if type(step) is not int or not INT64_MIN <= step <= INT64_MAX:
                # Stores keep steps as int64: a step past it would poison the batch it is in.
                step = check_int(step, "step")
            if step >= self._next_step:
                self._next_step = step + 1
        self._append(metrics, step)

    def _append(self, metrics: Mapping[str, Any], step: int) -> None:
        """Queue points at ``step`` without moving the run's own step counter.

        The system metrics sampler logs through this, with steps of its own.
        """
        ts = time.time_ns() // 1_000_000
        points = []
        known = self._known_keys
        for key, value in metrics.items():
            if key not in known:
                known.add(check_key(key, "metric"))
            kind = type(value)
            if kind is float:
                number = value
            elif kind is int and -MAX_EXACT <= value <= MAX_EXACT:
                number = float(value)
            else:  # 10**400 does not fit a float64: refused here, before it reaches the sink
                number = metric_value(key, value)
            points.append((self._db_id, key, step, ts, number))
        self._sink.add(points)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record params (nested mappings become dotted keys); a param never changes value."""
        self._check_active("log params")
        flat = flatten(check_mapping(params, "params"))
        if flat:
            self._writer.log_params(self._db_id, flat)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (string values; later calls replace a tag's value)."""
        check_tags(check_mapping(tags, "tags"), key_length=MAX_KEY_LENGTH)
        values = tag_values(tags)
        if values:
            self._writer.set_tags(self._db_id, values)

    def log_artifact(self, path: str | Path, name: str | None = None) -> list[ArtifactEntry]:
        """Store a file or a folder (recursively) as artifacts of the run under ``name``."""
        self._check_active("log artifacts")
        source = check_path(path, "artifact source path")
        if not source.exists():
            raise InvalidInputError(f"cannot log {source}: no such file or folder")
        base = _artifact_name(name if name is not None else source.name)
        if source.is_dir():
            # A link is read as the file it points to inside the folder, else refused
            # (decision 0011): a link out of the folder must not store an outside secret.
            found = sorted(p for p in source.rglob("*") if p.is_symlink() or p.is_file())
            pairs = [
                (
                    Path(followed_link(str(f), str(source))[0]) if f.is_symlink() else f,
                    f"{base}/{f.relative_to(source).as_posix()}",
                )
                for f in found
            ]
        else:
            pairs = [(source, base)]
        since = self._writer.watermark()  # before any object is looked for (gc may run)
        entries = []
        for file, artifact_path in track(pairs, len(pairs), f"storing {base}"):
            stored = self._store.artifacts.put_file(file)
            entries.append(ArtifactEntry(artifact_path, stored.digest, stored.size))
        sources = {entry.digest: file for (file, _), entry in zip(pairs, entries, strict=True)}
        self._record(entries, since, lambda gone: _store_again(self._store, sources, gone))
        return entries

    def log_bytes(self, data: bytes, name: str) -> ArtifactEntry:
        """Store ``data`` as the artifact ``name``."""
        self._check_active("log artifacts")
        artifact_path = _artifact_name(name)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInputError(
                f"artifact {name!r:.60} must be bytes, got {type(data).__name__}"
            )
        since = self._writer.watermark()  # before the object is looked for (gc may run)
        stored = self._store.artifacts.put_bytes(data)
        entry = ArtifactEntry(artifact_path, stored.digest, stored.size)
        self._record([entry], since, lambda _gone: self._store.artifacts.put_bytes(data))
        return entry

    def log_text(self, text: str, name: str) -> ArtifactEntry:
        """Store ``text`` (UTF-8) as the artifact ``name``."""
        _artifact_name(name)
        if not isinstance(text, str):
            raise InvalidInputError(
                f"the text of artifact {name!r:.60} must be a str, got {type(text).__name__}; "
                "log bytes or files with log_artifact"
            )
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInputError(
                f"the text of artifact {name!r:.60} is not valid Unicode (it holds a lone "
                "surrogate such as '\\ud800'); decode it properly, e.g. with errors='replace'"
            ) from None
        return self.log_bytes(data, name)

    def log_dict(self, data: Mapping[str, Any], name: str) -> ArtifactEntry:
        """Store ``data`` as JSON, or YAML when ``name`` ends in .yaml or .yml."""
        _artifact_name(name)
        try:
            if name.endswith((".yaml", ".yml")):
                import yaml

                text = yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False)
            else:
                text = json.dumps(data, indent=2, default=str)
        except (ValueError, TypeError, RecursionError) as exc:  # a cycle, a 5,000-digit int
            raise InvalidInputError(
                f"cannot write {name!r:.60} as JSON or YAML ({exc}); log plainer data"
            ) from None
        return self.log_text(text, name)

    def log_figure(self, figure: Any, name: str) -> ArtifactEntry:
        """Store a matplotlib or plotly figure (format from the extension of ``name``)."""
        suffix = Path(name).suffix.lower().lstrip(".")
        if hasattr(figure, "savefig"):  # matplotlib
            buffer = io.BytesIO()
            figure.savefig(buffer, format=suffix or "png", bbox_inches="tight")
            return self.log_bytes(buffer.getvalue(), name if suffix else f"{name}.png")
        if hasattr(figure, "to_html") and hasattr(figure, "to_image"):  # plotly
            if suffix in ("", "html"):
                html = figure.to_html(full_html=True, include_plotlyjs="cdn")
                return self.log_text(html, name if suffix else f"{name}.html")
            try:
                return self.log_bytes(figure.to_image(format=suffix), name)
            except (ValueError, ImportError) as exc:
                raise InvalidInputError(
                    f"plotly could not render {name!r} ({exc}); log it as .html, or install "
                    "kaleido for image formats"
                ) from None
        raise InvalidInputError(
            f"log_figure takes a matplotlib or plotly figure, got {type(figure).__name__}"
        )

    def end(self, status: str = "finished", error: str | None = None) -> None:
        """Flush the run's metrics and mark it ``finished`` (or ``failed``/``killed``)."""
        if status not in ("finished", "failed", "killed"):
            raise InvalidInputError(
                f"a run ends as 'finished', 'failed' or 'killed', not {show(status)}"
            )
        with self._end_lock:
            if self._ended:
                return
            self._ended = True
        if self._joined:  # its owner ends it: write what was logged here, then let go
            try:
                self._sink.flush()
            finally:
                with _exit.lock:
                    _exit.active.pop(self.id, None)
            return
        try:
            try:
                _implicit.finish(self, self._capturing)
            except Exception as exc:  # what was captured must never keep the run from ending
                logger.warning("could not finish capturing run %s: %s", self.id, exc)
            try:
                self._sink.flush()  # on failure the points stay buffered for the exit flush
            finally:
                self._writer.end(self._db_id, status, now_ms(), error)
                self._sink.unwatch(self._db_id)
        finally:
            with _exit.lock:
                _exit.active.pop(self.id, None)
            context.pop_run(self.id, self._tokens)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            self.end("finished")
        else:
            self.end(_exit.status_for(exc), _exit.describe_end(exc))

    def _check_active(self, what: str) -> None:
        if self._ended:
            raise RunStateError(f"run {self.id} has ended; start a new run to {what}")

    def _record(
        self, entries: list[ArtifactEntry], since: int, restore: Callable[[set[str]], Any]
    ) -> None:
        """Record stored objects as artifacts; ``since`` is the deletions watermark taken
        before they were stored, ``restore`` stores again those gc deleted meanwhile."""
        self._writer.record(self._db_id, entries, since, restore, now_ms())


def _store_again(store: Store, sources: Mapping[str, Path], gone: set[str]) -> None:
    """Store again the files whose objects gc deleted while they were being logged."""
    for digest, file in sources.items():
        if digest in gone and store.artifacts.put_file(file).digest != digest:
            raise InvalidInputError(
                f"{file} changed while it was being logged; log it again once it is complete"
            )


def _artifact_name(name: str) -> str:
    check_name(name, "artifact name", max_length=MAX_ARTIFACT_PATH)
    clean = name.replace("\\", "/").strip("/")
    parts = clean.split("/")
    if not clean or any(part in ("", ".", "..") for part in parts):
        raise InvalidInputError(
            f"artifact name {name!r} must be a relative path without '.' or '..' parts"
        )
    return clean


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def start_run(
    name: str | None = None,
    experiment: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    project_params: bool = True,
    capture: bool = True,
) -> Run:
    """Start a run (a child of the active run, if any) and make it the active run.

    ``params`` override the project's ``config.params`` for this run: the effective params
    are recorded and ``config.params`` shows them while the run is active. With
    ``project_params=False`` only ``params`` are: for a run that applies a model rather than
    trains one (``cairn predict``), which the project's training params do not describe.
    With ``capture=False`` the run records only what is logged to it (no git, machine,
    packages, output, system metrics or seed): for the many small child runs of one run
    (a grid search's candidates), which its parent's capture describes.
    """
    return _start(
        name,
        experiment,
        params,
        tags,
        launcher=False,
        project_params=project_params,
        capture=capture,
    )


def _start(
    name: str | None,
    experiment: str | None,
    params: Mapping[str, Any] | None,
    tags: Mapping[str, Any] | None,
    *,
    launcher: bool,
    project_params: bool = True,
    capture: bool = True,
) -> Run:
    """Start a run; a ``launcher`` (``cairn run``) records code and machine but not itself."""
    check_optional_mapping(params, "params")
    check_tags(tags, key_length=MAX_KEY_LENGTH)
    settings = get_settings()
    # Git answers from subprocesses: ask it now, while this thread opens the store and seeds
    # (not where this process may attach to a run cairn run started, which records no code).
    pending = None
    if capture and (settings.run_id is None or _attached):
        pending = _implicit.PendingFacts(settings, code=True, process=not launcher)
    store = get_store()
    _exit.install_hooks()
    parent_uid = context.current_run_id()
    with _exit.lock:
        parent = _exit.active.get(parent_uid) if parent_uid else None
        attach = settings.run_id if parent is None and not _attached else None
    if attach is not None:
        return _attach(store, attach, settings.seed)
    inherited = context.params_override()
    base = inherited if inherited is not None else settings.params
    if not project_params:
        base = {}
    effective = _merge(base, params or {})
    recorded = flatten(effective if settings.capture.params else dict(params or {}))
    experiment_name = experiment or (parent.experiment if parent else settings.experiment)
    uid = new_id()
    run_label = name or run_name()
    user = current_user()
    start = now_ms()
    tagged = tag_values(tags or {})
    if capture and settings.capture.seed and not launcher:  # a launcher's program: its own
        # Every run can be replayed: one never seeded by its program gets a random seed.
        tagged["cairn.seed"] = str(ensure_seeded())
        tagged["cairn.seeded"] = ",".join(seeded_libraries())
    for text, what in ((run_label, "run name"), (experiment_name, "experiment name")):
        check_text(text, what)
        if not text.strip() or len(text) > MAX_NAME_LENGTH:
            raise InvalidInputError(
                f"{what} {text[:40]!r} must have 1 to {MAX_NAME_LENGTH} characters"
            )
    if pending is None and capture:
        pending = _implicit.PendingFacts(settings, code=True, process=not launcher)
    facts = pending.result() if pending is not None else _implicit.StartFacts()
    tagged = {**facts.tags, **tagged}  # the user's own tags win

    values = {
        "uid": uid,
        "name": run_label,
        "status": "running",
        "start_ms": start,
        "user": user,
        "host": this_host(),
        "pid": os.getpid(),
    }
    writer = writer_for(store)
    db_id = writer.create(
        values, experiment_name, parent._db_id if parent else None, recorded, tagged
    )
    run = Run(store, db_id, uid, run_label, experiment_name, parent.id if parent else None)
    run._tokens = context.push_run(uid, effective)
    with _exit.lock:
        _exit.active[uid] = run
    run._sink.watch(db_id)
    if capture:
        run._capturing = _implicit.begin(run, settings, facts, process=not launcher)
    return run


def _attach(store: Store, uid: str, seed_value: int | None) -> Run:
    """Become the process of a run started by ``cairn run`` (its id is in the settings)."""
    db_id, record = writer_for(store).lookup(uid)
    uid = record.id
    if record.status != "running":
        raise RunStateError(
            f"run {uid} (CAIRN_RUN_ID) has already ended as {record.status}; start the "
            "program without CAIRN_RUN_ID, or through 'cairn run'"
        )
    with _exit.lock:
        _attached.append(uid)
    settings = get_settings()
    # The launcher recorded the code and the machine; this process records itself.
    facts = _implicit.facts_at_start(settings, code=False, process=True)
    if seed_value is not None:
        # The launcher's seed, already applied at start-up (cairn run's sitecustomize) unless
        # Python skipped it (-S, -I): seeding again would replay the draws made before.
        value = current_seed()
        if value is None:
            value = seed(seed_value)
        facts.tags["cairn.seed"] = str(value)
        facts.tags["cairn.seeded"] = ",".join(seeded_libraries())
    run = Run(store, db_id, uid, record.name, record.experiment, record.parent_id)
    if facts.tags:
        run.set_tags(facts.tags)
    _implicit.claim(run)
    run._tokens = context.push_run(uid, None)
    with _exit.lock:
        _exit.active[uid] = run
    run._sink.watch(db_id)
    # The launcher owns the command's pipes and samples its processes: no mirror, no sampler.
    run._capturing = _implicit.begin(run, settings, facts, process=True, launched=True)
    return run


def join_run(uid: str) -> Run:
    """Log to the running run ``uid`` that another process started and will end (a pipeline
    step in a worker): the returned run is active here; ``end()`` writes what was logged
    here and lets go, leaving the run's status to its owner."""
    store = get_store()
    db_id, record = writer_for(store).lookup(uid)
    uid = record.id
    if record.status != "running":
        raise RunStateError(f"run {uid} has already ended as {record.status}")
    run = Run(store, db_id, uid, record.name, record.experiment, record.parent_id)
    run._joined = True
    with _exit.lock:
        _exit.active[uid] = run
    return run


def active_run() -> Run | None:
    """Return the innermost active run, or None (inside a pipeline step: the step's run)."""
    uid = context.current_run_id()
    with _exit.lock:
        run = _exit.active.get(uid) if uid else None
    if run is None and uid is not None and context.is_joinable(uid):
        run = join_run(uid)  # a step's run, which the pipeline's coordinator owns
    return run


def leave_joined_run(uid: str) -> None:
    """Write what a step logged to its run (joined on first use) and let go of it."""
    with _exit.lock:
        run = _exit.active.get(uid)
    if run is not None and run._joined:
        run.end()


def current_run() -> Run:
    """Return the active run, starting one when none is active."""
    run = active_run()
    if run is None:
        run = start_run()
        if run.id == get_settings().run_id:
            logger.info("logging to run %s (%s), started by cairn run", run.id, run.name)
        else:
            logger.info("started run %s (%s) for logging", run.id, run.name)
    return run


def end_run(status: str = "finished") -> None:
    """End the innermost active run."""
    run = active_run()
    if run is None:
        raise RunStateError("no run is active; start one with cairn.run() or cairn.start_run()")
    run.end(status)


def log(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Record metrics in the active run (one is started if none is active)."""
    current_run().log(metrics, step)


def log_params(params: Mapping[str, Any]) -> None:
    """Record params in the active run."""
    current_run().log_params(params)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set tags on the active run."""
    current_run().set_tags(tags)


def log_artifact(path: str | Path, name: str | None = None) -> list[ArtifactEntry]:
    """Store a file or folder as artifacts of the active run."""
    return current_run().log_artifact(path, name)


def log_text(text: str, name: str) -> ArtifactEntry:
    """Store text as an artifact of the active run."""
    return current_run().log_text(text, name)


def log_dict(data: Mapping[str, Any], name: str) -> ArtifactEntry:
    """Store a mapping as JSON or YAML in the active run."""
    return current_run().log_dict(data, name)


def log_figure(figure: Any, name: str) -> ArtifactEntry:
    """Store a matplotlib or plotly figure in the active run."""
    return current_run().log_figure(figure, name)
