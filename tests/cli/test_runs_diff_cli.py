"""The runs diff command: tables, JSON, the diff of uncommitted changes and bad input."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from cairn.cli.main import main
from cairn.tracking import start_run

PACKAGES = "numpy==1.26.4\nrich==13.7.0\n"


pytestmark = pytest.mark.usefixtures("quiet_capture")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def make_run(
    name: str,
    params: Mapping[str, Any],
    packages: str = PACKAGES,
    git_diff: str | None = None,
    auc: float = 0.9,
) -> str:
    """Start, fill and end a run; return its id."""
    run = start_run(name=name, params=dict(params))
    run.set_tags({"cairn.seed": "42", "cairn.seeded": "random"})
    run.log_text(packages, "cairn/packages.txt")
    if git_diff is not None:
        run.log_text(git_diff, "cairn/git.diff")
    run.log({"auc": auc})
    run.end()
    return run.id


def test_table_lists_the_sections_that_differ(capsys: pytest.CaptureFixture[str]) -> None:
    """The table shows each differing section with both values and the diff of the diffs."""
    a = make_run("base", {"lr": 0.1}, git_diff="+lr = 0.1\n", auc=0.8)
    b = make_run(
        "retry", {"lr": 0.2}, packages="numpy==2.0.0\nrich==13.7.0\n", git_diff="+lr = 0.2\n"
    )
    code, out, err = cli(capsys, "runs", "diff", a, b[:10])
    assert code == 0 and err == ""
    for text in ("base", "retry", "params", "lr", "packages", "numpy", "1.26.4", "2.0.0"):
        assert text in out
    assert "metrics" in out and "auc" in out
    assert "-+lr = 0.1" in out and "++lr = 0.2" in out
    assert f"runs {a} and {b} differ in params, code, packages, metrics" in out


def test_same_setup_is_said_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs set up alike get the closing line even when their metrics differ."""
    a = make_run("a", {"lr": 0.1}, auc=0.8)
    b = make_run("b", {"lr": 0.1}, auc=0.9)
    code, out, _ = cli(capsys, "runs", "diff", a, b)
    assert code == 0 and "auc" in out and "lr" not in out
    assert f"runs {a} and {b} do not differ in seed, params, code, packages or environment" in out


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    """--format json gives every section, in order, with both values of each difference."""
    a = make_run("a", {"lr": 0.1, "epochs": 3})
    b = make_run("b", {"lr": 0.1, "batch": 64}, packages="numpy==1.26.4\n")
    code, out, _ = cli(capsys, "runs", "diff", a, b, "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["run_a"] == {"run_id": a, "run_name": "a"} and data["run_b"]["run_id"] == b
    assert list(data["sections"]) == [
        "seed",
        "params",
        "code",
        "packages",
        "environment",
        "tags",
        "metrics",
    ]
    assert data["sections"]["params"] == [
        {"key": "batch", "a": None, "b": 64, "change": "added"},
        {"key": "epochs", "a": 3, "b": None, "change": "removed"},
    ]
    assert data["sections"]["packages"] == [
        {"key": "rich", "a": "13.7.0", "b": None, "change": "removed"}
    ]
    assert data["same"] is False and data["same_setup"] is False and data["code_diff"] == ""


def test_long_diffs_are_cut_unless_full(capsys: pytest.CaptureFixture[str]) -> None:
    """A long diff of uncommitted changes is cut with a note; --full prints all of it."""
    a = make_run("a", {"lr": 0.1}, git_diff="".join(f"+line {i}\n" for i in range(400)))
    b = make_run("b", {"lr": 0.1}, git_diff="+line 0\n")
    _, out, _ = cli(capsys, "runs", "diff", a, b)
    assert "more line(s) left out: see --full" in out and "-+line 399" not in out
    _, out, _ = cli(capsys, "runs", "diff", a, b, "--full")
    assert "left out" not in out and "-+line 399" in out
    _, out, _ = cli(capsys, "runs", "diff", a, b, "--format", "json", "--full")
    assert json.loads(out)["code_diff_omitted"] == 0


def test_user_text_is_not_markup(capsys: pytest.CaptureFixture[str]) -> None:
    """Names, params and diff lines that look like rich markup are printed as written."""
    a = make_run("[bold]a[/]", {"note": "[red]x[/red]"}, git_diff="+[green]one[/]\n")
    b = make_run("b", {"note": "[link=http://e.org]y[/link]"}, git_diff="+two\n")
    code, out, _ = cli(capsys, "runs", "diff", a, b)
    assert code == 0
    for text in ("[bold]a[/]", "[red]x[/red]", "[link=http://e.org]y[/link]", "-+[green]one[/]"):
        assert text in out


def test_bad_input_exits_1_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown ids and ambiguous prefixes print one message and exit 1; csv is no choice."""
    a = make_run("a", {"lr": 0.1})
    b = make_run("b", {"lr": 0.1})
    code, out, err = cli(capsys, "runs", "diff", a, "nosuchrun")
    assert code == 1 and "no run with id" in err and "Traceback" not in err and out == ""
    prefix = next(a[:n] for n in range(len(a), 0, -1) if b.startswith(a[:n]))
    code, _, err = cli(capsys, "runs", "diff", prefix, b)
    assert code == 1 and "several runs" in err and "Traceback" not in err
    code, _, err = cli(capsys, "runs", "diff", a, b, "--format", "csv")
    assert code == 2 and "'csv' is not one of" in err and "Traceback" not in err
