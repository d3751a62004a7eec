"""The prediction log in client mode: a sealed file goes to the team's cairn server.

The file's bytes are uploaded by digest and the file is registered with the server's
``/prediction-logs`` route, both through the session's outbox: while the server cannot be
reached, the bytes and the registration wait in the client's spool (on disk, in order) and
are sent when it answers again, or by ``cairn sync``. The server registers a file once per
digest, so a registration sent twice lists it once.
"""

from __future__ import annotations

from pathlib import Path

from cairn.store import Store


def send_file(store: Store, parquet: Path, model: str, version: int | None, day: str) -> None:
    """Upload a sealed Parquet file and register it as part of ``model``'s log."""
    assert store.remote is not None
    stored = store.artifacts.put_file(parquet)  # kept in the spool while the server is down
    body = {"model": model, "version": version, "day": day, "digest": stored.digest}
    store.remote.post("/prediction-logs", body)
