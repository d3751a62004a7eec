"""``cairn quickstart``: a tracked scikit-learn project in a fresh folder, end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from cairn import tracking
from cairn.cli._render import console
from cairn.cli.runs import compare_runs, list_runs
from cairn.core.errors import CairnError, InvalidInputError
from cairn.core.lazy import import_optional
from cairn.core.settings import configure

TRAIN_PY = '''\
"""Train a random forest on scikit-learn's breast-cancer data; cairn tracks every run."""

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

import cairn

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y
)

# A small sweep: each setting is a child run of the "sweep" run.
with cairn.run(name="sweep"):
    for max_depth in (2, 4, 8):
        with cairn.run(params={"model": {"max_depth": max_depth}}) as run:
            p = cairn.config.params  # cairn.yaml's params, with this run's overrides
            model = RandomForestClassifier(
                n_estimators=10, max_depth=p.model.max_depth, warm_start=True,
                random_state=p.seed,
            )
            for trees in range(10, p.model.n_estimators + 1, 10):  # a learning curve
                model.set_params(n_estimators=trees)
                model.fit(X_train, y_train)
                proba = model.predict_proba(X_test)[:, 1]
                cairn.log({"auc": roc_auc_score(y_test, proba)}, step=trees)
            predicted = model.predict(X_test)
            cairn.log({
                "accuracy": accuracy_score(y_test, predicted),
                "f1": f1_score(y_test, predicted),
            }, step=trees)
            cairn.log_dict({"features": list(X.columns)}, "features.json")
            cairn.logger.info("run %s: max_depth=%s auc=%.4f", run.name, max_depth,
                              roc_auc_score(y_test, proba))
'''

CAIRN_YAML = """\
# cairn settings for this project; CAIRN_* environment variables override them.
experiment: quickstart
params:            # your own parameters: cairn.config.params.model.max_depth
  seed: 0
  model:
    n_estimators: 100
    max_depth: 4
"""


def quickstart_command(
    directory: Annotated[Path, typer.Argument(help="folder to create the example in")] = Path(
        "cairn-quickstart"
    ),
) -> None:
    """Create a small tracked scikit-learn project, train it, and show the runs."""
    import_optional("sklearn", "sklearn", "cairn quickstart")
    target = directory.resolve()
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"{target} exists and is not a folder; pick another name")
    target.mkdir(parents=True, exist_ok=True)
    for name, content in (("train.py", TRAIN_PY), ("cairn.yaml", CAIRN_YAML)):
        path = target / name
        if not path.exists():
            path.write_text(content)
    console.rule("[bold]cairn quickstart")
    console.print(f"project: {target}  (train.py and cairn.yaml)\n")
    console.print("[bold]$ python train.py[/]")
    child_env = dict(os.environ)  # the child's environment, built explicitly
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    done = subprocess.run([sys.executable, "train.py"], cwd=target, env=child_env, check=False)
    if done.returncode != 0:
        raise CairnError(f"train.py failed (exit {done.returncode}); see the output above")
    configure(root=target)
    console.print("\n[bold]$ cairn runs ls[/]")
    list_runs(experiment="quickstart", limit=10)
    best = tracking.find_runs(
        "metrics.auc IS NOT NULL", ["metrics.auc DESC"], experiment="quickstart", limit=2
    )
    if len(best) == 2:
        console.print(f"\n[bold]$ cairn runs compare {best[0].id} {best[1].id}[/]")
        compare_runs([best[0].id, best[1].id])
    console.rule("[bold]next")
    console.print(
        f"  cd {directory}\n"
        '  cairn runs ls --filter "metrics.auc > 0.97" --sort "metrics.auc DESC"\n'
        f"  cairn runs show {best[0].id if best else 'RUN'}\n"
        "  edit cairn.yaml or train.py, then: python train.py\n"
        '  in Python: cairn.search_runs("params.model.max_depth >= 4")  → a pandas DataFrame'
    )
