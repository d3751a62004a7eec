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


def test_cairn_run_stores_packages_and_output_on_s3(
    project: Path, s3_bucket: tuple[str, dict[str, Any]]
) -> None:
    """Under cairn run with S3 artifacts, packages.txt and output.log are stored, unwarned."""
    url, options = s3_bucket
    (project / "script.py").write_text(SCRIPT)
    env = {
        **os.environ,  # the bucket fixture's AWS_* credentials; the project fixture cleared CAIRN_*
        "CAIRN_ARTIFACTS": url,
        "CAIRN_ARTIFACTS_OPTIONS": json.dumps(options),
    }
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "run", "--", sys.executable, "script.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
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
