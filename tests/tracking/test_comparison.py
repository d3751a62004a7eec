"""get_runs, differing_keys and grouped_series: runs side by side and averaged by a param."""

from __future__ import annotations

import numpy as np
import pytest

from cairn.core.errors import InvalidInputError, NotFoundError
from cairn.store import Store
from cairn.tracking import differing_keys, get_runs, grouped_series, start_run

pytestmark = pytest.mark.usefixtures("quiet_capture")

LOSSES = {
    ("adam", 0): [1.0, 0.8, 0.6, 0.5, 0.4],
    ("adam", 1): [1.2, 0.9, 0.7, 0.4, 0.3],
    ("sgd", 0): [1.0, 0.95, 0.9, 0.85, 0.8],
    ("sgd", 1): [1.4, 1.1, 1.0, 0.9, 0.9],
}


def make_runs() -> dict[tuple[str, int], str]:
    """Four runs: two optimisers, two seeds each, a loss over 5 steps."""
    ids = {}
    for (opt, seed), losses in LOSSES.items():
        run = start_run(name=f"{opt}-{seed}", params={"opt": opt, "lr": 0.1})
        run.set_tags({"cairn.seed": str(seed)})
        for step, loss in enumerate(losses):
            run.log({"loss": loss}, step=step)
        run.end()
        ids[(opt, seed)] = run.id
    return ids


def test_groups_hold_the_mean_and_std_of_their_runs_at_each_step(store: Store) -> None:
    """Grouping by a param gives one group per value with numpy's mean and std per step."""
    ids = make_runs()
    groups = grouped_series(list(ids.values()), "loss", "opt")
    assert [g.value for g in groups] == ["adam", "sgd"]
    for group in groups:
        table = np.array([LOSSES[(group.value, s)] for s in (0, 1)])
        assert group.x == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert np.allclose(group.mean, table.mean(axis=0))
        assert np.allclose(group.std, table.std(axis=0))
        assert group.count == [2] * 5
        assert sorted(group.run_ids) == sorted(ids[(group.value, s)] for s in (0, 1))
        assert group.label == f"opt={group.value} (2 runs)"


def test_runs_logged_at_other_steps_are_interpolated_inside_their_own_range(
    project: object,
) -> None:
    """A run logged at steps 0 and 10 counts at step 5 (interpolated), not past step 10."""
    a = start_run(name="a", params={"opt": "x"})
    a.log({"loss": 0.0}, step=0)
    a.log({"loss": 10.0}, step=10)
    a.end()
    b = start_run(name="b", params={"opt": "x"})
    for step in (0, 5, 20):
        b.log({"loss": 2.0}, step=step)
    b.end()
    (group,) = grouped_series([a.id, b.id], "loss", "opt")
    assert group.x == [0.0, 5.0, 10.0, 20.0]
    assert group.mean == [1.0, 3.5, 6.0, 2.0]
    assert group.count == [2, 2, 2, 1]


def test_differing_keys_name_exactly_the_params_that_differ(store: Store) -> None:
    """``opt`` differs across the runs and ``lr`` does not; a missing key counts as differing."""
    ids = make_runs()
    records = get_runs(list(ids.values()))
    assert [r.id for r in records] == list(ids.values())
    assert differing_keys(records, "params") == ["opt"]
    assert differing_keys(records, "metrics") == ["loss"]
    extra = start_run(name="extra", params={"opt": "adam", "lr": 0.1, "wd": 0.01})
    extra.end()
    both = get_runs([ids[("adam", 0)], extra.id])
    assert differing_keys(both, "params") == ["wd"]
    with pytest.raises(InvalidInputError, match="field"):
        differing_keys(records, "bogus")


def test_bad_requests_are_refused_with_a_reason(store: Store) -> None:
    """Unknown ids, too many ids, a missing param or metric and a bad x are clear errors."""
    ids = list(make_runs().values())
    with pytest.raises(NotFoundError, match="no run with id"):
        get_runs([ids[0], "0" * 26])
    with pytest.raises(InvalidInputError, match="too many"):
        get_runs(["x"] * 201)
    with pytest.raises(InvalidInputError, match="no run of these 4 has a param 'nope'"):
        grouped_series(ids, "loss", "nope")
    with pytest.raises(NotFoundError, match="metric"):
        grouped_series(ids, "acc", "opt")
    with pytest.raises(InvalidInputError, match="x axis"):
        grouped_series(ids, "loss", "opt", x="bogus")
    with pytest.raises(InvalidInputError):
        grouped_series(ids, "loss", "opt", points=10**30)
    for hostile in (["a\x00b"], ["a\ud800b"], [None], None, "one-id", [123]):
        with pytest.raises(InvalidInputError):
            get_runs(hostile)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        get_runs(["../../etc/passwd", "x" * 100_000])
