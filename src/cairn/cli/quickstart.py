"""``cairn quickstart``: a tracked scikit-learn project in a fresh folder, end to end.

It adds the breast-cancer table to the data catalog (``cairn data add``) and profiles it into a
validation suite, then trains through a pipeline written into the project (``pipeline.py``:
load, validate, featurize, train per seed, evaluate, register; run as ``cairn pipeline run``
runs it): once, again with everything cached, and with one param changed so that only the
steps below it run. It makes the best registered model the ``champion``, loads it back by alias,
prints its lineage, and serves it; traffic with one feature shifted goes to the server, and
monitoring its prediction log against the model's training data flags that feature and no
other. Then it shows seeding through ``cairn run``: the same seed twice gives bit-identical
metrics, and several seeds give a mean and a spread. Last, team mode: a ``cairn server``, a
client logging to it with a token, and the offline spool delivered by ``cairn sync``; and the
web UI (``cairn ui``), each page it names asked for once.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.align import AlignMethod
from rich.markup import escape

from cairn import registry, tracking
from cairn.cli._quickstart_files import FILES
from cairn.cli._quickstart_seeds import same_seed_twice, several_seeds
from cairn.cli._quickstart_team import team_mode, wait_until_up
from cairn.cli._quickstart_ui import web_ui
from cairn.cli._render import console
from cairn.cli.data import add_command, list_command, show_command
from cairn.cli.models import alias_command, lineage_command
from cairn.cli.models import list_command as list_models
from cairn.cli.pipeline import ls_command as list_pipeline_runs
from cairn.cli.pipeline import show_command as show_pipeline
from cairn.cli.pipeline import status_command as pipeline_status
from cairn.cli.runs import compare_runs
from cairn.core.destination import write_file
from cairn.core.errors import CairnError, InvalidInputError
from cairn.core.lazy import import_optional
from cairn.core.settings import configure
from cairn.core.user import current_user

DATASET = "breast-cancer"
MODEL = "breast-cancer-rf"
DATA_FOLDER = "data"  # the folder added as the dataset: one CSV file
DATA_FILE = "breast_cancer.csv"
DATA_DESCRIPTION = "Breast tumours: 30 cell-nucleus measurements, diagnosis (target 1: benign)"
DATA_SOURCE = "sklearn.datasets.load_breast_cancer"
PIPELINE = "pipeline:training"  # MODULE:PIPELINE, as cairn pipeline run takes it
CHANGED = "model.max_depth=2"  # the param the third run changes: shallower trees
CHANGED_SHOWN = f"--set {CHANGED}"
STEP_ORDER = ("load", "validate", "featurize", "train", "evaluate", "register")
SHIFTED = "mean texture"  # the feature the drifted traffic moves
SHIFT_SD = 1.5  # by this many of the training data's standard deviations
WINDOW_ROWS = 300  # rows per monitoring window: the traffic like the training data, then shifted
SHOWN_REQUESTS = 3  # the single-row requests shown one by one (the first window's first rows)
REPORT = "monitoring/report.html"


def quickstart_command(
    directory: Annotated[
        Path | None,
        typer.Argument(help="the folder (default cairn-quickstart; with --loop, cairn-loop)"),
    ] = None,
    loop: Annotated[
        bool,
        typer.Option(
            "--loop",
            help="instead: the closed loop in two minutes on the wine data (serve, drift, "
            "alert, retraining, comparison, swap, audit trail)",
        ),
    ] = False,
) -> None:
    """Create a small tracked scikit-learn project, train it, and show the runs."""
    if loop:
        from cairn.cli._quickstart_loop import loop_tour

        loop_tour(directory or Path("cairn-loop"))
        return
    directory = directory or Path("cairn-quickstart")
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
    # Like `cairn pipeline run`, from the project's folder (its modules import from there).
    with _working_directory(target):
        runs = _pipeline_runs(target)
    _champion(target)
    _serve(target)
    _monitoring(target)
    # The launcher starts its command in the working directory, with the project's settings.
    with _working_directory(target):
        first, _ = same_seed_twice(console, _section)
        seeds = several_seeds(console, _section)
    team_mode(target, console, _section)
    web_ui(target, console, _section, MODEL, seeds.child_ids)
    _section("the pipeline, three runs", align="center")
    _pipeline_summary(runs)
    _section("next", align="center")
    console.print(
        f"  cd {directory}\n"
        "  cairn ui   [dim]# runs, charts, comparisons, data, models and lineage in a browser[/]\n"
        "  cairn quickstart --loop   [dim]# the closed loop: drift, retraining, promotion, hot "
        "swap[/]\n"
        f"  cairn pipeline status {PIPELINE}   [dim]# which steps would run, and why[/]\n"
        f"  cairn pipeline show {PIPELINE}   [dim]# the graph, last statuses and durations[/]\n"
        "  cairn pipeline ls   [dim]# pipeline runs and their steps' statuses[/]\n"
        f"  cairn pipeline run {PIPELINE} --set model.n_estimators=200   [dim]# train and "
        "below re-run[/]\n"
        f"  cairn data show {DATASET}   [dim]# its catalog fields, versions and readers[/]\n"
        f"  cairn validate show {DATASET}   [dim]# the suite profiled from it (YAML)[/]\n"
        f"  edit {DATA_FOLDER}/{DATA_FILE}, then: cairn data add {DATA_FOLDER} --name {DATASET}"
        f"   [dim]# v2: cairn pipeline run {PIPELINE} re-runs every step[/]\n"
        '  cairn runs ls --filter "metrics.auc > 0.97" --sort "metrics.auc DESC"\n'
        f"  cairn runs show {runs[0].run_id}   [dim]# the first pipeline run[/]\n"
        f"  cairn models show {MODEL}@champion   [dim]# its signature and requirements[/]\n"
        f"  cairn serve models:/{MODEL}@champion   [dim]# then open http://127.0.0.1:8000/docs[/]\n"
        f"  cairn monitor show {MODEL}   [dim]# each window's drift, feature by feature[/]\n"
        "  curl http://127.0.0.1:8000/metrics | grep drift   [dim]# the latest window, as "
        "Prometheus gauges[/]\n"
        f'  cairn models promote {MODEL} --from challenger --require "metrics.auc > '
        'champion.metrics.auc"   [dim]# refused until a challenger beats the champion[/]\n'
        f'  in Python: cairn.load_model("models:/{MODEL}@champion").predict(df)\n'
        f"  cairn runs diff {first} {seeds.child_ids[0]}   [dim]# seed 42 against seed 1[/]\n"
        "  cairn run --seeds 1,2,3,4,5 -- python train_seeded.py\n"
        '  in Python: cairn.search_runs("params.max_depth >= 4")  → a pandas DataFrame\n'
        "  cairn server --host 0.0.0.0 --workers 4   [dim]# the team's API over PostgreSQL + "
        "S3; laptops set CAIRN_SERVER and CAIRN_TOKEN[/]",
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


@dataclass
class _PipelineRun:
    """A pipeline run quickstart started: its id and each step's (node, status, run id)."""

    run_id: str
    steps: list[tuple[str, str, str]]

    def nodes(self, status: str) -> list[str]:
        """The steps that ended with ``status``, in the pipeline's order."""
        return [node for node, ended, _ in self.steps if ended == status]

    def step_run(self, node: str) -> str | None:
        """The id of step ``node``'s run."""
        return next((run for name, _, run in self.steps if name == node), None)


def _run(target: Path, sets: list[str] | None = None) -> _PipelineRun:
    """Run ``cairn pipeline run`` on the project's pipeline, its lines shown as they come."""
    command = ["pipeline", "run", PIPELINE, *(sets or [])]
    shown = shlex.join(["cairn", *command])
    console.print(f"\n[bold]$ {shown}[/]")
    child_env = dict(os.environ)  # the child's environment, built explicitly
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    # A process of its own, as a user runs it; its step lines (stderr) are shown here.
    with subprocess.Popen(
        [sys.executable, "-m", "cairn.cli.main", *command],
        cwd=target,
        env=child_env,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        lines = []
        for line in process.stderr:
            lines.append(line)
            console.print(f"  {line.rstrip()}", highlight=False, markup=False, soft_wrap=True)
    found = [m for m in (re.match(r"pipeline run (\S+) ", line) for line in lines) if m]
    if process.returncode != 0 or not found:
        raise CairnError(f"'{shown}' failed (exit {process.returncode}); see the output above")
    run_id = found[-1][1]
    children = tracking.find_runs(f"parent_run_id = '{run_id}'")
    steps = [(c.tags.get("cairn.step", c.name), c.status, c.id) for c in children]
    return _PipelineRun(run_id, sorted(steps, key=lambda step: _step_rank(step[0])))


def _step_rank(node: str) -> tuple[int, int, str]:
    """Where ``node`` comes in the quickstart pipeline's order (train[2] after train[1])."""
    name, _, rest = node.partition("[")
    index = rest.rstrip("]")
    rank = STEP_ORDER.index(name) if name in STEP_ORDER else len(STEP_ORDER)
    return rank, int(index) if index.isdigit() else 0, node


def _pipeline_runs(target: Path) -> list[_PipelineRun]:
    """Run the pipeline three times: all new, all cached, one param changed; return the runs."""
    _section(
        "3. a training pipeline",
        "pipeline.py: load → validate → featurize → train per seed (in parallel) → evaluate "
        "(the best) → register. Each step is a tracked run, cached by its code, params, "
        "inputs, the catalog versions it read and the packages it imports.",
    )
    first = _run(target)
    console.print(f"\n[bold]$ cairn pipeline show {PIPELINE}[/]")
    show_pipeline(PIPELINE)
    _section(
        "4. the same pipeline again: nothing changed, nothing runs",
        "every step's key is unchanged, so its output comes from the run that made it.",
    )
    second = _run(target)
    ran = second.nodes("finished")
    if ran:
        console.print(f"[bold red]ran again although nothing changed:[/] {', '.join(ran)}")
    else:
        console.print(
            f"[bold green]all {len(second.steps)} steps cached:[/] nothing ran, and no new "
            f"version of {MODEL} was registered"
        )
    _section(
        "5. one param changed: only the steps below it run",
        f"{CHANGED_SHOWN} (shallower trees) changes the train steps' params; load, validate "
        "and featurize do not take it and stay cached.",
    )
    console.print(f"\n[bold]$ cairn pipeline status {PIPELINE} {CHANGED_SHOWN}[/]")
    try:
        pipeline_status(PIPELINE, [CHANGED])
    except typer.Exit as stale:
        console.print(f"[dim](exit {stale.exit_code}: some steps would run)[/]")
    third = _run(target, ["--set", CHANGED])
    console.print(
        f"[bold green]re-ran {len(third.nodes('finished'))} steps:[/] "
        f"{', '.join(third.nodes('finished'))}; cached: {', '.join(third.nodes('cached'))}",
        highlight=False,
    )
    before, after = first.step_run("train[0]"), third.step_run("train[0]")
    if before and after:
        console.print(f"\n[bold]$ cairn runs compare {before} {after}[/]  [dim](train[0])[/]")
        compare_runs([before, after])
    console.print("\n[bold]$ cairn pipeline ls[/]")
    list_pipeline_runs()
    console.print("\n[bold]$ cairn data ls[/]")
    list_command()
    console.print(f"\n[bold]$ cairn data show {DATASET}[/]")
    show_command(DATASET)
    return [first, second, third]


def _pipeline_summary(runs: list[_PipelineRun]) -> None:
    """A few lines: what each pipeline run ran, what came from the cache, what to try."""
    labels = ("run 1", "run 2, nothing changed", f"run 3, {CHANGED_SHOWN}")
    for label, result in zip(labels, runs, strict=True):
        ran, cached = result.nodes("finished"), result.nodes("cached")
        if not ran:
            what = f"ran nothing: all {len(cached)} steps cached"
        elif not cached:
            what = f"ran all {len(ran)} steps"
        else:
            what = f"ran {', '.join(ran)}; cached {', '.join(cached)}"
        console.print(f"  {label:<32} {what}", highlight=False)
    console.print(
        f"  try: cairn pipeline status {PIPELINE} · cairn pipeline show {PIPELINE} · "
        "cairn pipeline ls",
        highlight=False,
    )


def _champion(target: Path) -> None:
    """Make the best registered model the champion, load it back by alias, show its lineage."""
    _section(
        "6. the best model becomes the champion",
        "the register step logged a version of the model in each pipeline run that trained; "
        "the alias names the one to serve, and the lineage leads from it back to its run and "
        "its data.",
    )
    aucs = {
        v.version: tracking.get_run(v.run_id).metrics.get("auc", float("-inf"))
        for v in registry.list_versions(MODEL)
        if v.run_id is not None
    }
    if not aucs:
        raise CairnError(f"the pipeline registered no version of {MODEL}")
    ranked = sorted(aucs, key=lambda number: (aucs[number], number), reverse=True)
    number = ranked[0]
    console.print(f"\n[bold]$ cairn models alias {MODEL} champion {number}[/]")
    alias_command(MODEL, "champion", str(number))
    # The runner-up becomes the challenger, so that the promote hint below has one to test.
    if len(ranked) > 1:
        console.print(f"\n[bold]$ cairn models alias {MODEL} challenger {ranked[1]}[/]")
        alias_command(MODEL, "challenger", str(ranked[1]))
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
    import urllib.request

    from cairn.serving import read_prediction_log

    _section(
        "7. the champion behind an HTTP API",
        "cairn serve batches concurrent requests, logs every prediction for drift monitoring, "
        "and exposes /metrics for Prometheus. After a few requests like the training data, "
        f"traffic arrives with {SHIFTED} shifted.",
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
        wait_until_up(server, f"{base}/readyz", "cairn serve")
        rows = _first_rows(target).drop(columns="target")
        for _, row in rows.head(SHOWN_REQUESTS).iterrows():
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
        _traffic(base, target)
    finally:
        server.send_signal(signal.SIGINT)  # a graceful stop seals the prediction log
        server.communicate(timeout=60)
    console.print(f'\n[bold]>>> cairn.serving.read_prediction_log("{MODEL}").tail(3)[/]')
    log = read_prediction_log(MODEL)
    shown_columns = ["_ts", "_version", "_prediction", "_proba_1", "mean radius", SHIFTED]
    console.print(log[shown_columns].tail(3).to_string(index=False), highlight=False, markup=False)


def _traffic(base: str, target: Path) -> None:
    """Send a window of rows like the training data, then a window with one feature shifted."""
    import json
    import urllib.request

    import pandas as pd

    table = pd.read_csv(target / DATA_FOLDER / DATA_FILE).drop(columns="target")
    # Rows drawn from the training table itself: the first window (with the rows shown above)
    # looks like the training data; the second has SHIFTED moved by SHIFT_SD sds.
    like = table.sample(WINDOW_ROWS - SHOWN_REQUESTS, replace=True, random_state=11)
    shifted = table.sample(WINDOW_ROWS, replace=True, random_state=12)
    moved = SHIFT_SD * float(table[SHIFTED].std())
    shifted[SHIFTED] = shifted[SHIFTED] + moved
    for frame in (like, shifted):
        for start in range(0, len(frame), 50):
            part = frame.iloc[start : start + 50]
            records = part.to_dict(orient="records")
            body = json.dumps({"inputs": records, "probabilities": True}).encode()
            request = urllib.request.Request(
                f"{base}/predict", body, {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                answer.read()
    console.print(
        f"\nsent {len(like)} more rows drawn from the training table, then {len(shifted)} with "
        f"[bold]{SHIFTED}[/] + {SHIFT_SD} sd (+{moved:.2f}; every other feature as in training)",
        highlight=False,
    )


def _monitoring(target: Path) -> None:
    """Monitor the served traffic against the training data: one feature drifted, no other."""
    from cairn.monitoring import monitor_history, monitor_model

    _section(
        "8. drift: the served traffic against the training data",
        f"{MODEL}'s reference was summarized from {DATASET}@v1 when the model was registered "
        "(its lineage names the data); every window of the prediction log is compared with "
        "it, feature by feature and for the predictions, and each window's result is stored.",
    )
    console.print(f"\n[bold]$ cairn monitor run {MODEL} --window {WINDOW_ROWS}[/]")
    result = monitor_model(MODEL, window=WINDOW_ROWS)
    # The stored windows hold each column's verdict and effect (what `cairn monitor show` reads).
    stored = monitor_history(MODEL, limit=len(result.windows)) if result.windows else []
    for number, window in enumerate(stored, 1):
        columns = window.result.get("columns", [])
        tested = [c for c in columns if c.get("verdict") in ("drift", "no drift")]
        drifted = [c for c in tested if c["verdict"] == "drift"]
        what = ", ".join(f"{c['column']}{_effect(c)}" for c in drifted)
        console.print(
            f"  window {number}: {window.rows} rows of version {window.version}: "
            f"{len(drifted)} of {len(tested)} columns drifted{': ' if what else ''}{what}",
            highlight=False,
            markup=False,
        )
    # The last two windows are this quickstart's traffic (a quickstart run again in the same
    # folder adds two more to the log).
    if [w.drifted for w in result.windows[-2:]] == [[], [SHIFTED]]:
        console.print(
            f"[bold green]drift flagged on {SHIFTED} only:[/] the traffic like the training data "
            f"passed, and in the shifted window {SHIFTED} drifted while the other features and "
            "the predictions did not",
            highlight=False,
        )
    else:
        console.print(
            f"[bold red]unexpected drift verdicts:[/] only {SHIFTED} in the second window "
            "should have drifted",
            highlight=False,
        )
    _report(target)


def _effect(column: dict[str, Any]) -> str:
    """`` (effect 1.54 sd)``: a drifted column's effect size, where there is one."""
    effect = column.get("effect")
    if not isinstance(effect, (int, float)):
        return ""
    return f" (effect {effect:.2f}{' sd' if column.get('kind') == 'numeric' else ''})"


def _report(target: Path) -> None:
    """Write the monitoring report: one HTML file that works offline."""
    from cairn.monitoring.report import build_report

    console.print(f"\n[bold]$ cairn monitor report {MODEL} -o {REPORT}[/]")
    _own_folder((target / REPORT).parent)
    report = build_report(MODEL)
    report.save(target / REPORT)
    console.print(f"  {REPORT}: {report.summary}", highlight=False, markup=False)


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
