"""Adaptive batching: concurrent requests for one model become one predict call.

One dispatcher task per model takes every request queued while the model was busy (up to
``max_batch_size`` rows; optionally waiting up to ``max_latency_ms`` for more), runs one
predict on the model's own inference thread (off the event loop), and scatters exactly one
result per row back to its request.

If the batch fails, it is bisected: one half is scored; a half that succeeds is answered at
once, and a half known to fail is split again, so one bad request among N costs about
log2(N) + 1 extra calls on ever smaller batches, and the requests batched with it are answered
normally. When one request holds a clearly odd value (``_suspect``), the others are scored
without it first, and it alone: 2 calls.

A request that fails alone is judged by whether the model works right now: if the
model answered other rows during this search, or answers a known-good input (rows it answered
before, else its logged input example) when asked, the rows are at fault and the request is
refused (``RowsRefused``: 422, never the fallback); otherwise the model is at fault, and the
fallback answers it (flagged, counted), or it fails with ``ModelUnavailable`` (503). A missed
``timeout_ms`` is the model's fault too.

A shadow model (``set_shadow``) scores a copy of every answered batch after the answers are
sent (``_shadow.Shadow``): logged, never returned.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from cairn.core.logging import logger
from cairn.core.threads import leave_signals_to_main_thread
from cairn.registry import LoadedModel, Signature
from cairn.serving._shadow import Shadow
from cairn.serving._suspect import suspect
from cairn.serving.metrics import ServerMetrics
from cairn.serving.prediction_log import LoggedBatch, PredictionLog
from cairn.serving.requests import FLOAT32_MAX


@dataclass(frozen=True)
class BatchOptions:
    """How one model's requests are batched and guarded."""

    max_batch_size: int = 256  # rows per predict call
    max_latency_ms: float = 0.0  # extra wait for more rows; 0: dispatch as soon as free
    timeout_ms: float = 5000.0  # the primary's deadline, after which the fallback answers
    max_queue_rows: int | None = None  # load shedding (503) beyond this many waiting rows


@dataclass
class Served:
    """The model version a slot serves now (replaced whole on a hot swap)."""

    model: LoadedModel
    label: str  # churn/3, or the URI of an unregistered model
    # A few rows of the first request the model answered: the input of the health probe (the
    # logged example until then), which tells a model that is failing from rows it refuses.
    known_good: list[Any] | None = None
    answered_last: bool = False  # the last batch ended with the model working
    # Why the model refuses numbers beyond float32's range, once a refusal showed it does
    # (then such requests are refused as they are read); checked once per version.
    beyond_float32: str | None = None
    float32_checked: bool = False

    @property
    def version(self) -> int | None:
        """The registered version number."""
        return self.model.version


@dataclass
class Answer:
    """What one request gets back."""

    predictions: list[Any]
    probabilities: list[list[float]] | None
    classes: list[Any] | None
    served_by: str  # the label of the model version that answered
    fallback: bool
    reason: str | None = None  # why the fallback answered


class ModelUnavailable(Exception):
    """Neither the model nor a fallback could answer a request."""


class RowsRefused(Exception):
    """The model raised on a request's own rows while it answers other rows: the client's
    error (the message is the model's reason)."""

    def __init__(self, message: str, served_by: str) -> None:
        super().__init__(message)
        self.served_by = served_by


_Scored = tuple[list[Any], list[list[float]] | None, list[Any] | None]
# How scoring some requests ended: answered by the model, answered by the fallback after the
# model missed its deadline, or the model's exception (nothing answered).
_Outcome = Literal["answered", "late"] | Exception


class Overloaded(Exception):
    """Load shedding: too many rows are waiting."""


_KNOWN_GOOD_ROWS = 5  # rows kept to probe a model that logged no input example


@dataclass
class _Search:
    """What one bisection of a failed batch has learnt."""

    # True: the model answered some rows (or a known-good probe) during the search; False: it
    # failed the probe; None: not known yet.
    model_works: bool | None = None


@dataclass
class _Pending:
    rows: list[Any]
    want_proba: bool
    request_id: str
    future: asyncio.Future[Answer]
    alone: bool = False  # scored in a predict call of its own
    enqueued: float = field(default_factory=time.perf_counter)


class Batcher:
    """The batching queue and inference thread of one served model."""

    def __init__(
        self,
        name: str,
        slot: Served,
        fallback: Served | None,
        options: BatchOptions,
        metrics: ServerMetrics,
        log: PredictionLog | None,
    ) -> None:
        self.name = name
        self.slot = slot
        self.fallback = fallback
        self.options = options
        self._metrics = metrics
        self._queue_gauge = metrics.queue_depth.labels(name)
        self._batch_rows = metrics.batch_size.labels(name)
        self._log = log
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._carry: _Pending | None = None
        self._queued_rows = 0
        self._inference = ThreadPoolExecutor(
            1, f"cairn-infer-{name}", initializer=leave_signals_to_main_thread
        )
        self._fallback_thread = ThreadPoolExecutor(
            1, f"cairn-fallback-{name}", initializer=leave_signals_to_main_thread
        )
        self._task: asyncio.Task[None] | None = None
        self._shadow = Shadow(name, metrics, self._record, _infer)

    def start(self) -> None:
        """Start the dispatcher on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._dispatch())

    async def stop(self) -> None:
        """Answer everything queued, then stop."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        await self._shadow.stop()  # logged before the log closes
        self._inference.shutdown(wait=True)
        self._fallback_thread.shutdown(wait=True)

    def swap(self, served: Served) -> None:
        """Serve ``served`` from the next batch on (the batch running now finishes as it is)."""
        self.slot = served
        if served.version is not None:
            self._metrics.version.labels(self.name).set(served.version)

    @property
    def shadow(self) -> Served | None:
        """The model scoring a copy of each answered batch (None: none)."""
        return self._shadow.served

    def set_shadow(self, served: Served | None) -> None:
        """Shadow every answered batch with ``served`` from the next batch on (None: stop)."""
        self._shadow.served = served

    async def predict(
        self, rows: list[Any], *, want_proba: bool, request_id: str, alone: bool = False
    ) -> Answer:
        """Queue one request's rows and wait for its answer; ``alone``: score them in a
        predict call of their own (rows the model is likely to refuse)."""
        limit = self.options.max_queue_rows
        if limit is not None and self._queued_rows + len(rows) > limit:
            raise Overloaded(f"{self._queued_rows} rows are waiting for {self.name}")
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._queued_rows += len(rows)
        self._queue_gauge.set(self._queued_rows)
        await self._queue.put(_Pending(rows, want_proba, request_id, future, alone))
        return await future

    # -- the dispatcher ----------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            first = self._carry or await self._queue.get()
            self._carry = None
            if first is None:
                return
            batch, stop = await self._gather(first)
            size = sum(len(p.rows) for p in batch)
            self._queued_rows -= size
            self._queue_gauge.set(self._queued_rows)
            try:
                await self._run(batch)
            except Exception as exc:  # never let one batch stop the dispatcher
                logger.error("serving %s: a batch failed unexpectedly: %s", self.name, exc)
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(ModelUnavailable(str(exc)))
            if stop:
                return

    async def _gather(self, first: _Pending) -> tuple[list[_Pending], bool]:
        batch, rows = [first], len(first.rows)
        deadline = time.perf_counter() + self.options.max_latency_ms / 1000
        while rows < self.options.max_batch_size:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            if item is None:
                return batch, True
            if rows + len(item.rows) > self.options.max_batch_size:
                self._carry = item  # first in the next batch: order is kept
                break
            batch.append(item)
            rows += len(item.rows)
        return batch, False

    async def _run(self, batch: list[_Pending]) -> None:
        served = self.slot  # a swap during this batch applies from the next one
        search = _Search()
        # Requests holding numbers beyond float32's range are scored on their own, after the
        # others: many models compute in float32 and refuse them, and a refusal then costs
        # one small call instead of a search through everyone else's requests.
        regular = [p for p in batch if not p.alone]
        groups = ([regular] if regular else []) + [[p] for p in batch if p.alone]
        for group in groups:
            error = await self._attempt(served, group)
            if not isinstance(error, Exception):
                if error == "answered":
                    search.model_works = True
                continue
            if search.model_works is None and not served.answered_last:
                search.model_works = await self._answers_known_good(served)  # before searching
            await self._isolate(served, group, error, search, scored=True)
        served.answered_last = search.model_works is True

    async def _attempt(self, served: Served, batch: list[_Pending]) -> _Outcome:
        """Score ``batch`` and answer it; the model's exception when it raised (nothing is
        answered then). A missed deadline is answered by the fallback ("late")."""
        rows = [r for p in batch for r in p.rows]
        want_proba = served.model.has_proba and any(p.want_proba for p in batch)
        self._batch_rows.observe(len(rows))
        try:
            scored = await self._score(served, rows, want_proba)
        except asyncio.TimeoutError:
            await self._answer_with_fallback(batch, "deadline", "the model missed its deadline")
            return "late"
        except Exception as exc:
            return exc
        self._deliver(batch, served, scored)
        return "answered"

    async def _score(self, served: Served, rows: list[Any], want_proba: bool) -> _Scored:
        """One predict call on the inference thread, within the deadline."""
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._inference, _infer, served.model, rows, want_proba)
        return await asyncio.wait_for(asyncio.shield(work), self.options.timeout_ms / 1000)

    async def _isolate(
        self,
        served: Served,
        batch: list[_Pending],
        error: Exception,
        search: _Search,
        *,
        scored: bool,
    ) -> None:
        """Answer every request of ``batch``, known to fail with ``error`` (raised scoring
        exactly this batch when ``scored``, else a larger one): bisect it, so a request that
        fails does so alone, and the others are answered."""
        if search.model_works is False:  # the model broke during the search
            await self._model_failed(served, batch, error)
            return
        if len(batch) == 1:
            if not scored:
                alone = await self._attempt(served, batch)
                if not isinstance(alone, Exception):
                    if alone == "answered":
                        search.model_works = True
                    return
                error = alone
            await self._judge(served, batch[0], error, search)
            return
        odd = suspect([p.rows for p in batch]) if scored else None
        if odd is not None:  # one request stands out: the others without it, then it alone
            rest = batch[:odd] + batch[odd + 1 :]
            rest_error = await self._attempt(served, rest)
            if rest_error == "answered":
                search.model_works = True
            elif isinstance(rest_error, Exception):
                await self._isolate(served, rest, rest_error, search, scored=True)
            await self._isolate(served, [batch[odd]], error, search, scored=False)
            return
        middle = len(batch) // 2
        left, right = batch[:middle], batch[middle:]
        left_error = await self._attempt(served, left)
        if not isinstance(left_error, Exception):
            # The left half is answered, so the failure lies in the right half: split it
            # further without scoring it whole again.
            if left_error == "answered":
                search.model_works = True
            await self._isolate(served, right, error, search, scored=False)
            return
        right_error = await self._attempt(served, right)  # before judging the left half
        if right_error == "answered":
            search.model_works = True
        await self._isolate(served, left, left_error, search, scored=True)
        if isinstance(right_error, Exception):
            await self._isolate(served, right, right_error, search, scored=True)

    async def _judge(
        self, served: Served, pending: _Pending, error: Exception, search: _Search
    ) -> None:
        """One request that fails alone with ``error``: its rows are refused (422) when the
        model works right now, else the model is at fault (the fallback answers, or 503)."""
        if search.model_works is None:  # nothing proved it either way yet: ask once
            search.model_works = await self._answers_known_good(served)
        if not search.model_works:
            await self._model_failed(served, [pending], error)
            return
        if pending.alone and not served.float32_checked:  # before answering: once learnt,
            served.float32_checked = True  # the next such request is refused as it is read
            await self._check_float32(served, pending.rows, error)
        if not pending.future.done():  # counted where it is answered (kind "refused")
            pending.future.set_exception(
                RowsRefused(
                    f"the model {served.label} cannot score this request's rows: "
                    f"{type(error).__name__}: {error}",
                    served.label,
                )
            )

    async def _check_float32(self, served: Served, rows: list[Any], error: Exception) -> None:
        """Whether the model refuses exactly the numbers beyond float32's range (it computes
        in float32): ``rows``, which it refused, are answered with those numbers brought just
        inside the range and refused with them just outside. If so, later requests holding
        such numbers are refused as they are read, without a predict call."""
        try:
            await self._score(served, _clamped(rows, FLOAT32_MAX), False)
        except Exception:
            return  # something else in these rows is refused too: nothing learnt
        try:
            await self._score(served, _clamped(rows, _JUST_BEYOND_FLOAT32), False)
        except Exception:
            served.beyond_float32 = f"{type(error).__name__}: {error}"
            logger.info(
                "%s: %s refuses numbers beyond float32's range (%s); such requests are now "
                "refused as they are read",
                self.name,
                served.label,
                served.beyond_float32,
            )

    async def _model_failed(self, served: Served, batch: list[_Pending], error: Exception) -> None:
        """The model is at fault for ``batch``: the fallback answers it, or it fails (503)."""
        self._metrics.errors.labels(self.name, "model").inc(len(batch))
        await self._answer_with_fallback(batch, "error", f"{type(error).__name__}: {error}")

    async def _answers_known_good(self, served: Served) -> bool | None:
        """Whether the model answers, right now, an input it answered before (rows of a request
        it answered here, else its logged example); None when there is no such input."""
        probe = served.known_good or served.model.input_example
        if not probe:
            return None
        try:
            await self._score(served, list(probe), False)
        except Exception:  # a missed deadline included: the model is not working now
            return False
        return True

    def _deliver(self, batch: list[_Pending], served: Served, scored: _Scored) -> None:
        """Scatter one scored batch back to its requests and log it."""
        predictions, probabilities, classes = scored
        start = 0
        for pending in batch:
            end = start + len(pending.rows)
            if not pending.future.done():
                pending.future.set_result(
                    Answer(
                        predictions[start:end],
                        None if probabilities is None else probabilities[start:end],
                        classes,
                        served.label,
                        False,
                    )
                )
            start = end
        if served.known_good is None:
            served.known_good = batch[0].rows[:_KNOWN_GOOD_ROWS]
        self._record(batch, served, predictions, probabilities, classes, fallback=False)
        if self._shadow.served is not None:
            self._shadow.score(batch, [r for p in batch for r in p.rows])

    async def _answer_with_fallback(self, batch: list[_Pending], reason: str, why: str) -> None:
        loop = asyncio.get_running_loop()
        if self.fallback is None:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(
                        ModelUnavailable(
                            f"{self.slot.label} could not answer ({why}) and no "
                            "fallback model is configured (cairn serve --fallback)"
                        )
                    )
            return
        fallback = self.fallback
        for pending in batch:
            want = pending.want_proba and fallback.model.has_proba
            try:
                predictions, probabilities, classes = await loop.run_in_executor(
                    self._fallback_thread, _infer, fallback.model, pending.rows, want
                )
            except Exception as exc:
                self._metrics.errors.labels(self.name, "fallback").inc()
                if not pending.future.done():
                    pending.future.set_exception(
                        ModelUnavailable(
                            f"{self.slot.label} could not answer ({why}), nor could the fallback "
                            f"{fallback.label} ({type(exc).__name__}: {exc})"
                        )
                    )
                continue
            self._metrics.fallbacks.labels(self.name, reason).inc(len(pending.rows))
            if not pending.future.done():
                pending.future.set_result(
                    Answer(predictions, probabilities, classes, fallback.label, True, why)
                )
            self._record([pending], fallback, predictions, probabilities, classes, fallback=True)

    def _record(
        self,
        batch: list[_Pending],
        served: Served,
        predictions: list[Any],
        probabilities: list[list[float]] | None,
        classes: list[Any] | None,
        *,
        fallback: bool,
    ) -> None:
        if self._log is None:
            return
        rows = [r for p in batch for r in p.rows]
        request_ids = [p.request_id for p in batch for _ in p.rows]
        signature = served.model.signature
        dtypes = (
            {c.name: c.dtype for c in signature.columns}
            if signature is not None and signature.tensor is None
            else None
        )
        probas = None
        if probabilities is not None and classes is not None:
            probas = {str(c): [row[i] for row in probabilities] for i, c in enumerate(classes)}
        if not self._log.append(
            LoggedBatch(
                model=self.name,
                version=served.version,
                rows=[r if isinstance(r, dict) else {"input": r} for r in rows],
                predictions=predictions,
                request_ids=request_ids,
                fallback=[fallback] * len(rows),
                probabilities=probas,
                dtypes=dtypes,
            )
        ):
            self._metrics.log_dropped.labels(self.name).inc(len(rows))


def _infer(model: LoadedModel, rows: list[Any], want_proba: bool) -> _Scored:
    """One predict call on the inference thread: predictions (and probabilities) as lists."""
    import numpy as np
    import pandas as pd

    signature = model.signature
    prepared: Any = None
    if signature is not None and signature.tensor is None:
        prepared = _numeric_frame(signature, rows)
        data: Any = None
        if prepared is None:
            data = pd.DataFrame.from_records(rows, columns=[c.name for c in signature.columns])
            try:  # the rows passed check_rows: one vectorised cast is all they need
                prepared = data.astype(
                    {c.name: c.dtype for c in signature.columns if c.kind != "string"}
                )
            except (TypeError, ValueError):
                prepared = None
    elif rows and isinstance(rows[0], dict):
        data = pd.DataFrame.from_records(rows)
    else:
        data = np.asarray(rows)
    if prepared is None:
        prepared = model.prepare(data)
    raw = model.raw
    output = raw.predict(prepared)
    predictions = _as_list(output)
    if len(predictions) != len(rows):
        raise ValueError(f"the model returned {len(predictions)} predictions for {len(rows)} rows")
    probabilities = classes = None
    if want_proba:
        probabilities = np.asarray(raw.predict_proba(prepared)).tolist()
        labels = getattr(raw, "classes_", None)
        classes = (
            np.asarray(labels).tolist()
            if labels is not None
            else list(range(len(probabilities[0]) if probabilities else 0))
        )
    return predictions, probabilities, classes


_JUST_BEYOND_FLOAT32 = 3.5e38


def _clamped(rows: list[Any], bound: float) -> list[Any]:
    """``rows`` with every number beyond float32's range replaced by ``bound`` (its sign
    kept)."""

    def fix(value: Any) -> Any:
        if type(value) is float and not -FLOAT32_MAX <= value <= FLOAT32_MAX:
            return math.copysign(bound, value)
        return value

    out: list[Any] = []
    for row in rows:
        if isinstance(row, dict):
            out.append({k: fix(v) for k, v in row.items()})
        elif isinstance(row, list):
            out.append([fix(v) for v in row])
        else:
            out.append(row)
    return out


def _numeric_frame(signature: Signature, rows: list[Any]) -> Any:
    """The rows as one NumPy block in a DataFrame, when every column has the same numeric
    dtype (most tabular models): about ten times cheaper than building it column by column
    and casting, and all of it is time the inference thread holds the interpreter. None when
    the columns differ, or a value does not fit (the general path then says why)."""
    import numpy as np
    import pandas as pd

    columns = signature.columns
    dtypes = {c.dtype for c in columns}
    if len(dtypes) != 1 or columns[0].kind not in ("float", "integer"):
        return None
    names = tuple(c.name for c in columns)
    try:  # check_rows let through numbers only (whole ones for integer columns)
        values = np.array([[row[n] for n in names] for row in rows], dtype=columns[0].dtype)
    except (TypeError, ValueError, KeyError, OverflowError):
        return None
    return pd.DataFrame(values, columns=_column_index(names), copy=False)


@functools.lru_cache(maxsize=64)
def _column_index(names: tuple[str, ...]) -> Any:
    import pandas as pd

    return pd.Index(list(names), dtype=object)


def _as_list(output: Any) -> list[Any]:
    import numpy as np

    if hasattr(output, "to_dict") and hasattr(output, "columns"):  # a DataFrame per row
        return list(output.to_dict(orient="records"))
    return list(np.asarray(output).tolist())
