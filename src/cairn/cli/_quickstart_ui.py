"""The quickstart's web-UI part: ``cairn ui`` over the quickstart project, each page it names
asked for once (so every address printed is known to answer), then stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from cairn.cli._quickstart_team import _free_port, _stop, wait_until_up
from cairn.core.errors import CairnError

_KINDS = {"dataset_version": "dataset version", "model_version": "model version"}


def web_ui(
    target: Path,
    console: Console,
    section: Callable[[str, str], None],
    model: str,
    run_ids: list[str],
) -> None:
    """Start ``cairn ui`` on the project and show what its main pages hold."""
    section(
        "12. the web UI: cairn ui",
        "The same runs, charts, models and lineage in a browser: cairn ui serves this project "
        "on 127.0.0.1 with no sign-in (cairn server serves it to a team, behind tokens).",
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    console.print(f"[bold]$ cairn ui --port {port} &[/]")
    env = {k: v for k, v in os.environ.items() if k != "CAIRN_SERVER"}
    server = subprocess.Popen(
        [sys.executable, "-m", "cairn.cli.main", "ui", "--no-browser", "--port", str(port)],
        cwd=target,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_up(server, f"{base}/api/v1/health", "cairn ui")
        runs = _json(f"{base}/runs.json")
        compare = f"/compare?runs={','.join(run_ids)}"
        _json(f"{base}{compare.replace('/compare', '/compare.json', 1)}")
        name = urllib.parse.quote(model, safe="")
        shown = _json(f"{base}/models/{name}.json")
        of = urllib.parse.quote(f"models:/{model}@champion", safe="")
        graph = _json(f"{base}/lineage.json?of={of}")
        kinds: dict[str, int] = {}
        for node in graph.get("nodes", []):
            kinds[node.get("kind", "?")] = kinds.get(node.get("kind", "?"), 0) + 1
        versions = len(shown.get("versions", []))
        rows = [
            (f"{base}/runs", f"{runs.get('total', 0)} runs: filter, sort, choose columns"),
            (f"{base}{compare}", f"the {len(run_ids)} seeded runs side by side"),
            (f"{base}/models/{name}", f"{versions} versions, aliases and their history"),
            (
                f"{base}/lineage?of={of}",
                "the champion's lineage: "
                + ", ".join(
                    f"{count} {_KINDS.get(kind, kind)}{'s' if count > 1 else ''}"
                    for kind, count in sorted(kinds.items())
                ),
            ),
        ]
        for url, what in rows:
            console.print(f"  {url}  [dim]{what}[/]", highlight=False)
    finally:
        _stop(server)
    console.print("[dim](stopped; run cairn ui in the project to browse it)[/]")


def _json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return json.loads(answer.read())
    except OSError as exc:
        raise CairnError(f"the web UI did not answer {url}: {exc}") from None
