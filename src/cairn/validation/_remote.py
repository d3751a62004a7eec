"""Suites and results in client mode: the same operations as ``catalog``, through a cairn
server.

Saving a suite uploads its YAML by digest, then asks the server to register it, and answers
the version the server made (so it fails clearly while the server is down). A check's result
goes through the session's outbox instead (spooled while the server is down): its report is
uploaded by digest and the request carries the time the client made it, so a request sent
again from the spool is recorded once. Loading a suite reads its version from the server and
its text by digest (verified), exactly as a local load reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cairn.core.hashing import hash_bytes
from cairn.core.ids import now_ms
from cairn.store import Store
from cairn.store.remote import RemoteSession

if TYPE_CHECKING:
    from cairn.validation.catalog import SuiteVersion
    from cairn.validation.suite import Suite


def save_suite(session: RemoteSession, name: str, text: bytes) -> SuiteVersion:
    """Upload the suite's YAML (unless the server holds it) and register it as a version."""
    digest = hash_bytes(text)
    # Sent now, not through the outbox: the registration below needs the object there.
    missing = session.call("POST", "/artifacts/missing", {"digests": [digest]})["missing"]
    if digest in missing:
        session.call("PUT", f"/artifacts/{digest}", content=text)
    answer = session.call("POST", "/suites", {"name": name, "digest": digest})
    return _version(answer)


def load_suite(store: Store, ref: str) -> tuple[Suite, SuiteVersion]:
    """A stored suite (``name`` or ``name@vN``) from the server, and its version."""
    from cairn.validation.suite import Suite

    assert store.remote is not None
    answer = store.remote.call("GET", f"/suites/{quote(ref, safe='@')}")
    version = _version(answer["version"])
    text = store.artifacts.read_bytes(version.digest).decode()
    return Suite.from_yaml(text, version.ref), version


def record_result(
    store: Store,
    report: bytes,
    suite: SuiteVersion,
    target: str,
    dataset_version: str | None,
    run: str | None,
) -> None:
    """Upload the report and record the check, both through the outbox."""
    assert store.remote is not None
    stored = store.artifacts.put_bytes(report)
    body = {
        "suite": suite.name,
        "number": suite.number,
        "digest": stored.digest,
        "target": target,
        "dataset_version": dataset_version,
        "run": run,
        "created_ms": now_ms(),  # with the digest, what makes a replay recognisable
    }
    store.remote.post("/validation/results", body)


def results_of(store: Store, dataset_version: str) -> list[dict[str, object]]:
    """The checks recorded against a dataset version (``name@vN``), oldest first."""
    from cairn.core.checks import check_name

    assert store.remote is not None
    check_name(dataset_version, "dataset version", max_length=None)
    name, _, version = dataset_version.removeprefix("data:").partition("@")
    answer = store.remote.call(
        "GET",
        f"/datasets/{quote(name, safe='')}/validation",
        params={"version": version or "latest"},
    )
    return list(answer)


def _version(answer: Any) -> SuiteVersion:
    from cairn.validation.catalog import SuiteVersion

    return SuiteVersion(
        str(answer["name"]),
        int(answer["number"]),
        str(answer["digest"]),
        int(answer["created_ms"]),
        answer.get("source"),
    )
