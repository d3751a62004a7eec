"""The root of the command line: lazy subcommands, --version, -h and readable help."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import subprocess
import sys

import pytest
import typer.main

from cairn.cli._commands import COMMANDS, GROUPS
from cairn.cli.main import main

SUBCOMMAND_MODULES = sorted({module for module, _, _ in [*GROUPS.values(), *COMMANDS.values()]})


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _modules_after(*args: str) -> list[str]:
    """The modules a fresh process has imported after running ``cairn ARGS``."""
    code = (
        "import json, sys\n"
        "from cairn.cli.main import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('@@' + json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(done.stderr.rsplit("@@", 1)[1]))


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--version"], []])
def test_the_root_help_and_version_import_no_subcommand(args: list[str]) -> None:
    """`cairn --help`, `-h`, `--version` and a bare `cairn` load no subcommand, Typer or store."""
    loaded = set(_modules_after(*args))
    heavy = {"sqlalchemy", "pydantic", "pandas", "pyarrow", "numpy", "cairn.store", "typer", "rich"}
    assert loaded.isdisjoint(SUBCOMMAND_MODULES) and loaded.isdisjoint(heavy)


def test_version_prints_the_distribution_s_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`cairn --version` prints the installed cairn-mlops version."""
    code, out, _ = cli(capsys, "--version")
    assert (code, out) == (0, f"cairn {importlib.metadata.version('cairn-mlops')}\n")


def test_the_root_help_lists_every_subcommand_with_its_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The root help lists each subcommand with its summary, and --version and -h."""
    code, out, _ = cli(capsys, "--help")
    assert code == 0 and "--version" in out and "-h" in out
    flat = " ".join(out.replace("│", " ").split())
    for name, (_, _, summary) in [*GROUPS.items(), *COMMANDS.items()]:
        assert name in out and summary.split(":")[0] in flat


@pytest.mark.parametrize("name", [*GROUPS, *COMMANDS])
def test_each_summary_is_the_subcommand_s_own_help(name: str) -> None:
    """The summary the root help shows is the first paragraph of the subcommand's own help."""
    module, attribute, summary = GROUPS.get(name) or COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    own = str(target.info.help) if isinstance(target, typer.Typer) else inspect.getdoc(target)
    assert " ".join(str(own).split("\n\n")[0].split()) == summary


def test_h_is_help_at_every_level(capsys: pytest.CaptureFixture[str]) -> None:
    """-h prints the same help as --help, for the root and for a subcommand."""
    assert cli(capsys, "-h") == cli(capsys, "--help")
    code, out, _ = cli(capsys, "runs", "ls", "-h")
    assert code == 0 and "Usage: cairn runs ls" in out
    assert (code, out) == cli(capsys, "runs", "ls", "--help")[:2]


def test_an_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """`cairn nope` says there is no such command and exits 2."""
    code, _, err = cli(capsys, "nope")
    assert code == 2 and "No such command 'nope'" in err


def _help_commands(name: str) -> list[list[str]]:
    """The command lines that print every help page of subcommand ``name``."""
    module, attribute, _ = GROUPS.get(name) or COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if not isinstance(target, typer.Typer):
        return [[name, "--help"]]
    group = typer.main.get_command(target)
    return [[name, "--help"], *([name, sub, "--help"] for sub in getattr(group, "commands", {}))]


@pytest.mark.parametrize("name", [*GROUPS, *COMMANDS])
def test_help_shows_no_python_types_as_metavars(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """No help shows `<bool>` for a flag or `<list[...]>` for a repeatable option."""
    for args in _help_commands(name):
        code, out, _ = cli(capsys, *args)
        assert code == 0 and "Usage:" in out, (args, out)
        assert "<bool>" not in out and "<list[" not in out, (args, out)


@pytest.mark.parametrize("args", [["runs", "ls", "--help"], ["run", "--help"]])
def test_every_experiment_option_has_a_description(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    """`-e/--experiment` says what it does wherever it is offered."""
    _, out, _ = cli(capsys, *args)
    line = next(line for line in out.splitlines() if "--experiment" in line)
    assert "experiment" in line.split("--experiment", 1)[1], line
