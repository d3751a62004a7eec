"""``cairn quickstart``: a tracked scikit-learn project in a fresh folder, end to end.

It adds the breast-cancer table to the data catalog (``cairn data add``), trains a small sweep
from it (``python train.py``; each run records the version it read and registers its model),
shows the catalog, makes the best model the ``champion``, loads it back by alias and prints its
lineage, then shows seeding through ``cairn run``: the same seed twice gives bit-identical
metrics, and several seeds give a mean and a spread.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.align import AlignMethod
from rich.markup import escape

from cairn import registry, tracking
from cairn.cli._render import console
from cairn.cli.data import add_command, list_command, show_command
from cairn.cli.models import alias_command, lineage_command
from cairn.cli.models import list_command as list_models
from cairn.cli.runs import compare_runs, diff_runs, list_runs, show_run
from cairn.core.destination import write_file
from cairn.core.errors import CairnError, InvalidInputError
from cairn.core.lazy import import_optional
from cairn.core.settings import configure
from cairn.core.user import current_user

TRAIN_PY = '''\
"""Train a random forest on the breast-cancer dataset; cairn tracks every run.

The data comes from cairn's catalog (cairn data add data --name breast-cancer): loaded inside
a run, its version is recorded as the run's input (cairn data show breast-cancer lists them).
"""

from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

import cairn


def load_data():
    """The dataset's latest version (pandas), split into train and test sets."""
    df = cairn.data.load("breast-cancer")  # inside a run: recorded as the run's input
    X, y = df.drop(columns="target"), df["target"]
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


# A small sweep: each setting is a child run of the "sweep" run.
with cairn.run(name="sweep"):
    for max_depth in (2, 4, 8):
        with cairn.run(params={"model": {"max_depth": max_depth}}) as run:
            X_train, X_test, y_train, y_test = load_data()
            p = cairn.config.params  # cairn.yaml's params, with this run's overrides
            model = RandomForestClassifier(
                n_estimators=10, max_depth=p.model.max_depth, warm_start=True,
                random_state=p.random_state,
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
            cairn.log_dict({"features": list(X_train.columns)}, "features.json")
            # The next version of the registered model, with the signature of its inputs.
            cairn.log_model(model, "breast-cancer-rf", input_example=X_test.head(5))
            cairn.logger.info("run %s: max_depth=%s auc=%.4f", run.name, max_depth,
                              roc_auc_score(y_test, proba))
'''

TRAIN_SEEDED_PY = '''\
"""Train one random forest whose every random choice comes from cairn's seed.

There is no random_state of its own: the train/test split and the forest draw from
cairn.rng(), a NumPy generator seeded from the run's seed, so the seed alone decides the result.
The data is the catalog's breast-cancer dataset, recorded as the run's input.

    cairn run --seed 42 -- python train_seeded.py      # twice: the same metrics, bit for bit
    cairn run --seeds 1,2,3 -- python train_seeded.py  # how much the result owes to luck
"""

from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

import cairn
from cairn.tracking import current_seed

with cairn.run() as run:  # under `cairn run`: the launcher's run, seeded with its seed
    df = cairn.data.load("breast-cancer")  # recorded as this run's input
    X, y = df.drop(columns="target"), df["target"]
    rng = cairn.rng()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=int(rng.integers(2**31))
    )
    p = cairn.config.params
    model = RandomForestClassifier(
        n_estimators=p.model.n_estimators, max_depth=p.model.max_depth,
        random_state=int(rng.integers(2**31)),
    )
    model.fit(X_train, y_train)
    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    cairn.log({"auc": auc, "accuracy": accuracy_score(y_test, model.predict(X_test))})
    cairn.logger.info("run %s: seed=%s auc=%.4f", run.name, current_seed(), auc)
'''

CAIRN_YAML = """\
# cairn settings for this project; CAIRN_* environment variables override them.
experiment: quickstart
params:            # your own parameters: cairn.config.params.model.max_depth
  random_state: 0  # train.py's fixed random_state (train_seeded.py uses cairn's seed instead)
  model:
    n_estimators: 100
    max_depth: 4
"""

FILES = (("train.py", TRAIN_PY), ("train_seeded.py", TRAIN_SEEDED_PY), ("cairn.yaml", CAIRN_YAML))
DATASET = "breast-cancer"
MODEL = "breast-cancer-rf"
DATA_FOLDER = "data"  # the folder added as the dataset: one CSV file
DATA_FILE = "breast_cancer.csv"
DATA_DESCRIPTION = "Breast tumours: 30 cell-nucleus measurements, diagnosis (target 1: benign)"
DATA_SOURCE = "sklearn.datasets.load_breast_cancer"
SEEDS_EXPERIMENT = "quickstart-seeds"
SEEDED = [sys.executable, "train_seeded.py"]
SEEDED_SHOWN = f"cairn run -e {SEEDS_EXPERIMENT} {{}} -- python train_seeded.py"


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
    for name, content in FILES:
        path = target / name
        if not path.exists():  # a dangling link there is replaced, never written through
            write_file(path, content.encode())
    console.rule("[bold]cairn quickstart")
    shown = [name for name, _ in FILES] + [f"{DATA_FOLDER}/{DATA_FILE}"]
    console.print(f"project: {target}  ({', '.join(shown)})")
    configure(root=target)  # this process reads and writes the project's store from here on
    _dataset(target)
    _validation(target)
    best = _sweep(target)
    _champion(target, best)
    _serve(target)
    # The launcher starts its command in the working directory, with the project's settings.
    with _working_directory(target):
        first, _ = _same_seed_twice()
        seeds = _several_seeds()
    _section("next", align="center")
    console.print(
        f"  cd {directory}\n"
        f"  cairn data show {DATASET}   [dim]# its catalog fields, versions and readers[/]\n"
        f"  cairn validate show {DATASET}   [dim]# the suite profiled from it (YAML)[/]\n"
        f"  edit {DATA_FOLDER}/{DATA_FILE}, then: cairn data add {DATA_FOLDER} --name {DATASET}"
        "   [dim]# v2[/]\n"
        '  cairn runs ls --filter "metrics.auc > 0.97" --sort "metrics.auc DESC"\n'
        f"  cairn runs show {best}\n"
        f"  cairn models show {MODEL}@champion   [dim]# its signature and requirements[/]\n"
        f"  cairn serve models:/{MODEL}@champion   [dim]# then open http://127.0.0.1:8000/docs[/]\n"
        f'  cairn models promote {MODEL} --from challenger --require "metrics.auc > '
        'champion.metrics.auc"   [dim]# refused until a challenger beats the champion[/]\n'
        f'  in Python: cairn.load_model("models:/{MODEL}@champion").predict(df)\n'
        f"  cairn runs diff {first} {seeds.child_ids[0]}   [dim]# seed 42 against seed 1[/]\n"
        "  cairn run --seeds 1,2,3,4,5 -- python train_seeded.py\n"
        "  edit cairn.yaml or train.py, then: python train.py\n"
        '  in Python: cairn.search_runs("params.model.max_depth >= 4")  → a pandas DataFrame',
        highlight=False,
    )


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    """Work in ``path`` for a while (contextlib.chdir, which Python 3.10 lacks)."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _dataset(target: Path) -> None:
    """Write the breast-cancer table into the project (once) and add it to the data catalog."""
    _section(
        "1. a dataset in the catalog",
        f"{DATA_FOLDER}/{DATA_FILE} becomes version v1 of a dataset with a description, an "
        "owner and an update frequency; adding unchanged content makes no new version.",
    )
    table = target / DATA_FOLDER / DATA_FILE
    if not table.exists():
        datasets = import_optional("sklearn.datasets", "sklearn", "cairn quickstart")
        _own_folder(table.parent)
        # Whole or not at all, and never through a link planted at the name.
        frame = datasets.load_breast_cancer(as_frame=True).frame
        write_file(table, frame.to_csv(index=False).encode())
    fields = {  # the catalog fields, as `cairn data add` takes them
        "description": DATA_DESCRIPTION,
        "owner": current_user() or "you@example.com",
        "frequency": "monthly",
        "source": DATA_SOURCE,
    }
    flags = [part for key, value in fields.items() for part in (f"--{key}", value)]
    shown = shlex.join(["cairn", "data", "add", DATA_FOLDER, "--name", DATASET, *flags])
    console.print(f"\n[bold]$ {escape(shown)}[/]", highlight=False, soft_wrap=True)
    add_command(
        str(target / DATA_FOLDER),
        DATASET,
        description=fields["description"],
        owner=fields["owner"],
        frequency=fields["frequency"],
        source=fields["source"],
    )


def _own_folder(folder: Path) -> None:
    """Create ``folder`` if needed; refuse a link there (quickstart writes only in its own)."""
    if folder.is_symlink():
        raise InvalidInputError(
            f"{folder} is a symbolic link; quickstart writes only into folders of its own: "
            "remove the link or run cairn quickstart in another folder"
        )
    folder.mkdir(exist_ok=True)


def _validation(target: Path) -> None:
    """Profile the dataset into a suite, pass a fresh batch, and catch a broken one."""
    import pandas as pd

    from cairn.cli.validate import check_command, profile_command

    _section(
        "2. expectations from the data, checked on every batch",
        "profiling turns the dataset into a suite (ranges from quantiles, null rates, formats, "
        "no personal data in free text); new batches are checked against it.",
    )
    console.print(f"\n[bold]$ cairn validate profile data:{DATASET} --suite {DATASET}[/]")
    profile_command(f"data:{DATASET}", DATASET)
    table = pd.read_csv(target / DATA_FOLDER / DATA_FILE)
    batches = target / "batches"
    _own_folder(batches)
    fresh = table.sample(200, replace=True, random_state=7)
    write_file(batches / "fresh.csv", fresh.to_csv(index=False).encode())
    broken = fresh.copy()
    broken.loc[broken.index[:20], "mean radius"] = broken["mean radius"].iloc[:20] * 100
    broken.loc[broken.index[20:30], "mean texture"] = None
    write_file(batches / "broken.csv", broken.to_csv(index=False).encode())
    console.print(f"\n[bold]$ cairn validate check batches/fresh.csv --suite {DATASET}[/]")
    check_command(str(batches / "fresh.csv"), DATASET)
    console.print(
        f"\n[bold]$ cairn validate check batches/broken.csv --suite {DATASET} "
        "--report batches/report.html[/]"
    )
    try:
        check_command(str(batches / "broken.csv"), DATASET, report=batches / "report.html")
    except typer.Exit as refused:
        console.print(
            f"[dim](exit {refused.exit_code}: the broken batch is refused; the report is in "
            "batches/report.html)[/]"
        )


def _sweep(target: Path) -> str:
    """Run train.py, list and compare its runs, show the dataset's readers; return the best id."""
    _section(
        "3. a tracked sweep",
        "train.py trains three models from the dataset; each is a run cairn records, "
        "with the dataset version it read.",
    )
    console.print("\n[bold]$ python train.py[/]")
    child_env = dict(os.environ)  # the child's environment, built explicitly
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    done = subprocess.run([sys.executable, "train.py"], cwd=target, env=child_env, check=False)
    if done.returncode != 0:
        raise CairnError(f"train.py failed (exit {done.returncode}); see the output above")
    console.print("\n[bold]$ cairn runs ls[/]")
    list_runs(experiment="quickstart", limit=10)
    best = tracking.find_runs(
        "metrics.auc IS NOT NULL", ["metrics.auc DESC"], experiment="quickstart", limit=2
    )
    if len(best) == 2:
        console.print(f"\n[bold]$ cairn runs compare {best[0].id} {best[1].id}[/]")
        compare_runs([best[0].id, best[1].id])
    console.print("\n[bold]$ cairn data ls[/]")
    list_command()
    console.print(f"\n[bold]$ cairn data show {DATASET}[/]")
    show_command(DATASET)
    return best[0].id if best else "RUN"


def _champion(target: Path, best: str) -> None:
    """Make the best run's model the champion, load it back by alias, show its lineage."""
    _section(
        "4. the best model becomes the champion",
        "each run registered a version of the model; the alias names the one to serve, and "
        "the lineage leads from it back to its run, its code and its data.",
    )
    found = [v for v in registry.list_versions(MODEL) if v.run_id == best]
    if not found:
        raise CairnError(f"train.py registered no version of {MODEL} in run {best}")
    number = found[0].version
    console.print(f"\n[bold]$ cairn models alias {MODEL} champion {number}[/]")
    alias_command(MODEL, "champion", str(number))
    # The runner-up becomes the challenger, so that the promote hint below has one to test.
    others = [v.version for v in registry.list_versions(MODEL) if v.version != number]
    if others:
        console.print(f"\n[bold]$ cairn models alias {MODEL} challenger {max(others)}[/]")
        alias_command(MODEL, "challenger", str(max(others)))
    console.print("\n[bold]$ cairn models ls[/]")
    list_models()
    uri = f"models:/{MODEL}@champion"
    console.print(f'\n[bold]>>> model = cairn.load_model("{uri}")[/]')
    model = registry.load_model(uri)
    rows = _first_rows(target)
    console.print("[bold]>>> model.predict(df.head(5))[/]")
    console.print(
        f"  {model.predict(rows.drop(columns='target')).tolist()}  (the table says "
        f"{rows['target'].tolist()}; version {model.version} answered)",
        highlight=False,
        markup=False,
    )
    console.print(f"\n[bold]$ cairn models lineage {MODEL}@champion[/]")
    lineage_command(f"{MODEL}@champion")


def _serve(target: Path) -> None:
    """Serve the champion on a free port, send it requests, show the log and metrics, stop."""
    import json
    import signal
    import socket
    import time
    import urllib.request

    from cairn.serving import read_prediction_log

    _section(
        "5. the champion behind an HTTP API",
        "cairn serve batches concurrent requests, logs every prediction for drift monitoring, "
        "and exposes /metrics for Prometheus.",
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    base = f"http://127.0.0.1:{port}"
    uri = f"models:/{MODEL}@champion"
    console.print(f"\n[bold]$ cairn serve {uri} --port {port} &[/]")
    server = subprocess.Popen(
        [sys.executable, "-m", "cairn.cli.main", "serve", uri, "--port", str(port)],
        cwd=target,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=1) as ready:
                    if ready.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise CairnError(f"cairn serve did not start: {server.communicate()[1][-2000:]}")
            time.sleep(0.2)
        rows = _first_rows(target).drop(columns="target")
        for _, row in rows.head(3).iterrows():
            body = json.dumps({"inputs": [row.to_dict()], "probabilities": True}).encode()
            request = urllib.request.Request(
                f"{base}/predict", body, {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                shown = json.loads(answer.read())
            console.print(
                f"POST /predict -> {shown['predictions']} "
                f"(probabilities {[[round(p, 3) for p in r] for r in shown['probabilities']]}, "
                f"served by {shown['served_by']})",
                highlight=False,
                markup=False,
            )
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as answer:
            metrics = answer.read().decode()
        console.print(f"\n[bold]$ curl {base}/metrics[/]  [dim](some of it)[/]")
        for line in metrics.splitlines():
            if line.startswith(
                ("cairn_requests_total", "cairn_batch_rows_count", "cairn_model_version")
            ):
                console.print(f"  {line}", highlight=False, markup=False)
    finally:
        server.send_signal(signal.SIGINT)  # a graceful stop seals the prediction log
        server.communicate(timeout=60)
    console.print(f'\n[bold]>>> cairn.serving.read_prediction_log("{MODEL}").tail(3)[/]')
    log = read_prediction_log(MODEL)
    shown_columns = ["_ts", "_version", "_prediction", "_proba_1", "mean radius", "worst area"]
    console.print(log[shown_columns].tail(3).to_string(index=False), highlight=False, markup=False)


def _first_rows(target: Path) -> Any:
    """The first five rows of the quickstart's table."""
    import pandas as pd

    return pd.read_csv(target / DATA_FOLDER / DATA_FILE, nrows=5)


def _section(title: str, note: str = "", align: AlignMethod = "left") -> None:
    """Start a part of the tour, with a line on what it shows."""
    console.print()
    console.rule(f"[bold]{title}", align=align)
    if note:
        console.print(f"[dim]{note}[/]", highlight=False)


def _launch(
    flag: str, *, seed: int | None = None, seeds: list[int] | None = None
) -> tracking.LaunchResult:
    """Launch train_seeded.py as ``cairn run`` does; a failed command is an error."""
    shown = SEEDED_SHOWN.format(flag)
    console.print(f"\n[bold]$ {shown}[/]")
    result = tracking.launch(SEEDED, seed=seed, seeds=seeds, experiment=SEEDS_EXPERIMENT)
    if result.exit_code != 0:
        raise CairnError(
            f"train_seeded.py failed (exit {result.exit_code}) under '{shown}'; "
            "see the output above"
        )
    return result


def _model_metrics(run_id: str) -> dict[str, float]:
    """The metrics train_seeded.py logged, without the sampler's system/* metrics."""
    metrics = tracking.get_run(run_id).metrics
    return {k: v for k, v in sorted(metrics.items()) if not k.startswith("system/")}


def _same_seed_twice() -> tuple[str, str]:
    """Train twice with seed 42, show that the metrics are identical, and diff the runs."""
    _section(
        "6. the same seed twice: the same result",
        "train_seeded.py has no random_state of its own: its split and forest draw from "
        "cairn.rng(), which --seed seeds.",
    )
    first, second = (_launch("--seed 42", seed=42).run_id for _ in range(2))
    metrics = [_model_metrics(first), _model_metrics(second)]
    console.print()
    for run_id, values in zip((first, second), metrics, strict=True):
        shown = "  ".join(f"{k} {v!r}" for k, v in values.items())
        console.print(f"  run {run_id}: {shown}", highlight=False)
    if metrics[0] and metrics[0] == metrics[1]:  # exact equality: bit for bit
        shown = " and ".join(f"{k} {v:.4f}" for k, v in metrics[0].items())
        console.print(
            f"[bold green]same seed, same result:[/] {shown} in both runs (bit-identical)"
        )
    else:
        console.print(
            "[bold red]same seed, different results:[/] this should not happen; "
            "the diff below shows what else differed between the runs"
        )
    console.print(f"\n[bold]$ cairn runs diff {first} {second}[/]")
    diff_runs(first, second)
    return first, second


def _several_seeds() -> tracking.LaunchResult:
    """Train once per seed, show the parent run and the metric's mean and spread."""
    _section(
        "7. several seeds: how much of the result is luck",
        "each seed is a child run; the parent run gets every metric's mean, std, min and max.",
    )
    result = _launch("--seeds 1,2,3", seeds=[1, 2, 3])
    console.print(f"\n[bold]$ cairn runs show {result.run_id}[/]")
    show_run(result.run_id)
    stats = result.aggregates
    if "auc.mean" in stats:
        console.print(
            f"\n[bold]auc over {len(result.child_ids)} seeds:[/] mean {stats['auc.mean']:.4f} "
            f"± {stats['auc.std']:.4f} (min {stats['auc.min']:.4f}, max {stats['auc.max']:.4f})"
        )
    return result
