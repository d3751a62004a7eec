"""runs_page: a search a page at a time, with the total and the keys, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn import tracking
from cairn.core.errors import FilterError, InvalidInputError
from cairn.core.settings import configure
from cairn.store import Store
from tests.server.conftest import server_on  # noqa: F401 (a fixture)


def _populate() -> list[str]:
    ids = []
    for i in range(5):
        with cairn.run(
            name=f"r{i}",
            experiment="paged" if i < 4 else "other",
            params={"lr": 0.1 * (i + 1), **({"only3": "x"} if i == 3 else {})},
            tags={"idx": str(i)},
        ) as run:
            cairn.log({"auc": 0.5 + i / 10, **({"extra": 1.0} if i == 4 else {})})
        ids.append(run.id)
    return ids


@pytest.mark.usefixtures("quiet_capture")
def test_a_page_has_its_runs_the_total_and_the_keys_of_all_matching_runs(store: Store) -> None:
    """Offset and limit pick the runs in order; total and keys cover every matching run."""
    ids = _populate()
    page = tracking.runs_page(order_by="metrics.auc ASC", offset=1, limit=2)
    assert [r.id for r in page.records] == ids[1:3]
    assert page.total == 5 and (page.offset, page.limit) == (1, 2)
    assert page.param_keys == ["lr", "only3"]
    assert page.metric_keys == ["auc", "extra"]
    assert page.tag_keys == ["idx"]
    narrowed = tracking.runs_page("metrics.auc < 0.75", experiment="paged", limit=10)
    assert narrowed.total == 3 and [r.id for r in narrowed.records] == ids[2::-1]
    assert narrowed.param_keys == ["lr"] and narrowed.metric_keys == ["auc"]
    beyond = tracking.runs_page(offset=50)
    assert beyond.records == [] and beyond.total == 5
    tracking.delete_runs([ids[0]])
    assert tracking.runs_page().total == 4
    assert tracking.runs_page(include_deleted=True).total == 5
    assert [r.id for r in tracking.iter_runs(order_by="metrics.auc", batch=2)] == ids[1:]


def test_bad_pages_and_searches_are_refused_clearly(store: Store) -> None:
    """A negative offset, a zero or huge limit and a broken filter raise with the reason."""
    _populate()
    with pytest.raises(InvalidInputError, match="offset"):
        tracking.runs_page(offset=-1)
    with pytest.raises(InvalidInputError, match="limit"):
        tracking.runs_page(limit=0)
    with pytest.raises(InvalidInputError, match="limit"):
        tracking.runs_page(limit=10**30)
    with pytest.raises(FilterError, match="position 14"):
        tracking.runs_page("metrics.auc > ")
    with pytest.raises(FilterError):
        tracking.runs_page(order_by="nope DESC")


@pytest.mark.usefixtures("quiet_capture")
def test_a_client_of_a_team_server_pages_the_same_way(
    project: Path,
    server_on: Callable[..., Any],  # noqa: F811 (the fixture imported above)
) -> None:
    """In client mode the page, total and keys are the same as on the server's store."""
    server = server_on(f"sqlite:///{project / 'team.db'}", auth=True)
    configure(server=server.url, token=server.admin_token)
    ids = _populate()
    page = tracking.runs_page(order_by="metrics.auc ASC", offset=1, limit=2)
    assert [r.id for r in page.records] == ids[1:3] and page.total == 5
    assert page.param_keys == ["lr", "only3"] and page.metric_keys == ["auc", "extra"]
    assert [r.id for r in tracking.iter_runs("params.lr > 0.35")] == ids[:2:-1]
