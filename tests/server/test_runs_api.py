"""The runs and artifacts routes over HTTP against hostile and edge values, on both stores:
each is answered with a 4xx JSON error ``{"error": {"type", "message"}}`` (never a 5xx), and
nothing of a refused request is written, in the database or in the artifact store. Also the
idempotency a client's spool relies on: a run created twice, a batch sent twice, a run ended
twice."""

from __future__ import annotations

import copy
import gzip
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cairn.core.hashing import hash_bytes
from cairn.server.app import API_PREFIX, MAX_JSON_BODY, create_app
from cairn.server.auth import create_token
from cairn.store import Store
from cairn.store.db.schema import metadata, runs

with warnings.catch_warnings():
    # starlette asks for httpx2 at import; the client works the same on httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

A = API_PREFIX
UID = "a" * 26  # the run every test writes to
NEW = "b" * 26  # a run id not yet created
NOBODY = "z" * 26  # a run id never created
NUL = "a\x00b"
SURROGATE = "a\ud800b"  # json.dumps writes it as the escape "\ud800"
MB = "x" * 1_000_000
MAX_MESSAGE = 2_000  # an error quotes a value, never echoes all of it
CONTENT = b"the run's file"


@dataclass
class Api:
    """An in-process server (tokens on), a writer's headers and the project folder."""

    client: TestClient
    headers: dict[str, str]
    store: Store
    project: Path

    def post(self, url: str, body: Any, **headers: str) -> Any:
        """POST ``body`` (JSON-encoded unless bytes) to ``url`` as the writer."""
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        extra = {"content-type": "application/json", **headers}
        return self.client.post(url, content=content, headers={**self.headers, **extra})

    def state(self) -> tuple[dict[str, list[str]], set[str]]:
        """Every row of every table, and every file the server keeps besides its database."""
        rows = {}
        with self.store.db.read() as conn:
            for table in metadata.sorted_tables:
                rows[table.name] = sorted(repr(tuple(row)) for row in conn.execute(select(table)))
        files = {
            str(path.relative_to(self.project))
            for path in (self.project / ".cairn").rglob("*")
            if path.is_file() and not path.name.startswith("cairn.db")
        }
        return rows, files


@pytest.fixture
def api(store: Store, project: Path) -> Api:
    """A writer ``ann`` with a running run ``UID`` and the object ``CONTENT`` uploaded."""
    token = create_token(store.db, "ann", "writer")[0]
    api = Api(
        TestClient(create_app(auth=True)), {"Authorization": f"Bearer {token}"}, store, project
    )
    assert api.post(f"{A}/runs", run_body(UID)).status_code == 201
    upload = api.client.put(f"{A}/artifacts/{DIGEST}", content=CONTENT, headers=api.headers)
    assert upload.status_code == 200, upload.text
    return api


DIGEST = hash_bytes(CONTENT)


def run_body(uid: str = NEW) -> dict[str, Any]:
    """A valid body of ``POST /runs``."""
    return {
        "uid": uid,
        "experiment": "e",
        "name": "n",
        "start_ms": 1,
        "host": "h",
        "pid": 12,
        "params": {"p": ["1", True]},
        "tags": {"t": "v"},
    }


def batch_body(key: str = "k1") -> dict[str, Any]:
    """A valid batch: two points of ``m``, a param and a tag."""
    return {
        "key": key,
        "metrics": {"m": {"steps": [0, 1], "ts": [10, 11], "values": [1.0, 2.0]}},
        "params": {"q": ["text", False]},
        "tags": {"u": "w"},
    }


def assert_error(response: Any, *statuses: int) -> None:
    """A 4xx JSON error (one of ``statuses`` when given) with a short message."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert isinstance(error["type"], str) and isinstance(error["message"], str)
    assert 0 < len(error["message"]) <= MAX_MESSAGE, len(error["message"])


def with_value(base: dict[str, Any], where: str, value: Any) -> dict[str, Any]:
    """``base`` with the field at the dotted path ``where`` set to ``value``."""
    body = copy.deepcopy(base)
    *parents, last = where.split(".")
    target = body
    for part in parents:
        target = target[part]
    target[last] = value
    return body


TEXTS: list[tuple[str, Any]] = [
    ("nul", NUL),
    ("surrogate", SURROGATE),
    ("1MB", MB),
    ("int", 5),
    ("list", ["n"]),
]
NAMES: list[tuple[str, Any]] = [*TEXTS, ("empty", ""), ("blank", "  "), ("None", None)]
INTS: list[tuple[str, Any]] = [
    ("past-int64", 2**63),
    ("below-int64", -(2**63) - 1),
    ("huge", 10**30),
]
INTS += [("text", "soon"), ("fraction", 1.5), ("None", None), ("list", [1])]
PARAMS: list[tuple[str, Any]] = [
    ("nul-key", {NUL: ["1", True]}),
    ("surrogate-key", {SURROGATE: ["1", True]}),
    ("empty-key", {"": ["1", True]}),
    ("1MB-key", {MB: ["1", True]}),
    ("nul-value", {"p": [NUL, False]}),
    ("surrogate-value", {"p": [SURROGATE, False]}),
    ("invalid-json", {"p": ["{", True]}),
    ("deep-json", {"p": ["[" * 100_000 + "]" * 100_000, True]}),
    ("number-past-float64", {"p": ["1" + "0" * 5000, True]}),
    ("int-past-float64", {"p": ["1" + "0" * 400, True]}),
    ("not-a-pair", {"p": "x"}),
    ("three", {"p": ["1", True, 3]}),
    ("int-text", {"p": [1, True]}),
    ("list", ["p"]),
]
TAGS: list[tuple[str, Any]] = [
    ("nul-key", {NUL: "v"}),
    ("nul-value", {"t": NUL}),
    ("surrogate-key", {SURROGATE: "v"}),
    ("surrogate-value", {"t": SURROGATE}),
    ("empty-key", {"": "v"}),
    ("1MB-key", {MB: "v"}),
    ("int-value", {"t": 5}),
    ("list", ["t"]),
]
MALFORMED = [b"", b"{", b"[]", b'"x"', b"null", b"\x00\xff", b'{"uid": "a"' * 1000, b"{}"]


def create_cases() -> Iterator[tuple[str, Any]]:
    """Hostile bodies of ``POST /runs``."""
    base = run_body()
    for field in ("uid", "parent"):
        for label, value in [("traversal", "../x"), ("27-chars", "c" * 27), ("nul", NUL)]:
            yield f"{field}={label}", with_value(base, field, value)
    yield "uid=empty", with_value(base, "uid", "")
    for field in ("name", "experiment"):
        for label, value in NAMES:
            yield f"{field}={label}", with_value(base, field, value)
    for label, value in INTS:
        yield f"start_ms={label}", with_value(base, "start_ms", value)
    for label, value in [*INTS, ("past-int32", 2**31), ("negative", -1)]:
        if label != "None":  # a run may leave its pid out
            yield f"pid={label}", with_value(base, "pid", value)
    for label, value in TEXTS:
        yield f"host={label}", with_value(base, "host", value)
    for label, value in PARAMS:
        yield f"params={label}", with_value(base, "params", value)
    for label, value in TAGS:
        yield f"tags={label}", with_value(base, "tags", value)
    yield "unknown-field", with_value(base, "extra", 1)
    for raw in MALFORMED:
        yield f"raw={raw[:12]!r}", raw


def batch_cases() -> Iterator[tuple[str, Any]]:
    """Hostile bodies of ``POST /runs/{uid}/batch`` (each beside valid points and params)."""
    base = batch_body()
    for label, value in INTS:
        yield f"step={label}", with_value(base, "metrics.m.steps", [0, value])
        yield f"ts={label}", with_value(base, "metrics.m.ts", [10, value])
    for label, value in [("text", ["x", 1.0]), ("None", [None, 1.0]), ("list", [[1.0], 1.0])]:
        yield f"values={label}", with_value(base, "metrics.m.values", value)
    yield "lengths-differ", with_value(base, "metrics.m.ts", [10])
    for label, value in [("nul", NUL), ("surrogate", SURROGATE), ("empty", ""), ("1MB", MB)]:
        metrics = {**base["metrics"], value: {"steps": [0], "ts": [1], "values": [1.0]}}
        yield f"metric-key={label}", with_value(base, "metrics", metrics)
    yield "metrics=list", with_value(base, "metrics", [1.0])
    yield "series=list", with_value(base, "metrics.m", [[0], [1], [1.0]])
    for label, value in [*NAMES, ("slash", "a/b"), ("65-chars", "k" * 65)]:
        yield f"key={label}", with_value(base, "key", value)
    for label, value in PARAMS:
        yield f"params={label}", with_value(base, "params", value)
    for label, value in TAGS:
        yield f"tags={label}", with_value(base, "tags", value)
    for raw in MALFORMED:
        yield f"raw={raw[:12]!r}", raw


def write_cases() -> Iterator[tuple[str, str, Any]]:
    """Hostile bodies of the other writes of a run: end, claim, heartbeat."""
    end = {"status": "finished", "end_ms": 5, "error": None}
    for label, value in [("running", "running"), ("empty", ""), ("nul", NUL), ("int", 1)]:
        yield "end", f"status={label}", with_value(end, "status", value)
    for label, value in INTS:
        yield "end", f"end_ms={label}", with_value(end, "end_ms", value)
    for label, value in [("nul", NUL), ("surrogate", SURROGATE), ("int", 5), ("list", ["e"])]:
        yield "end", f"error={label}", with_value(end, "error", value)
        yield "end", f"fail-error={label}", {**with_value(end, "error", value), "fail": True}
    claim = {"host": "h", "pid": 3}
    for label, value in [*NAMES, ("past-int32", 2**31)]:
        if label not in ("1MB", "None", "list"):
            yield "claim", f"host={label}", with_value(claim, "host", value)
    for label, value in [*INTS, ("past-int32", 2**31), ("negative", -1)]:
        yield "claim", f"pid={label}", with_value(claim, "pid", value)
    for label, value in [("nul", [NUL]), ("traversal", ["../x"]), ("text", UID)]:
        yield "heartbeat", f"runs={label}", {"runs": value}
    yield "heartbeat", "runs=10001", {"runs": [UID] * 10_001}
    for route in ("end", "claim", "heartbeat"):
        for raw in MALFORMED:
            yield route, f"raw={raw[:12]!r}", raw


def artifact_cases() -> Iterator[tuple[str, Any]]:
    """Hostile entries of ``POST /runs/{uid}/artifacts``, each after a valid entry."""
    good = {"path": "good.txt", "digest": DIGEST, "size": len(CONTENT)}
    paths = ["../x", "/abs", "a/../../b", "a//b", "./a", "a/.", "a/", "..", ".", "a\\..\\b"]
    paths += ["", " ", NUL, SURROGATE, "x" * 1001]
    bad: list[tuple[str, dict[str, Any]]] = [(f"path={p[:12]!r}", {"path": p}) for p in paths]
    bad += [("path=int", {"path": 5}), ("path=None", {"path": None})]
    for digest in ["md5:" + "0" * 64, "blake3:" + "g" * 64, DIGEST.upper(), DIGEST[:-1], "", 5]:
        bad.append((f"digest={str(digest)[:12]!r}", {"digest": digest}))
    for label, size in [("negative", -1), ("past-int64", 2**63), ("text", "x"), ("None", None)]:
        bad.append((f"size={label}", {"size": size}))
    for label, change in bad:
        yield label, {"entries": [good, {**good, "path": "other.txt", **change}]}
    yield "entries=dict", {"entries": good}
    yield "entries=100001", {"entries": [good] * 100_001}
    for raw in MALFORMED:
        yield f"raw={raw[:12]!r}", raw


def _check_refused(api: Api, cases: Iterator[tuple[str, str, Any]]) -> None:
    """POST each (url, label, body): a 4xx JSON error, and nothing written."""
    before = api.state()
    problems = []
    for url, label, body in cases:
        response = api.post(url, body)
        try:
            assert_error(response)
        except AssertionError as exc:
            problems.append(f"{url} {label}: {exc}")
        if api.state() != before:
            problems.append(f"{url} {label}: the request wrote something")
            before = api.state()
    assert not problems, "\n".join(problems)


def test_hostile_run_creates_are_refused_whole(api: Api) -> None:
    """Each hostile create (NUL, lone surrogate, 1 MB, empty, wrong type, int64 overflow, a pid
    past 32 bits, bad JSON params, unknown parent, malformed JSON) is a 4xx and makes no run."""
    cases = [(f"{A}/runs", label, body) for label, body in create_cases()]
    cases.append((f"{A}/runs", "parent=unknown", with_value(run_body(), "parent", NOBODY)))
    _check_refused(api, iter(cases))
    assert api.post(f"{A}/runs", run_body()).status_code == 201  # the id was not taken


def test_hostile_batches_write_no_point(api: Api) -> None:
    """Each hostile batch is a 4xx and writes nothing: a step past int64 beside valid points
    writes none of them, nor the batch's params and tags, and its key stays unused."""
    _check_refused(api, ((f"{A}/runs/{UID}/batch", lb, body) for lb, body in batch_cases()))
    answer = api.post(f"{A}/runs/{UID}/batch", batch_body())
    assert answer.status_code == 200 and answer.json() == {"applied": True}
    run = api.client.get(f"{A}/runs/{UID}", headers=api.headers).json()
    assert [p[0] for p in run["metric_history"]["m"]] == [0, 1]
    assert run["params"] == {"p": 1, "q": "text"} and run["tags"] == {"t": "v", "u": "w"}


def test_hostile_ends_claims_and_heartbeats_change_nothing(api: Api) -> None:
    """Hostile ends, claims and heartbeats are each a 4xx and leave the run as it was."""
    urls = {"end": f"{A}/runs/{UID}/end", "claim": f"{A}/runs/{UID}/claim"}
    urls["heartbeat"] = f"{A}/runs/heartbeat"
    _check_refused(api, ((urls[route], lb, body) for route, lb, body in write_cases()))
    run = api.client.get(f"{A}/runs/{UID}", headers=api.headers).json()
    assert run["status"] == "running" and run["end_ms"] is None and run["error"] is None


def test_hostile_artifact_records_record_nothing(api: Api) -> None:
    """Traversal, absolute, empty or NUL paths, digests that are not blake3 hex and sizes that
    are no int64 are a 400 and record nothing, not even the valid entry beside them."""
    url = f"{A}/runs/{UID}/artifacts"
    _check_refused(api, ((url, label, body) for label, body in artifact_cases()))
    assert api.client.get(f"{A}/runs/{UID}", headers=api.headers).json()["artifacts"] == []


@pytest.mark.parametrize("path", ["../x", "/abs", "a/../../b"])
def test_traversal_paths_are_400(api: Api, path: str) -> None:
    """An artifact path that climbs out or is absolute is a 400 naming the path rule."""
    body = {"entries": [{"path": path, "digest": DIGEST, "size": len(CONTENT)}]}
    answer = api.post(f"{A}/runs/{UID}/artifacts", body)
    assert_error(answer, 400)
    assert "relative path" in answer.json()["error"]["message"]


def test_an_object_never_uploaded_is_not_recorded(api: Api) -> None:
    """Recording an artifact whose object the server lacks is a 404 (or 409) and records
    nothing, not even the uploaded entry beside it."""
    before = api.state()
    entries = [
        {"path": "good.txt", "digest": DIGEST, "size": len(CONTENT)},
        {"path": "lost.txt", "digest": hash_bytes(b"never sent"), "size": 10},
    ]
    answer = api.post(f"{A}/runs/{UID}/artifacts", {"entries": entries})
    assert_error(answer, 404, 409)
    assert "upload it first" in answer.json()["error"]["message"]
    assert api.state() == before


def test_uploads_that_do_not_match_their_digest_store_nothing(api: Api) -> None:
    """An upload whose bytes hash to another digest is a 400 and leaves the artifact store (and
    the server's staging folder) as it was; a digest that is not blake3 hex is a 400."""
    before = api.state()
    other = hash_bytes(b"something else")
    put = api.client.put(f"{A}/artifacts/{other}", content=CONTENT, headers=api.headers)
    assert_error(put, 400)
    assert not api.store.artifacts.exists(other)
    for digest in ["md5:" + "0" * 32, "blake3:" + "G" * 64, DIGEST.upper(), "blake3:00", "x"]:
        put = api.client.put(f"{A}/artifacts/{digest}", content=CONTENT, headers=api.headers)
        assert_error(put, 400)
        assert_error(api.client.get(f"{A}/artifacts/{digest}", headers=api.headers), 400)
    assert api.state() == before
    missing = api.client.get(f"{A}/artifacts/{other}", headers=api.headers)
    assert_error(missing, 404)
    assert str(api.project) not in missing.text  # the server's own paths stay on the server
    answer = api.post(f"{A}/artifacts/missing", {"digests": [DIGEST, other]})
    assert answer.json()["missing"] == [other]
    assert_error(api.post(f"{A}/artifacts/missing", {"digests": ["x"]}), 400)


@pytest.mark.parametrize("route", ["batch", "end", "claim", "artifacts", "get", "heartbeat"])
def test_unknown_run_ids_are_404(api: Api, route: str) -> None:
    """Writing to or reading a run id that was never created is a 404 that writes nothing."""
    before = api.state()
    bodies = {
        "batch": batch_body(),
        "end": {"status": "finished", "end_ms": 5},
        "claim": {"host": "h", "pid": 3},
        "artifacts": {"entries": [{"path": "f", "digest": DIGEST, "size": len(CONTENT)}]},
    }
    if route == "get":
        answer = api.client.get(f"{A}/runs/{NOBODY}", headers=api.headers)
    elif route == "heartbeat":
        answer = api.post(f"{A}/runs/heartbeat", {"runs": [UID, NOBODY]})
    else:
        answer = api.post(f"{A}/runs/{NOBODY}/{route}", bodies[route])
    assert_error(answer, 404)
    assert api.state() == before


@pytest.mark.parametrize("ref", ["%00", "%ED%A0%80", "..%2Fx", "x" * 60_000, "%20"])
def test_hostile_run_ids_in_the_path_are_4xx(api: Api, ref: str) -> None:
    """A NUL, an encoded lone surrogate, a traversal or a 60,000-character run id in the URL is
    a 4xx on reads and writes, and writes nothing."""
    before = api.state()
    assert_error(api.client.get(f"{A}/runs/{ref}", headers=api.headers))
    for route, body in [("batch", batch_body()), ("end", {"status": "killed", "end_ms": 1})]:
        assert_error(api.post(f"{A}/runs/{ref}/{route}", body))
    assert api.state() == before


def test_hostile_searches_are_4xx(api: Api) -> None:
    """Searches with a NUL, lone surrogate or 1 MB filter, bad orders or limits are a 4xx."""
    for body in [
        {"filter": NUL},
        {"filter": SURROGATE},
        {"filter": MB},
        {"filter": 5},
        {"order_by": [NUL]},
        {"order_by": "name"},
        {"order_by": [f"params.p{i} DESC" for i in range(1000)]},
        {"experiment": [SURROGATE]},
        {"limit": 0},
        {"limit": 2**63},
        {"limit": "all"},
        {"extra": 1},
    ]:
        assert_error(api.post(f"{A}/runs/search", body))


def _too_big() -> Iterator[bytes]:
    """A body just past the limit, in 1 MiB pieces (sent chunked, with no Content-Length)."""
    piece = b" " * (1 << 20)
    for _ in range((MAX_JSON_BODY >> 20) + 1):
        yield piece


def test_oversized_bodies_are_413_and_write_nothing(api: Api) -> None:
    """A body past 64 MiB is a 413, whether it says its length, is sent chunked, or is small
    gzip that inflates past the limit (a gzip bomb); gzip that is not gzip is a 4xx."""
    before = api.state()
    padded = json.dumps(batch_body()).encode() + b" " * MAX_JSON_BODY
    bomb = gzip.compress(padded, compresslevel=9)
    assert len(bomb) < MAX_JSON_BODY // 100
    for url in (f"{A}/runs", f"{A}/runs/{UID}/batch", f"{A}/runs/{UID}/artifacts"):
        assert_error(api.post(url, padded), 413)
        assert_error(api.post(url, bomb, **{"content-encoding": "gzip"}), 413)
        chunked = api.client.post(
            url, content=_too_big(), headers={**api.headers, "content-type": "application/json"}
        )
        assert_error(chunked, 413)
        for broken in (b"not gzip at all", bomb[: len(bomb) // 2], b""):
            assert_error(api.post(url, broken, **{"content-encoding": "gzip"}))
    assert api.state() == before
    small = gzip.compress(json.dumps(batch_body()).encode())
    answer = api.post(f"{A}/runs/{UID}/batch", small, **{"content-encoding": "gzip"})
    assert answer.status_code == 200 and answer.json() == {"applied": True}


def test_empty_strings_and_large_values_that_fit_are_kept(api: Api) -> None:
    """What a local run may write is accepted as sent: an empty or 1 MB tag or param value, an
    empty error, the int64 extremes as steps."""
    body = batch_body("edges")
    body["metrics"] = {"m": {"steps": [-(2**63), 2**63 - 1], "ts": [0, 1], "values": [1.0, 2.0]}}
    body["params"] = {"empty": ["", False], "big": [MB, False]}
    body["tags"] = {"empty": "", "big": MB}
    assert api.post(f"{A}/runs/{UID}/batch", body).status_code == 200
    run = api.client.get(f"{A}/runs/{UID}", headers=api.headers).json()
    assert [p[0] for p in run["metric_history"]["m"]] == [-(2**63), 2**63 - 1]
    assert run["params"]["empty"] == "" and run["params"]["big"] == MB
    assert run["tags"]["empty"] == "" and run["tags"]["big"] == MB


def test_writes_sent_twice_apply_once(api: Api) -> None:
    """The same run created twice is one run, the same batch key twice writes its points once,
    and ending an ended run changes nothing."""
    first = api.post(f"{A}/runs", run_body(NEW))
    again = api.post(f"{A}/runs", {**run_body(NEW), "name": "other", "tags": {"x": "y"}})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    with api.store.db.read() as conn:
        assert len(conn.execute(select(runs.c.id).where(runs.c.uid == NEW)).all()) == 1
    run = api.client.get(f"{A}/runs/{NEW}", headers=api.headers).json()
    assert run["name"] == "n" and run["tags"] == {"t": "v"}

    url = f"{A}/runs/{NEW}/batch"
    assert api.post(url, batch_body("same")).json() == {"applied": True}
    assert api.post(url, batch_body("same")).json() == {"applied": False}
    run = api.client.get(f"{A}/runs/{NEW}", headers=api.headers).json()
    assert [p[0] for p in run["metric_history"]["m"]] == [0, 1]

    end = f"{A}/runs/{NEW}/end"
    assert api.post(end, {"status": "finished", "end_ms": 50}).status_code == 200
    ended = api.client.get(f"{A}/runs/{NEW}", headers=api.headers).json()
    assert api.post(end, {"status": "killed", "end_ms": 99, "error": "late"}).status_code == 200
    assert api.client.get(f"{A}/runs/{NEW}", headers=api.headers).json() == ended
    assert ended["status"] == "finished" and ended["end_ms"] == 50


@pytest.mark.parametrize("route", ["delete", "restore"])
def test_hostile_deletes_and_restores_change_nothing(api: Api, route: str) -> None:
    """An admin's delete or restore naming a NUL, lone surrogate, empty, 1 MB or unknown run
    id (beside a real one) is a 4xx and deletes or restores nothing."""
    admin = create_token(api.store.db, "root", "admin")[0]
    headers = {"Authorization": f"Bearer {admin}", "content-type": "application/json"}
    if route == "restore":
        answer = api.client.post(f"{A}/runs/delete", json={"runs": [UID]}, headers=headers)
        assert answer.status_code == 200, answer.text
    before = api.state()
    for bad in [NUL, SURROGATE, "", MB, NOBODY, 5, None]:
        body = json.dumps({"runs": [UID, bad]}).encode()
        answer = api.client.post(f"{A}/runs/{route}", content=body, headers=headers)
        assert_error(answer)
        assert api.state() == before, bad
    assert_error(api.client.post(f"{A}/runs/{route}", content=b'{"runs": "x"}', headers=headers))


def test_a_batch_changing_a_logged_param_is_refused_whole(api: Api) -> None:
    """A batch that gives a logged param another value is a 409 that writes none of its points,
    params or tags, and leaves its key unused."""
    before = api.state()
    body = batch_body("conflict")
    body["params"] = {"p": ["2", True], "fresh": ["x", False]}  # p was logged as 1
    assert_error(api.post(f"{A}/runs/{UID}/batch", body), 409)
    assert api.state() == before
    body["params"] = {"p": ["1", True]}
    assert api.post(f"{A}/runs/{UID}/batch", body).json() == {"applied": True}
