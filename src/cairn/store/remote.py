"""Client mode: the HTTP session to a cairn server, its outbox and its offline spool.

With ``CAIRN_SERVER`` set, the store is this session instead of a database and a bucket: the
capabilities' remote modules call the server's API through it. Reads (``call``) answer or
raise. Writes go through the outbox (``post``): sent in order, at once while the server
answers; when it cannot be reached they go to the spool on disk instead, and a background
thread replays them as soon as it answers again. While anything is spooled, later writes
queue behind it, so the server sees every process's writes in the order they were made. The
training never waits for a server that is down longer than one connection attempt: after a
failure the session stays "down" for a back-off period and spools at once.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.core import errors
from cairn.core.errors import (
    ArtifactNotFoundError,
    AuthenticationError,
    CairnError,
    ServerError,
    ServerUnavailableError,
)
from cairn.core.logging import logger
from cairn.core.threads import start_thread
from cairn.core.user import current_user
from cairn.store.spool import Entry, Spool

if TYPE_CHECKING:
    import httpx

API = "/api/v1"
COMPRESS_FROM = 2048  # bytes of JSON body from which it is sent gzip-compressed
MAX_BACKOFF_S = 10.0
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 120.0


class RemoteSession:
    """A keep-alive HTTP session to one cairn server, with the token and the spool."""

    def __init__(self, url: str, token: str | None, spool_dir: Path) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.spool = Spool(spool_dir)
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._order = threading.Lock()  # one write at a time, in order
        self._down_until = 0.0
        self._backoff = 0.5
        self._replayer: threading.Thread | None = None
        self._replay_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.failures = 0  # requests that could not be delivered at once (and were spooled)
        self.rejected = 0  # spooled requests the server refused (kept aside, logged)
        self.last_error: str | None = None
        self._reported_left = 0

    def __repr__(self) -> str:
        return f"<RemoteSession {self.url}>"

    # -- plain calls ---------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    import httpx

                    headers = {"user-agent": "cairn-client", "accept-encoding": "gzip"}
                    if self._token:
                        headers["authorization"] = f"Bearer {self._token}"
                    user = current_user()
                    if user and user.isascii() and user.isprintable():
                        headers["x-cairn-user"] = user
                    self._client = httpx.Client(
                        base_url=self.url,
                        headers=headers,
                        timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
                        limits=httpx.Limits(max_keepalive_connections=8),
                    )
        return self._client

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return its JSON answer; raise the server's error as the same
        ``CairnError`` class, or ``ServerUnavailableError`` when it cannot be reached."""
        import httpx

        sent_headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            sent_headers["content-type"] = "application/json"
            if len(data) >= COMPRESS_FROM:
                data = gzip.compress(data, compresslevel=1)
                sent_headers["content-encoding"] = "gzip"
            content = data
        try:
            response = self._http().request(
                method, f"{API}{path}", params=params, content=content, headers=sent_headers
            )
        except httpx.HTTPError as exc:
            raise ServerUnavailableError(
                f"cannot reach the cairn server at {self.url}: {exc or type(exc).__name__}; "
                "check that it runs and that CAIRN_SERVER is right"
            ) from None
        return self._answer(response)

    @contextmanager
    def download(self, path: str) -> Iterator[Iterator[bytes]]:
        """Stream a response body (an artifact); errors as ``call`` raises them."""
        import httpx

        try:
            with self._http().stream("GET", f"{API}{path}") as response:
                if response.status_code >= 400:
                    response.read()
                    self._answer(response)
                yield response.iter_bytes(1 << 20)
        except httpx.HTTPError as exc:
            raise ServerUnavailableError(
                f"the download from the cairn server at {self.url} failed: {exc}; try again"
            ) from None

    def _answer(self, response: httpx.Response) -> Any:
        if response.status_code < 400:
            if not response.content:
                return None
            return response.json()
        try:
            error = response.json()["error"]
            kind, message = str(error["type"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            kind, message = "ServerError", response.text[:500] or response.reason_phrase
        if response.status_code >= 500:
            raise ServerUnavailableError(
                f"the cairn server at {self.url} failed ({response.status_code}): {message}"
            )
        cls = getattr(errors, kind, None)
        if not (isinstance(cls, type) and issubclass(cls, CairnError)):
            cls = ServerError
        raise cls(message)

    # -- the outbox ----------------------------------------------------------------------------

    def post(self, path: str, body: Any) -> None:
        """Deliver a write in order: now if the server answers, else through the spool."""
        self.send({"m": "POST", "p": path, "b": body})

    def send(self, entry: Entry) -> None:
        """Deliver a spoolable request (``post``, or an upload entry) in order."""
        with self._order:
            if self.spool.own_pending() == 0 and time.monotonic() >= self._down_until:
                try:
                    self._deliver(entry)
                    self._backoff = 0.5
                    return
                except ServerUnavailableError as exc:
                    self._went_down(exc)
            self.spool.append(entry)
        self._start_replayer()

    def upload(self, digest: str, source: Path | bytes) -> None:
        """Upload an artifact's bytes unless the server has them, in order with the writes;
        while the server is unreachable the bytes are kept in the spool."""
        with self._order:
            if self.spool.own_pending() == 0 and time.monotonic() >= self._down_until:
                try:
                    self.upload_object(digest, source)
                    return
                except ServerUnavailableError as exc:
                    self._went_down(exc)
            self.spool.keep_object(digest, source)
            self.spool.append({"upload": digest})
        self._start_replayer()

    def upload_object(self, digest: str, source: Path | bytes) -> None:
        """Upload an object now unless the server has it (straight to its bucket when it
        offers that for a large file); errors as ``call`` raises them."""
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        ask = {"digests": [digest], "sizes": [size]}
        answer = self.call("POST", "/artifacts/missing", ask)
        if digest not in answer["missing"]:
            return  # the server has these bytes: nothing to send
        direct = answer.get("uploads", {}).get(digest)
        if direct is not None and not isinstance(source, bytes):
            self._upload_direct(digest, source, direct)
        elif isinstance(source, bytes):
            self.call("PUT", f"/artifacts/{digest}", content=source)
        else:
            with open(source, "rb") as f:
                self.call("PUT", f"/artifacts/{digest}", content=f)

    def _upload_direct(self, digest: str, source: Path, offer: Mapping[str, str]) -> None:
        """Send the bytes straight to the bucket (the server signed the URL), then ask the
        server to verify and keep them."""
        import httpx

        try:
            with open(source, "rb") as f:
                answer = httpx.put(
                    offer["url"],
                    content=f,
                    headers={"content-length": str(source.stat().st_size)},
                    timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
                )
        except httpx.HTTPError as exc:
            raise ServerUnavailableError(f"the upload to the bucket failed: {exc}") from None
        if answer.status_code >= 300:
            raise ServerUnavailableError(
                f"the bucket refused the upload ({answer.status_code}): {answer.text[:300]}"
            )
        self.call("POST", f"/artifacts/{digest}/commit", {"staging": offer["staging"]})

    def _went_down(self, exc: Exception) -> None:
        self.failures += 1
        if self.last_error is None or time.monotonic() >= self._down_until:
            logger.warning(
                "the cairn server is unreachable; writes go to the spool in %s and are sent when "
                "it answers again (or run cairn sync): %s",
                self.spool.folder,
                exc,
            )
        self.last_error = str(exc)
        self._down_until = time.monotonic() + self._backoff
        self._backoff = min(MAX_BACKOFF_S, self._backoff * 2)

    def _deliver(self, entry: Entry) -> None:
        if "upload" in entry:
            self._deliver_upload(entry)
            return
        self.call(entry["m"], entry["p"], entry["b"])

    def _deliver_upload(self, entry: Entry) -> None:
        digest = entry["upload"]
        kept = self.spool.object_path(digest)
        if kept.exists():
            self.upload_object(digest, kept)
            kept.unlink(missing_ok=True)
        elif digest in self.call("POST", "/artifacts/missing", {"digests": [digest]})["missing"]:
            raise ArtifactNotFoundError(
                f"the spooled bytes of {digest} are gone from {kept.parent}; log the file again"
            )

    def _deliver_spooled(self, entry: Entry) -> None:
        try:
            self._deliver(entry)
        except ServerUnavailableError:
            raise
        except AuthenticationError as exc:  # the token, not the request: keep it all spooled
            raise ServerUnavailableError(
                f"the cairn server at {self.url} refused the token: {exc}"
            ) from None
        except CairnError as exc:  # refused for good: keep it aside, say so, go on
            self.rejected += 1
            self.last_error = f"the server refused a spooled request: {exc}"
            logger.error("%s (%s %s)", self.last_error, entry.get("m", "PUT"), entry.get("p", ""))
            rejected = self.spool.folder / "rejected.jsonl"
            with open(rejected, "a", encoding="utf-8") as out:
                out.write(json.dumps({"entry": entry, "error": str(exc)}) + "\n")

    def replay(self, *, own_only: bool = False) -> int:
        """Send what is spooled, in order; return how many requests were delivered (raises
        ``ServerUnavailableError`` when the server is still unreachable)."""
        with self._replay_lock:
            return self.spool.replay(self._deliver_spooled, own_only=own_only)

    def _start_replayer(self) -> None:
        with self._client_lock:
            if self._replayer is None or not self._replayer.is_alive():
                self._replayer = start_thread(self._replay_loop, "cairn-spool-replay")
        self._wake.set()

    def _replay_loop(self) -> None:
        pause = 0.5
        while not self._closed:
            try:
                self.replay()
            except ServerUnavailableError as exc:
                self.last_error = str(exc)
                self._wake.wait(pause)
                self._wake.clear()
                pause = min(MAX_BACKOFF_S, pause * 2)
                continue
            except Exception as exc:  # keep replaying; say what went wrong
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("unexpected error while replaying the spool (will retry)")
                time.sleep(pause)
                continue
            with self._order:
                if self.spool.own_pending() == 0:
                    self._down_until = 0.0
                    self._backoff = 0.5
                    logger.info("the cairn server answers again; the spool is sent")
                    return

    def drain(self, timeout_s: float) -> int:
        """Send this process's spooled requests while the server answers, for up to
        ``timeout_s`` (never waiting for a server that is down); return how many are still
        waiting, and say where they are."""
        deadline = time.monotonic() + timeout_s
        while self.spool.own_pending() and time.monotonic() < deadline:
            try:
                self.replay(own_only=True)
            except ServerUnavailableError:
                break
        left = self.spool.own_pending()
        if left and left != self._reported_left:
            self._reported_left = left
            logger.warning(
                "%d request(s) for %s wait in the spool (%s): they are sent when cairn next "
                "reaches the server, or run cairn sync",
                left,
                self.url,
                self.spool.folder,
            )
        return left

    def close(self) -> None:
        """Close the connections; what could not be sent stays spooled on disk."""
        self._closed = True
        self._wake.set()
        self.spool.close()
        if self._client is not None:
            self._client.close()
