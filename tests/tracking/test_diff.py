"""diff_runs: what differs between two runs, section by section."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from cairn.core.errors import InvalidInputError, RunNotFoundError
from cairn.store import Store
from cairn.tracking import Difference, RunDiff, diff_runs, start_run

SEED_TAGS = {"cairn.seed": "42", "cairn.seeded": "random"}
PACKAGES = "# installed\nnumpy==1.26.4\nPyYAML==6.0.1\n\nrich==13.7.0\n"
GIT_DIFF = (
    "diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n"
    "@@ -1 +1 @@\n-lr = 0.1\n+lr = 0.2\n"
)


pytestmark = pytest.mark.usefixtures("quiet_capture")


def make_run(
    name: str,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    packages: str | None = PACKAGES,
    git_diff: str | None = None,
    metrics: Mapping[str, float] | None = None,
) -> str:
    """Start, fill and end a run; return its id."""
    run = start_run(name=name, params=dict(params or {"lr": 0.1}))
    run.set_tags({**SEED_TAGS, **(tags or {})})
    if packages is not None:
        run.log_text(packages, "cairn/packages.txt")
    if git_diff is not None:
        run.log_text(git_diff, "cairn/git.diff")
    if metrics:
        run.log(metrics)
    run.end()
    return run.id


def keyed(diff: RunDiff, section: str) -> dict[str, tuple[Any, Any]]:
    """The differences of one section as {key: (A, B)}."""
    return {d.key: (d.a, d.b) for d in diff.section(section).differences}


def test_identical_runs_are_the_same(project: Path) -> None:
    """Two runs with the same seed, params, code, packages, tags and metrics do not differ."""
    common: dict[str, Any] = {
        "params": {"lr": 0.1, "optim": {"name": "adam"}},
        "tags": {"team": "nlp", "cairn.git.commit": "abc123"},
        "git_diff": GIT_DIFF,
        "metrics": {"auc": 0.9},
    }
    a, b = make_run("a", **common), make_run("b", **common)
    diff = diff_runs(a, b[:12])
    assert (diff.run_a, diff.run_b, diff.name_a, diff.name_b) == (a, b, "a", "b")
    assert diff.section_names == [
        "seed",
        "params",
        "code",
        "packages",
        "environment",
        "tags",
        "metrics",
    ]
    assert diff.same and diff.same_setup
    assert diff.code_diff == "" and diff.code_diff_omitted == 0


def test_seed_and_params(project: Path) -> None:
    """A changed seed and params added, removed or changed are reported with both values."""
    a = make_run("a", params={"lr": 0.1, "epochs": 3, "dropout": 0.5})
    b = make_run("b", params={"lr": 0.2, "epochs": 3, "batch": 64}, tags={"cairn.seed": "7"})
    diff = diff_runs(a, b)
    assert keyed(diff, "seed") == {"cairn.seed": ("42", "7")}
    assert keyed(diff, "params") == {
        "batch": (None, 64),
        "dropout": (0.5, None),
        "lr": (0.1, 0.2),
    }
    changes = {d.key: d.change for d in diff.section("params").differences}
    assert changes == {"batch": "added", "dropout": "removed", "lr": "changed"}
    assert not diff.same and not diff.same_setup
    assert diff.section("packages").same and diff.section("code").same


def test_param_types_count(project: Path) -> None:
    """A param logged as 1 in one run and 1.0 or True in another differs."""
    a = make_run("a", params={"x": 1, "y": 1})
    b = make_run("b", params={"x": 1.0, "y": True})
    assert keyed(diff_runs(a, b), "params") == {"x": (1, 1.0), "y": (1, True)}


def test_packages_added_removed_changed_with_normalised_names(project: Path) -> None:
    """Packages are compared by PEP 503 name; comments and blank lines are ignored."""
    a = make_run(
        "a", packages="numpy==1.26.4\nPyYAML==6.0.1\nold-pkg==1.0\nTyping_Extensions==4.9\n"
    )
    b = make_run(
        "b",
        packages="# pip freeze\n\nnumpy==2.0.0\npyyaml==6.0.1\n"
        "New_Pkg==0.1\ntyping.extensions==4.9\n",
    )
    diff = diff_runs(a, b)
    assert diff.section("packages").differences == (
        Difference("New_Pkg", None, "0.1"),
        Difference("numpy", "1.26.4", "2.0.0"),
        Difference("old-pkg", "1.0", None),
    )
    assert [d.change for d in diff.section("packages").differences] == [
        "added",
        "changed",
        "removed",
    ]


def test_packages_recorded_by_one_run_only(project: Path) -> None:
    """A run without a package list gives one row, not one per package of the other run."""
    a, b = make_run("a"), make_run("b", packages=None)
    assert keyed(diff_runs(a, b), "packages") == {"cairn/packages.txt": ("3 packages", None)}
    assert diff_runs(b, b).same


def test_differing_git_diffs_give_a_diff_of_diffs(artifacts: Store) -> None:
    """Different uncommitted changes are reported and kept as a unified diff of the two."""
    a = make_run("a", git_diff=GIT_DIFF)
    b = make_run("b", git_diff=GIT_DIFF.replace("lr = 0.2", "lr = 0.3"))
    diff = diff_runs(a, b)
    assert [d.key for d in diff.section("code").differences] == ["cairn/git.diff"]
    lines = diff.code_diff.splitlines()
    assert lines[:2] == [f"--- {a}/cairn/git.diff", f"+++ {b}/cairn/git.diff"]
    assert "-+lr = 0.2" in lines and "++lr = 0.3" in lines
    assert diff.code_diff_omitted == 0 and not diff.same_setup


def test_git_diff_of_one_run_only_and_truncation(project: Path) -> None:
    """A diff against none shows all of it; a long one is cut with the count of lines left out."""
    long_diff = "".join(f"+line {i}\n" for i in range(50))
    a, b = make_run("a", git_diff=long_diff), make_run("b")
    diff = diff_runs(a, b)
    code = keyed(diff, "code")
    assert code["cairn/git.diff"][1] is None and "bytes" in code["cairn/git.diff"][0]
    assert "-+line 49" in diff.code_diff.splitlines()
    short = diff_runs(a, b, max_diff_lines=10)
    assert len(short.code_diff.splitlines()) == 10
    total = len(diff_runs(a, b, max_diff_lines=None).code_diff.splitlines())
    assert short.code_diff_omitted == total - 10 > 0


def test_code_environment_and_other_tags(project: Path) -> None:
    """Git and command tags go to code, machine tags to environment, the rest to tags."""
    a = make_run(
        "a",
        tags={"cairn.git.commit": "aaa", "cairn.host": "gpu-1", "team": "nlp", "cairn.x": "1"},
    )
    b = make_run(
        "b",
        tags={
            "cairn.git.commit": "bbb",
            "cairn.git.dirty": "true",
            "cairn.host": "gpu-2",
            "cairn.python": "3.12.1",
            "team": "cv",
        },
    )
    diff = diff_runs(a, b)
    assert keyed(diff, "code") == {
        "cairn.git.commit": ("aaa", "bbb"),
        "cairn.git.dirty": (None, "true"),
    }
    assert keyed(diff, "environment") == {
        "cairn.python": (None, "3.12.1"),
        "cairn.host": ("gpu-1", "gpu-2"),
    }
    assert [d.key for d in diff.section("environment").differences] == [
        "cairn.python",
        "cairn.host",
    ]
    assert keyed(diff, "tags") == {"cairn.x": ("1", None), "team": ("nlp", "cv")}
    assert diff.section("seed").same and diff.section("params").same


def test_metrics_differ_but_system_metrics_are_ignored(project: Path) -> None:
    """Latest metric values that differ are listed; system/* metrics never are."""
    a = make_run("a", metrics={"auc": 0.8, "loss": 0.3, "system/cpu_percent": 12.0})
    b = make_run("b", metrics={"auc": 0.9, "loss": 0.3, "system/cpu_percent": 55.0})
    diff = diff_runs(a, b)
    assert keyed(diff, "metrics") == {"auc": (0.8, 0.9)}
    assert diff.same_setup and not diff.same


def test_unknown_and_ambiguous_ids(project: Path) -> None:
    """An unknown id or a prefix matching several runs is refused with a message."""
    a, b = make_run("a"), make_run("b")
    with pytest.raises(RunNotFoundError, match="no run with id"):
        diff_runs(a, "nosuchrun")
    prefix = next(a[:n] for n in range(len(a), 0, -1) if b.startswith(a[:n]))
    assert len(prefix) >= 4  # ids start with their creation time
    with pytest.raises(InvalidInputError, match="several runs"):
        diff_runs(prefix, b)
