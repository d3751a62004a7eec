"""An object store's failures name their real cause, and the fix that goes with it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cairn.core.errors import ArtifactError
from cairn.core.settings import configure
from cairn.store import get_store

LATE = """
import atexit
from cairn.store import get_store

def late():
    try:
        get_store().artifacts.put_bytes(b"stored while the interpreter shuts down")
        print("stored")
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}")

atexit.register(late)
"""


def test_an_upload_at_interpreter_exit_says_the_interpreter_was_shutting_down(
    project: Path, s3_bucket: tuple[str, dict[str, Any]]
) -> None:
    """An upload first tried from an atexit handler fails naming the shutdown, not credentials."""
    url, options = s3_bucket
    (project / "late.py").write_text(LATE)
    env = {**os.environ, "CAIRN_ARTIFACTS": url, "CAIRN_ARTIFACTS_OPTIONS": json.dumps(options)}
    done = subprocess.run(
        [sys.executable, "late.py"], cwd=project, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    said = done.stdout.strip()
    assert said.startswith("ArtifactError:") and "shutting down" in said, said
    assert "credentials" not in said


def test_an_unreachable_endpoint_is_named_as_such(project: Path) -> None:
    """An object store nobody answers at fails naming the endpoint, not the credentials."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    configure(
        artifacts="s3://nowhere-bucket/prefix",
        artifacts_options={
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"},
            "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1},
            "skip_instance_cache": True,
        },
    )
    with pytest.raises(ArtifactError) as raised:
        get_store().artifacts.put_bytes(b"nowhere to go")
    message = str(raised.value)
    assert "could not be reached" in message and "endpoint_url" in message, message
    assert "credentials" not in message
