"""The zero-config logger."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from cairn import logger


def _child(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    child_env = {**os.environ, **env}  # the project fixture cleared CAIRN_*
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env, check=True
    )


def test_caplog_sees_cairn_records(caplog: pytest.LogCaptureFixture) -> None:
    """cairn's logger is a stdlib logger whose records reach pytest's caplog."""
    with caplog.at_level(logging.INFO, logger="cairn"):
        logger.info("hello %s", "world")
    assert ("cairn", logging.INFO, "hello world") in caplog.record_tuples


def test_prints_with_no_setup() -> None:
    """With no logging configured, info records are printed to stderr."""
    done = _child("from cairn import logger; logger.info('ready to go')")
    assert "ready to go" in done.stderr and "INFO" in done.stderr


def test_json_lines_when_asked() -> None:
    """CAIRN_LOG_FORMAT=json prints one JSON object per record."""
    done = _child(
        "from cairn import logger; logger.warning('disk %s', 'low')", CAIRN_LOG_FORMAT="json"
    )
    record = json.loads(done.stderr.strip().splitlines()[-1])
    assert record["message"] == "disk low"
    assert record["level"] == "WARNING" and record["logger"] == "cairn"


def test_silent_when_the_application_configured_logging() -> None:
    """Once the application configures logging, only its handlers print cairn's records."""
    done = _child(
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, format='APP %(message)s', level=logging.INFO)\n"
        "from cairn import logger\n"
        "logger.info('once')\n"
    )
    assert done.stdout.strip() == "APP once"
    assert "once" not in done.stderr
