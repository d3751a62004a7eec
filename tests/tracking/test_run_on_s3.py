"""cairn run with the artifact store on S3: what the launched program captures is stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cairn
from cairn.core.settings import configure

SCRIPT = """
import cairn
cairn.log({"loss": 0.5})
print("hello from the program")
"""


def _cairn_run_script(
    project: Path, artifacts: str, options: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """``cairn run -- python script.py`` in ``project`` with its artifacts at ``artifacts``."""
    (project / "script.py").write_text(SCRIPT)
    env = {
        **os.environ,  # the bucket fixture's AWS_* credentials; the project fixture cleared CAIRN_*
        "CAIRN_ARTIFACTS": artifacts,
        "CAIRN_ARTIFACTS_OPTIONS": json.dumps(options),
    }
    return subprocess.run(
        [sys.executable, "-m", "cairn", "run", "--", sys.executable, "script.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cairn_run_stores_packages_and_output_on_s3(
    project: Path, s3_bucket: tuple[str, dict[str, Any]]
) -> None:
    """Under cairn run with S3 artifacts, packages.txt and output.log are stored, unwarned."""
    url, options = s3_bucket
    done = _cairn_run_script(project, url, options)
    assert done.returncode == 0, done.stderr
    assert "could not" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    configure(artifacts=url, artifacts_options=options)
    (run_id,) = cairn.search_runs()["run_id"]
    record = cairn.get_run(run_id)
    stored = {a.path for a in record.artifacts}
    assert {"cairn/packages.txt", "cairn/output.log"} <= stored, stored
    out = cairn.download_artifacts(run_id, dest=project / "download")
    assert "hello from the program" in (out / "cairn" / "output.log").read_text()
    assert "cairn" in (out / "cairn" / "packages.txt").read_text()


def test_a_failed_capture_upload_names_the_cause_and_is_kept_on_the_run(
    project: Path, s3_bucket: tuple[str, dict[str, Any]]
) -> None:
    """With a bucket that does not exist, the run still finishes, and the warning and the
    run's cairn.capture_error tag say what failed (no traceback)."""
    url, options = s3_bucket
    missing = url.replace("s3://", "s3://no-such-", 1)
    done = _cairn_run_script(project, missing, options)
    assert done.returncode == 0, done.stderr
    assert "could not store" in done.stderr and "Traceback" not in done.stderr, done.stderr
    (run_id,) = cairn.search_runs()["run_id"]
    record = cairn.get_run(run_id)
    assert record.status == "finished"
    assert "bucket" in record.tags["cairn.capture_error"].lower(), record.tags
