"""Make the README's screenshots of the web UI: ``.venv/bin/python docs/screenshots.py``.

Builds a small project in a temporary folder (12 training runs over two optimizers and three
learning rates, their loss and accuracy curves, a dataset they read, a model registered from
the best run, a scoring run that reads the champion and writes predictions), serves it with
``cairn ui`` and saves ``docs/ui-runs.png``, ``docs/ui-compare.png`` and ``docs/ui-lineage.png``
at 1280x800 from Debian's Chromium (``/usr/bin/chromium``) driven by Playwright.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

DOCS = Path(__file__).resolve().parent

BUILD = r"""
import math, random, sys
from pathlib import Path
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
import cairn

cairn.configure(capture={"git": False, "packages": False, "system_metrics": False})
root = Path.cwd()
rng = np.random.default_rng(7)
frame = pd.DataFrame({"tenure": rng.integers(1, 72, 400), "monthly": rng.normal(60, 20, 400)})
frame["churned"] = ((frame["tenure"] < 12) & (frame["monthly"] > 55)).astype(int)
(root / "customers").mkdir()
frame.to_csv(root / "customers" / "part-0.csv", index=False)
cairn.data.add(root / "customers", name="customers", description="Monthly customer snapshot")
best_auc = -1.0
for optimizer in ("adam", "sgd"):
    for lr in (0.1, 0.03, 0.01):
        for seed in (1, 2):
            rate = {"adam": 0.16, "sgd": 0.07}[optimizer] * (1 + 3 * lr) * (1 + 0.08 * seed)
            noise = random.Random(f"{optimizer}{lr}{seed}")
            with cairn.run(name=f"{optimizer}-lr{lr}-s{seed}", experiment="churn",
                           params={"optimizer": optimizer, "lr": lr, "batch_size": 64,
                                   "epochs": 40}) as run:
                cairn.data.load("customers")
                for epoch in range(40):
                    loss = 0.08 + 0.62 * math.exp(-rate * epoch) + noise.gauss(0, 0.012)
                    acc = 0.97 - 0.45 * math.exp(-rate * 1.1 * epoch) + noise.gauss(0, 0.006)
                    cairn.log({"loss": loss, "accuracy": acc}, step=epoch)
                auc = round(0.99 - 0.3 * loss + noise.gauss(0, 0.004), 4)
                cairn.log({"auc": auc})
                best_auc = max(best_auc, auc)
features = frame.drop(columns="churned")
with cairn.run(name="train-champion", experiment="churn", params={"optimizer": "lbfgs"}):
    cairn.data.load("customers")
    model = LogisticRegression(max_iter=500).fit(features, frame["churned"])
    cairn.log({"auc": best_auc})
    cairn.log_model(model, "churn", input_example=features.head(5))
cairn.registry.set_alias("churn", "champion", 1)
with cairn.run(name="score-december", experiment="scoring"):
    loaded = cairn.load_model("models:/churn@champion")
    scored = features.assign(score=loaded.predict(features))
    (root / "scores").mkdir()
    scored.to_csv(root / "scores" / "part-0.csv", index=False)
    cairn.data.add(root / "scores", name="churn-scores")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    """Build the project, serve it, and save the three screenshots."""
    from playwright.sync_api import sync_playwright

    cairn = Path(sys.executable).with_name("cairn")
    folder = Path(tempfile.mkdtemp(prefix="cairn-screens-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    try:
        (folder / ".cairn").mkdir()
        made = subprocess.run(
            [sys.executable, "-c", BUILD],
            check=False,
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            sys.exit(made.stderr)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [str(cairn), "ui", "--no-browser", "--port", str(port)], cwd=folder, env=env
        )
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"{base}/api/v1/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            runs = urllib.request.urlopen(f"{base}/runs.json?experiment=churn")
            rows = json.loads(runs.read())["runs"]
            ids = [r["id"] for r in rows if r["name"] != "train-champion"]
            of = urllib.parse.quote("models:/churn@champion", safe="")
            pages = {
                "ui-runs.png": "/runs?columns=params.optimizer,params.lr,metrics.auc,"
                "metrics.loss,metrics.accuracy&order=metrics.auc+DESC",
                "ui-compare.png": f"/compare?runs={','.join(ids)}&group=params.optimizer"
                "&smooth=0.3",
                "ui-lineage.png": f"/lineage?of={of}",
            }
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                    args=["--no-sandbox"],
                )
                tab = browser.new_page(viewport={"width": 1280, "height": 800})
                for name, path in pages.items():
                    tab.goto(base + path)
                    tab.wait_for_load_state("networkidle")
                    time.sleep(0.5)  # charts and the graph's layout settle
                    tab.screenshot(path=str(DOCS / name))
                    print(f"wrote docs/{name}")
                browser.close()
        finally:
            server.terminate()
            server.wait(30)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
