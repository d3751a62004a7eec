"""Client mode against a real server process: a run logged through the Python API arrives
whole on the server, on both stores."""

from __future__ import annotations

from collections.abc import Callable

import cairn
from cairn.core.settings import configure
from tests.server.conftest import ServerProcess


def test_a_run_logged_in_client_mode_arrives_whole(
    store_url: str, server_on: Callable[..., ServerProcess]
) -> None:
    """Params, tags, 10,000 points, NaN and an artifact logged by a client are on the server."""
    server = server_on(store_url, auth=True)
    configure(server=server.url, token=server.admin_token)
    with cairn.start_run(params={"lr": 0.1}, tags={"team": "nlp"}) as run:
        for step in range(10_000):
            run.log({"loss": 1 / (step + 1)}, step=step)
        run.log({"odd": float("nan")}, step=0)
        run.log_text("hello", "notes/hello.txt")
    record = cairn.get_run(run.id)
    assert record.status == "finished"
    assert record.params == {"lr": 0.1}
    assert record.tags["team"] == "nlp"
    assert record.user == "admin"
    assert len(record.metric_history["loss"]) == 10_000
    assert "notes/hello.txt" in [a.path for a in record.artifacts]
    found = cairn.search_runs(filter="params.lr = 0.1 and tags.team = 'nlp'")
    assert list(found["run_id"]) == [run.id]
