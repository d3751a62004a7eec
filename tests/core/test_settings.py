"""Settings: code arguments, then CAIRN_* variables, then cairn.yaml, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

import cairn
from cairn.core.errors import ConfigError
from cairn.core.settings import Params, configure, find_root, get_settings


def test_defaults_live_in_the_project_home(project: Path) -> None:
    """With nothing set, the store is SQLite in .cairn/ of the project root."""
    settings = get_settings()
    assert settings.root == project.resolve()
    assert settings.store_url == f"sqlite:///{project.resolve() / '.cairn' / 'cairn.db'}"
    assert settings.artifacts_url == str(project.resolve() / ".cairn" / "artifacts")
    assert settings.experiment == "default"


def test_precedence(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Code arguments beat environment variables, which beat cairn.yaml, which beats defaults."""
    (project / "cairn.yaml").write_text("experiment: from-yaml\nflush_interval: 3\n")
    assert configure().experiment == "from-yaml"
    monkeypatch.setenv("CAIRN_EXPERIMENT", "from-env")
    settings = configure()
    assert settings.experiment == "from-env"
    assert settings.flush_interval == 3
    assert configure(experiment="from-code").experiment == "from-code"
    assert cairn.config.experiment == "from-code"


def test_params_from_yaml_and_environment(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """params: in cairn.yaml read as attributes; CAIRN_PARAMS__* variables override leaves."""
    (project / "cairn.yaml").write_text("params:\n  lr: 0.1\n  optim:\n    name: adam\n")
    params = configure().params
    assert isinstance(params, Params)
    assert params.lr == 0.1 and params.optim.name == "adam" and params["optim"]["name"] == "adam"
    assert params.to_dict() == {"lr": 0.1, "optim": {"name": "adam"}}
    monkeypatch.setenv("CAIRN_PARAMS", '{"lr": 0.5}')
    assert configure().params.lr == 0.5
    with pytest.raises(AttributeError, match="no param 'nope'"):
        _ = configure().params.nope


def test_capture_switch_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nested settings are set with a double underscore."""
    monkeypatch.setenv("CAIRN_CAPTURE__PARAMS", "false")
    assert configure().capture.params is False


def test_bad_settings_are_config_errors(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown keys, bad values and broken YAML give a ConfigError naming the problem."""
    (project / "cairn.yaml").write_text("experimnt: typo\n")
    with pytest.raises(ConfigError, match="experimnt"):
        configure()
    (project / "cairn.yaml").write_text("params: [1, 2\n")
    with pytest.raises(ConfigError, match=r"cairn\.yaml"):
        configure()
    (project / "cairn.yaml").unlink()
    monkeypatch.setenv("CAIRN_FLUSH_INTERVAL", "-1")
    with pytest.raises(ConfigError, match="flush_interval"):
        configure()


def test_bad_json_in_a_variable_names_the_variable(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CAIRN_* variable holding broken JSON is named in the error, and cairn.yaml is not."""
    monkeypatch.setenv("CAIRN_ARTIFACTS_OPTIONS", "{bad")
    with pytest.raises(ConfigError) as info:
        configure()
    message = str(info.value)
    assert "CAIRN_ARTIFACTS_OPTIONS is not valid JSON" in message
    assert "cairn.yaml" not in message


def test_root_is_found_by_walking_up(tmp_path: Path) -> None:
    """The root is the nearest folder with .cairn/ or cairn.yaml, else the git work tree."""
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    deep = tmp_path / "repo" / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_root(deep) == (tmp_path / "repo").resolve()
    (tmp_path / "repo" / "src" / "cairn.yaml").write_text("{}\n")
    assert find_root(deep) == (tmp_path / "repo" / "src").resolve()


def test_variables_are_converted_as_pydantic_converts_them(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text from variables becomes booleans and numbers by pydantic's lax rules, any case."""
    monkeypatch.setenv("CAIRN_CAPTURE__GIT", "off")
    monkeypatch.setenv("CAIRN_CAPTURE__UNTRACKED_MAX_KB", " 7 ")
    monkeypatch.setenv("CAIRN_FLUSH_INTERVAL", "1e-1")
    monkeypatch.setenv("CAIRN_SEED", "5.0")
    monkeypatch.setenv("cairn_experiment", "lower")
    monkeypatch.setenv("CAIRN_PARAMS__OPTIM__LR", "0.5")
    monkeypatch.setenv("CAIRN_ARTIFACTS_OPTIONS", "null")
    settings = configure()
    assert settings.capture.git is False and settings.capture.untracked_max_kb == 7
    assert settings.flush_interval == 0.1 and settings.seed == 5
    assert settings.experiment == "lower"
    assert settings.params.to_dict() == {"optim": {"lr": "0.5"}}
    assert settings.artifacts_options == {}


def test_every_problem_is_named_with_its_place(project: Path) -> None:
    """All bad values are reported at once, each with its dotted location and what is wrong."""
    (project / "cairn.yaml").write_text(
        "seed: 1.5\ncapture: {git: maybe, untracked_max_kb: -1}\nstore_sync: fast\n"
    )
    with pytest.raises(ConfigError) as info:
        configure()
    message = str(info.value)
    assert "seed: Input should be a valid integer, got a number with a fractional part" in message
    assert "capture.git: Input should be a valid boolean" in message
    assert "capture.untracked_max_kb: Input should be greater than or equal to 0" in message
    assert "store_sync: Input should be 'normal' or 'full'" in message


def test_a_yaml_list_is_a_config_error(project: Path) -> None:
    """A cairn.yaml holding a list, not a mapping, is a ConfigError naming the file."""
    (project / "cairn.yaml").write_text("- experiment\n- default\n")
    with pytest.raises(ConfigError, match=r"cairn\.yaml holds a list, not a mapping"):
        configure()


def test_settings_are_built_without_pydantic_or_yaml(project: Path) -> None:
    """A script's start builds its settings on the standard library (no pydantic, no yaml)."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom cairn.core.settings import get_settings\nget_settings()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'yaml'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
