"""Web UI: cairn's pages vs the requests MLflow's UI makes, on 10,000 runs and 1,000,000 points.

Run ``.venv/bin/python benchmarks/ui.py [--quick]``. Both stores hold the same data: 10,000
runs with 10 params and 5 metrics (``tracking.py``'s ``run_data``), plus one run with a
1,000,000-point metric ``loss`` (a smooth curve with one spike). cairn serves them with
``cairn ui`` (SQLite, one process); MLflow (the anchor, ``benchmarks/.venvs/mlflow``) with
``mlflow server`` over its SQLite store. Timed from this process over HTTP on 127.0.0.1, each
request after one untimed warm-up, median of the repeats:

- the runs page: cairn's whole HTML page of the first 100 runs (and its ``.json``) vs the
  ``runs/search`` request (100 runs, newest first) MLflow's UI makes before it renders
  anything in the browser;
- a filtered, ordered runs page: the same with ``metrics.auc > 0.8 and params.optimizer =
  'adam'`` ordered by ``metrics.auc DESC``;
- a 1,000,000-point metric chart: cairn's ``series.json`` (thinned on the server to 2,000
  points keeping minima and maxima) vs ``get-history-bulk-interval`` (MLflow's UI chart
  request, 320 sampled steps). Whether each answer still shows the spike is printed.

Prints ``ratio`` and ``figure`` lines (``figure`` goals: under 1,000 ms, as issue 17 asks).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from _common import cairn_version, free_port, ratio, serve
from _common import scratch as common_scratch
from tracking import CAIRN_POPULATE as TRACKING_CAIRN_POPULATE
from tracking import MLFLOW_POPULATE as TRACKING_MLFLOW_POPULATE
from tracking import MLFLOW_VENV, cairn_env, ensure_mlflow, run_cairn, run_mlflow

CAIRN_CLI = Path(sys.executable).parent / "cairn"
MLFLOW_CLI = MLFLOW_VENV / "bin" / "mlflow"
SPIKE_STEP, SPIKE = 65_432, 50.0  # within the --quick run's 100,000 points too
FILTER, ORDER = "metrics.auc > 0.8 and params.optimizer = 'adam'", "metrics.auc DESC"

LONG_VALUES = f"""
def long_value(i):
    return {SPIKE!r} if i == {SPIKE_STEP} else math.exp(-i / 200000.0) + 0.01 * math.sin(i / 50)
"""

# tracking.py's populations of n runs, then one run of a long metric (its sys.argv[-1] points).
CAIRN_POPULATE = (
    TRACKING_CAIRN_POPULATE
    + LONG_VALUES
    + """
with cairn.run(name="long") as run:
    for i in range(int(sys.argv[-1])):
        cairn.log({"loss": long_value(i)}, step=i)
report({"long": run.id})
"""
)

MLFLOW_POPULATE = (
    TRACKING_MLFLOW_POPULATE
    + LONG_VALUES
    + """
long_id = client.create_run(exp, run_name="long").info.run_id
now, points = int(time.time() * 1000), int(sys.argv[-1])
for start in range(0, points, 1000):
    batch = [Metric("loss", long_value(i), now, i) for i in range(start, min(start + 1000, points))]
    client.log_batch(long_id, metrics=batch)
client.set_terminated(long_id)
report({"experiment_id": exp, "long": long_id})
"""
)


def timed(url: str, repeats: int, body: dict[str, Any] | None = None) -> tuple[float, bytes]:
    """Median seconds of ``GET url`` (``POST`` with a JSON ``body``) after one warm-up."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    times, answer = [], b""
    for i in range(repeats + 1):
        request = urllib.request.Request(url, data=data, headers=headers)
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = response.read()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times), answer


def in_browser(base: str, run_id: str, repeats: int) -> tuple[float, float] | None:
    """Median seconds, in Debian's Chromium, from asking for the runs page to its table being
    shown, and from asking for the long run's page to its loss chart being drawn (None
    without Chromium or Playwright)."""
    import shutil

    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        print("# no chromium or playwright here: the in-browser figures are left out")
        return None
    table, chart = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for i in range(repeats + 1):
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            start = time.perf_counter()
            page.goto(f"{base}/runs")
            page.wait_for_selector("table tbody tr")
            shown = time.perf_counter() - start
            start = time.perf_counter()
            page.goto(f"{base}/runs/{run_id}")
            page.wait_for_selector(".chart[data-key='loss'][data-state='drawn'] canvas")
            drawn = time.perf_counter() - start
            page.close()
            if i:  # the first is a warm-up
                table.append(shown)
                chart.append(drawn)
        browser.close()
    return statistics.median(table), statistics.median(chart)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 runs, 100,000 points")
    quick = parser.parse_args().quick
    n_runs, points = (1_000, 100_000) if quick else (10_000, 1_000_000)
    repeats = 3 if quick else 7
    mlflow_version = ensure_mlflow()
    print("# ui: cairn's pages vs MLflow UI's requests" + (" (--quick)" if quick else ""))
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"# cairn {cairn_version()}; MLflow {mlflow_version}; Python {platform.python_version()}")
    print(f"# {n_runs:,} runs, a metric of {points:,} points; medians of {repeats}", flush=True)
    with common_scratch("ui-cairn-") as cd, common_scratch("ui-mlflow-") as md:
        start = time.perf_counter()
        long_cairn = run_cairn(CAIRN_POPULATE, str(n_runs), str(points), home=cd)["long"]
        print(f"# populated cairn in {time.perf_counter() - start:.0f} s", flush=True)
        start = time.perf_counter()
        made = run_mlflow(MLFLOW_POPULATE, str(n_runs), str(points), home=md)
        print(f"# populated MLflow in {time.perf_counter() - start:.0f} s", flush=True)
        exp, long_mlflow = made["experiment_id"], made["long"]
        cport, mport = free_port(), free_port()
        cairn_cmd = [str(CAIRN_CLI), "ui", "--no-browser", "--port", str(cport)]
        mlflow_cmd = [
            str(MLFLOW_CLI),
            "server",
            "--backend-store-uri",
            f"sqlite:///{md}/mlflow.db",
            "--host",
            "127.0.0.1",
            "--port",
            str(mport),
            "--workers",
            "1",
        ]
        chost, mhost = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{mport}"
        with (
            serve(
                cairn_cmd,
                cwd=cd,
                env=cairn_env(cd),
                health=f"{chost}/api/v1/health",
                log=cd / "ui.log",
            ),
            serve(
                mlflow_cmd,
                cwd=md,
                env={**os.environ, "MLFLOW_HOME": str(md)},
                health=f"{mhost}/health",
                log=md / "mlflow.log",
            ),
        ):
            search = f"{mhost}/ajax-api/2.0/mlflow/runs/search"
            page_c, html = timed(f"{chost}/runs", repeats)
            json_c, _ = timed(f"{chost}/runs.json", repeats)
            page_m, answer = timed(
                search,
                repeats,
                {
                    "experiment_ids": [exp],
                    "max_results": 100,
                    "order_by": ["attributes.start_time DESC"],
                },
            )
            assert b"run-" in html and len(json.loads(answer)["runs"]) == 100
            query = urllib.parse.urlencode({"filter": FILTER, "order": ORDER})
            filt_c, _ = timed(f"{chost}/runs?{query}", repeats)
            filt_m, _ = timed(
                search,
                repeats,
                {
                    "experiment_ids": [exp],
                    "max_results": 100,
                    "filter": FILTER,
                    "order_by": [ORDER],
                },
            )
            series = urllib.parse.urlencode({"key": "loss", "points": 2000})
            chart_c, drawn = timed(f"{chost}/runs/{long_cairn}/series.json?{series}", repeats)
            interval = urllib.parse.urlencode(
                {"run_ids": long_mlflow, "metric_key": "loss", "max_results": 320}
            )
            chart_m, sampled = timed(
                f"{mhost}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?{interval}",
                repeats,
            )
            browser = in_browser(chost, long_cairn, repeats)
    ours = json.loads(drawn)
    theirs = json.loads(sampled).get("metrics", [])
    print(f"figure ui-runs-page-{n_runs}: {page_c * 1000:.0f} ms (goal < 1000 ms)")
    print(f"figure ui-runs-json-{n_runs}: {json_c * 1000:.0f} ms")
    print(f"figure ui-runs-filtered-{n_runs}: {filt_c * 1000:.0f} ms (goal < 1000 ms)")
    print(f"figure ui-metric-{points}: {chart_c * 1000:.0f} ms (goal < 1000 ms)")
    print(
        f"figure ui-metric-spike-shown: cairn {SPIKE in ours['y']} ({len(ours['y'])} points), "
        f"mlflow {any(m['value'] == SPIKE for m in theirs)} ({len(theirs)} points)"
    )
    print(
        f"# MLflow: runs/search {page_m * 1000:.0f} ms, filtered {filt_m * 1000:.0f} ms, "
        f"history interval {chart_m * 1000:.0f} ms (JSON only; its page renders after)"
    )
    if browser is not None:
        table, chart = browser
        print(f"figure ui-runs-page-shown-in-browser: {table * 1000:.0f} ms (goal < 1000 ms)")
        print(f"figure ui-metric-drawn-in-browser: {chart * 1000:.0f} ms (goal < 1000 ms)")
    ratio("ui-runs-page-vs-mlflow-search", page_m, page_c, 2)
    ratio("ui-runs-filtered-vs-mlflow-search", filt_m, filt_c, 2)
    ratio("ui-metric-1m-vs-mlflow-interval", chart_m, chart_c, 2)


if __name__ == "__main__":
    main()
