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
