"""The model registry in client mode against real ``cairn server`` processes, on both stores:
log_model, load_model, aliases and their history, curation, roles, files the server lacks,
and a server that is down while a model is logged."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn import registry
from cairn.core.errors import (
    ArtifactNotFoundError,
    ModelNotFoundError,
    PermissionDeniedError,
    ServerUnavailableError,
)
from cairn.core.hashing import hash_bytes
from cairn.core.settings import configure, get_settings
from cairn.core.uris import ModelUri
from cairn.registry import _queries
from cairn.store import get_store
from cairn.store.lineage import INPUT, MODEL_VERSION, RUN, Node, edges_out_of
from tests.server.conftest import CAIRN, ServerProcess

pytestmark = pytest.mark.usefixtures("quiet_capture")


def _data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"age": rng.integers(18, 90, 60), "income": rng.normal(5e4, 1e4, 60)})
    return x, pd.Series((x["income"] > 5e4).astype(int), name="label")


def _fit(c: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression

    x, y = _data()
    return LogisticRegression(C=c).fit(x, y)


def _token(server: ServerProcess, user: str, role: str) -> str:
    """A token made on the server's store with ``cairn server token create``."""
    made = subprocess.run(
        [CAIRN, "server", "token", "create", "--user", user, "--role", role],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


@contextmanager
def _on_server_store(store_url: str) -> Iterator[None]:
    """Act as the server's own process (its store, no CAIRN_SERVER), then as the client again."""
    client = get_settings()
    configure(server=None, token=None, store=store_url)
    try:
        yield
    finally:
        configure(store=None, server=client.server, token=client.token)


def _client(server: ServerProcess, token: str | None) -> None:
    configure(store=None, server=server.url, token=token)


def _cli(server: ServerProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``cairn`` CLI as a client of ``server`` in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env.update(CAIRN_SERVER=server.url, CAIRN_TOKEN=token, COLUMNS="200")
    return subprocess.run(
        [CAIRN, *args], cwd=Path.cwd(), env=env, capture_output=True, text=True, timeout=60
    )


def test_log_and_load_models_and_move_aliases_in_client_mode(
    store_url: str,
    server_on: Callable[..., ServerProcess],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A version logged by a client is the one the server's Python API reports (and logging
    it warns of nothing); it loads by alias and by number, and from an export, and predicts as
    the original; alias moves record the token's user, and the CLI shows them."""
    server = server_on(store_url, auth=True)
    token = _token(server, "ana", "writer")
    _client(server, token)
    x, _ = _data()
    first, second = _fit(1.0), _fit(0.01)
    caplog.set_level(logging.DEBUG, logger="cairn")
    with cairn.run() as run:
        cairn.log({"auc": 0.9})
        logged = cairn.log_model(
            first, "churn", input_example=x.head(5), tags={"team": "risk"}, description="v1"
        )
        logged_2 = cairn.log_model(second, "churn", input_example=x.head(5))
    assert (logged.name, logged.version, logged.run_id, logged.user) == ("churn", 1, run.id, "ana")
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]
    assert (logged_2.version, logged_2.artifact_path) == (2, "model-2")
    assert logged.tags == {"team": "risk"} and logged.signature is not None
    move = registry.set_alias("churn", "champion", 1, reason="first")
    assert (move.from_version, move.to_version, move.user) == (None, 1, "ana")
    assert registry.set_alias("churn", "champion", 2).from_version == 1
    by_alias = cairn.load_model("models:/churn@champion")
    by_number = cairn.load_model("models:/churn/1")
    assert by_alias.version == 2 and by_number.version == 1
    np.testing.assert_array_equal(by_alias.predict(x), second.predict(x))
    np.testing.assert_array_equal(by_number.predict(x), first.predict(x))
    np.testing.assert_array_equal(by_number.predict_proba(x), first.predict_proba(x))
    exported = registry.export_model("models:/churn/1", tmp_path / "exported")
    np.testing.assert_array_equal(cairn.load_model(exported).predict(x), first.predict(x))
    client: dict[str, Any] = {
        "version": registry.get_model_version("churn/1"),
        "versions": registry.list_versions("churn"),
        "models": registry.list_models(),
        "history": registry.alias_history("churn"),
        "run_files": sorted(a.path for a in cairn.get_run(run.id).artifacts),
    }
    with _on_server_store(store_url):
        server_side: dict[str, Any] = {
            "version": registry.get_model_version("churn/1"),
            "versions": registry.list_versions("churn"),
            "models": registry.list_models(),
            "history": registry.alias_history("churn"),
            "run_files": sorted(a.path for a in cairn.get_run(run.id).artifacts),
        }
    assert client == server_side
    assert [(m.alias, m.from_version, m.to_version, m.user) for m in client["history"]] == [
        ("champion", None, 1, "ana"),
        ("champion", 1, 2, "ana"),
    ]
    assert client["version"] == logged and client["models"][0].aliases == {"champion": 2}
    for args in (["ls"], ["history", "churn"], ["show", "churn@champion"]):
        shown = _cli(server, token, "models", *args)
        assert shown.returncode == 0, shown.stderr
        assert "champion" in shown.stdout
    moved = _cli(server, token, "models", "alias", "churn", "champion", "1")
    assert moved.returncode == 0 and "version 2 -> 1" in moved.stdout, moved.stderr
    assert registry.get_model("churn").aliases == {"champion": 1}


def test_curation_lineage_and_promotion_through_the_server(
    store_url: str, server_on: Callable[..., ServerProcess]
) -> None:
    """Tags, descriptions, lineage, comparison, promotion by rule, and (admins) deleting and
    restoring a version work in client mode; a run that loads a version records it as input."""
    server = server_on(store_url, auth=True)
    _client(server, server.admin_token)
    x, _ = _data()
    with cairn.run() as run:
        cairn.log({"auc": 0.8})
        cairn.log_model(_fit(1.0), "churn", input_example=x.head(5))
    with cairn.run():
        cairn.log({"auc": 0.9})
        cairn.log_model(_fit(0.5), "churn", input_example=x.head(5))
    registry.set_model_tags("churn", {"owner": "risk"})
    registry.set_model_tags("churn/2", {"stage": "candidate"})
    registry.describe("churn", "churn model")
    registry.describe("churn/1", "baseline")
    assert registry.get_model("churn").tags == {"owner": "risk"}
    assert registry.get_model("churn").description == "churn model"
    assert registry.get_model_version("churn/2").tags == {"stage": "candidate"}
    assert registry.get_model_version("churn/1").description == "baseline"
    lineage = registry.model_lineage("churn/1")
    assert lineage.ref == "churn/1" and lineage.parents[0].ref == run.id
    assert lineage.parents[0].facts["metrics"]["auc"] == 0.8
    registry.set_alias("churn", "champion", 1)
    registry.set_alias("churn", "challenger", 2)
    compared = registry.compare_models("churn@champion", "churn@challenger")
    assert ("metrics", "auc", 0.8, 0.9) in compared.rows
    promoted = registry.promote("churn", require="metrics.auc >= champion.metrics.auc")
    assert promoted.moved and registry.get_model("churn").aliases["champion"] == 2
    registry.delete_alias("churn", "challenger")
    assert registry.delete_version("churn/1").deleted
    with pytest.raises(ModelNotFoundError, match="was deleted"):
        registry.get_model_version("churn/1")
    assert [v.version for v in registry.list_versions("churn")] == [2]
    assert not registry.restore_version("churn/1").deleted
    with cairn.run() as loading:
        cairn.load_model("churn@champion")
    with _on_server_store(store_url):
        db = get_store().db
        with db.read() as conn:
            version_id = _queries.resolve(conn, ModelUri("churn", version=2))
            run_db_id = _queries.run_db_id(conn, loading.id)
            edges = edges_out_of(conn, [Node(MODEL_VERSION, version_id)])
    assert [(e.dst, e.relation) for e in edges] == [(Node(RUN, run_db_id or 0), INPUT)]


def test_roles_and_files_the_server_lacks(
    store_url: str, server_on: Callable[..., ServerProcess]
) -> None:
    """A reader is refused logging and alias moves with a clear PermissionDeniedError, another
    writer may not register a version of someone else's run, and a version whose files were
    never uploaded is refused with nothing recorded."""
    server = server_on(store_url, auth=True)
    writer, reader = _token(server, "ana", "writer"), _token(server, "bo", "reader")
    _client(server, writer)
    x, _ = _data()
    with cairn.run() as run:
        cairn.log_model(_fit(), "churn", input_example=x.head(5))
    fake = hash_bytes(b"never uploaded")
    body = {
        "run_id": run.id,
        "artifact_path": "ghost",
        "flavor": "sklearn",
        "digest": fake,
        "files": [{"path": "cairn-model.json", "size": 14, "digest": fake}],
    }
    session = get_store().remote
    assert session is not None
    with pytest.raises(ArtifactNotFoundError, match="nothing was recorded"):
        session.call("POST", "/models/ghost/versions", body)
    with pytest.raises(ModelNotFoundError):
        registry.get_model("ghost")
    _client(server, _token(server, "cy", "writer"))
    other = get_store().remote
    assert other is not None
    with pytest.raises(PermissionDeniedError, match="belongs to 'ana'"):
        other.call("POST", "/models/ghost/versions", body)
    _client(server, reader)
    assert [v.version for v in registry.list_versions("churn")] == [1]
    with pytest.raises(PermissionDeniedError, match="reader role; this needs writer"):
        registry.set_alias("churn", "champion", 1)
    with (
        pytest.raises(PermissionDeniedError, match="reader role; this needs writer"),
        cairn.run(),
    ):
        cairn.log_model(_fit(), "churn", input_example=x.head(5))
    reader_session = get_store().remote
    assert reader_session is not None
    with pytest.raises(PermissionDeniedError, match="this needs writer"):
        reader_session.call("POST", "/models/churn/versions", {**body, "digest": fake})
    with _on_server_store(store_url):
        assert [v.version for v in registry.list_versions("churn")] == [1]
        assert registry.alias_history("churn") == []


def test_a_server_down_during_log_model_fails_clearly_and_records_no_version(
    store_url: str, server_on: Callable[..., ServerProcess]
) -> None:
    """With the server down, log_model raises ServerUnavailableError and registers nothing;
    the run's writes (the model's files among them) wait in the spool and arrive later."""
    server = server_on(store_url, auth=True)
    _client(server, server.admin_token)
    x, _ = _data()
    with cairn.run() as run:
        cairn.log({"auc": 0.9})
        server.stop()
        with pytest.raises(ServerUnavailableError, match="cannot reach the cairn server"):
            cairn.log_model(_fit(), "churn", input_example=x.head(5))
        with pytest.raises(ServerUnavailableError, match="was not registered"):
            cairn.log_model(_fit(), "churn", input_example=x.head(5), artifact_path="kept")
    session = get_store().remote
    assert session is not None and session.spool.own_pending() > 0
    server.start()
    assert session.drain(30) == 0
    record = cairn.get_run(run.id)
    assert record.status == "finished"
    assert "kept/cairn-model.json" in [a.path for a in record.artifacts]
    assert registry.list_models() == []
    with pytest.raises(ModelNotFoundError):
        registry.get_model_version("churn/1")
