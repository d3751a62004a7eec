"""``cairn quickstart --loop``: the closed loop in a fresh folder, on the wine data, with real
processes: a champion served by ``cairn serve``, drifted traffic sent to it, ``cairn
scheduler`` monitoring the prediction log until the drift alert fires, retraining on the new
data, scoring both models on held-out data, promoting the challenger, and the server swapping
it in while the traffic goes on (no request fails). Last, the audit trail."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape

from cairn.cli._quickstart_team import _free_port, _stop, wait_until_up
from cairn.cli._render import console
from cairn.cli.quickstart import _own_folder, _run, _section, _working_directory
from cairn.core.destination import write_file
from cairn.core.errors import CairnError, InvalidInputError
from cairn.core.ids import describe_time
from cairn.core.lazy import import_optional
from cairn.core.settings import configure

MODEL = "wine"
DATASET = "wine"
HOLDOUT = "wine-holdout"
ALERT = "wine-drift"
PIPELINE = "pipeline:training"
MONITOR_ROWS = 120  # drift windows, in rows of the log (drift tests want 100 rows a side)
MONITOR_EVERY_S = 2.0
SWAP_POLL_S = 0.5  # how often the server looks where wine@champion points
LOG_SEAL_S = 1.0  # how often the server seals logged rows into the store (monitoring reads them)
SCHEDULER_POLL_S = 1.0
# The latency bound leaves room for a busy two-core machine (scored while traffic flows).
REQUIRE = "accuracy >= champion.accuracy and latency_p99_ms <= 100"
WAIT_S = 240.0  # the most the tour waits for the swap before giving up
SCHEDULER_LOG = "scheduler.log"
SERVE_LOG = "serve.log"

PIPELINE_PY = '''\
"""Train the wine model as a pipeline: load, train, register (each step a tracked run).

    cairn pipeline run pipeline:training                         # the newest version of wine
    cairn pipeline run pipeline:training --set dataset=wine@v2   # a given version

The closed loop runs it with --set dataset={dataset_version}: the version it validated.
"""

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cairn


@cairn.step
def load(dataset: str):
    """The catalog version named (the lineage records which one was read)."""
    return cairn.data.load(dataset)


@cairn.step
def train(df, C: float):
    """Scale the features and fit a logistic regression."""
    X, y = df.drop(columns="target"), df["target"]
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(X, y)


@cairn.step
def register(model, dataset: str):
    """Register the model as the next version of wine (its reference: the data trained on)."""
    example = cairn.data.load(dataset).drop(columns="target").head(5)
    return cairn.log_model(model, "wine", input_example=example).version


@cairn.pipeline
def training(dataset: str = "wine", C: float = 1.0):
    """load -> train -> register."""
    return register(train(load(dataset), C=C), dataset)
'''

CAIRN_YAML = f"""\
# The closed loop's project settings (cairn quickstart --loop).
monitoring:
  alerts:
    # Fires on a drift window of wine where more than 20% of the columns drifted.
    - {{name: {ALERT}, model: {MODEL}, when: drift_share > 0.2}}
"""

FILES = (("pipeline.py", PIPELINE_PY), ("cairn.yaml", CAIRN_YAML))


def loop_tour(directory: Path) -> None:
    """Show the closed loop end to end in a fresh folder; exit 1 if any request failed."""
    import_optional("sklearn", "sklearn", "cairn quickstart --loop")
    began = time.monotonic()
    target = _fresh_folder(directory)
    for name, content in FILES:
        write_file(target / name, content.encode())
    console.rule("[bold]cairn quickstart --loop")
    console.print(
        f"project: {target}  (pipeline.py, cairn.yaml, data/)\n"
        "[dim]a model is served; the world drifts; cairn scheduler notices, retrains on the "
        "new data, checks the challenger against the champion and promotes it; the server "
        "swaps it in while requests keep coming.[/]",
        highlight=False,
    )
    configure(root=target)  # this process reads and writes the project's store from here on
    frames = _data(target)
    with _working_directory(target):
        _first_model(target)
    processes: list[tuple[str, subprocess.Popen[str]]] = []
    # The children's logs go to files in the project (a pipe nobody reads could fill up).
    with (target / SERVE_LOG).open("w") as serve_log, (target / SCHEDULER_LOG).open("w") as log:
        try:
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            server = _serve(target, port, serve_log)
            processes.append(("cairn serve", server))
            wait_until_up(server, f"{base}/readyz", "cairn serve", log=target / SERVE_LOG)
            console.print(f"  ready: {base}/readyz answered 200", highlight=False)
            with _working_directory(target):
                _policy()
            processes.append(("cairn scheduler", _scheduler(target, log)))
            outcome = _world_changes(target, base, frames, processes)
        finally:
            for _, process in reversed(processes):
                _stop(process)
    _audit(target, outcome, time.monotonic() - began)
    if outcome.failed or not outcome.swapped:
        raise CairnError(
            f"the loop tour ended badly: {outcome.failed} of {outcome.sent} requests failed"
            + ("" if outcome.swapped else ", and the server never served a new version")
            + f"; see {SERVE_LOG} and {SCHEDULER_LOG} in {target}, and the output above"
        )


def _fresh_folder(directory: Path) -> Path:
    """The tour's folder: created, or an empty one (the tour starts from nothing)."""
    target = directory.resolve()
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise InvalidInputError(f"{target} exists and is not a folder; pick another name")
    if target.exists() and any(target.iterdir()):
        raise InvalidInputError(
            f"{target} is not empty; the loop tour starts from a fresh project: remove it or "
            "name another folder (cairn quickstart --loop FOLDER)"
        )
    target.mkdir(parents=True, exist_ok=True)
    return target


@dataclass
class _Frames:
    """The wine rows: training rows, drifted held-out rows, drifted new training rows."""

    train: Any
    holdout: Any
    new: Any


def _drifted(frame: Any) -> Any:
    """The same wines measured by drifted instruments."""
    out = frame.copy()
    out["alcohol"] = out["alcohol"] + 2.0
    out["proline"] = out["proline"] * 1.6
    out["color_intensity"] = out["color_intensity"] + 3.0
    return out


def _data(target: Path) -> _Frames:
    """Add wine (training rows) and wine-holdout (drifted held-out rows); save suite wine."""
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    from cairn.cli.data import add_command
    from cairn.validation import ColumnExists, NullRate, RowCount, Suite, save_suite

    _section(
        "1. the wine data in the catalog",
        "wine: the training rows. wine-holdout: held-out rows measured by the instruments the "
        "world is about to have (alcohol +2, proline x1.6, colour +3): the loop scores every "
        "challenger and the champion on it. Suite wine: what the training data must pass.",
    )
    frame = load_wine(as_frame=True).frame.rename(
        columns={"od280/od315_of_diluted_wines": "od280_od315"}
    )
    train, rest = train_test_split(frame, test_size=0.3, random_state=0, stratify=frame["target"])
    train = train.reset_index(drop=True)
    holdout = _drifted(rest).reset_index(drop=True)
    # The new labelled data: the training wines again, as the drifted instruments read them.
    new = _drifted(train.sample(frac=1.0, random_state=1)).reset_index(drop=True)
    for name, rows in ((DATASET, train), (HOLDOUT, holdout)):
        _write_table(target, name, rows)
        console.print(f"\n[bold]$ cairn data add data/{name} --name {name}[/]")
        add_command(str(target / "data" / name), name, description=_DESCRIPTIONS[name])
    columns = list(train.columns)
    suite = Suite(
        DATASET,
        [RowCount(min=50)]
        + [ColumnExists(column=c) for c in columns]
        + [NullRate(column=c) for c in columns],
    )
    save_suite(suite)
    console.print(
        f"\n[bold]>>> cairn.save_suite(Suite('{DATASET}', [RowCount(min=50), ColumnExists(...), "
        f"NullRate(...)]))[/]  [dim]({len(suite.expectations)} expectations)[/]",
        highlight=False,
    )
    return _Frames(train, holdout, new)


_DESCRIPTIONS = {
    DATASET: "Wines: 13 chemical measurements, cultivar (target 0-2); the training rows",
    HOLDOUT: "Held-out wines measured by the drifted instruments (labelled)",
}


def _write_table(target: Path, name: str, rows: Any) -> None:
    """Write ``rows`` as data/NAME/NAME.csv (a folder per dataset, as cairn data add takes)."""
    _own_folder(target / "data")
    _own_folder(target / "data" / name)
    write_file(target / "data" / name / f"{name}.csv", rows.to_csv(index=False).encode())


def _first_model(target: Path) -> None:
    """Train version 1 through the pipeline and make it the champion."""
    from cairn.cli.models import alias_command

    _section(
        "2. the first model: version 1, the champion",
        "pipeline.py: load -> train (StandardScaler + LogisticRegression) -> register.",
    )
    _run(target)
    console.print(f"\n[bold]$ cairn models alias {MODEL} champion 1[/]")
    alias_command(MODEL, "champion", "1")


def _serve(target: Path, port: int, log: Any) -> subprocess.Popen[str]:
    """Start ``cairn serve models:/wine@champion`` (it follows the alias) on ``port``."""
    _section(
        "3. the champion behind an HTTP API",
        f"the server follows wine@champion: it looks where the alias points every "
        f"{SWAP_POLL_S:g} s and swaps a new version in (loaded and warmed up first). It seals "
        f"the prediction log every {LOG_SEAL_S:g} s here (default 300 s) so that the tour's "
        "monitoring sees the traffic at once.",
    )
    command = [
        "serve",
        f"models:/{MODEL}@champion",
        "--port",
        str(port),
        "--swap-poll-s",
        str(SWAP_POLL_S),
        "--log-seal-s",
        str(LOG_SEAL_S),
    ]
    shown = escape(shlex.join(["cairn", *command]))
    console.print(f"\n[bold]$ {shown} 2> {SERVE_LOG} &[/]", highlight=False)
    return subprocess.Popen(
        [sys.executable, "-m", "cairn.cli.main", *command],
        cwd=target,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )


def _policy() -> None:
    """Set wine's retraining policy (as ``cairn models policy`` does) and show it."""
    from cairn.cli._models_loop import policy_command

    _section(
        "4. the loop's policy",
        f"on alert {ALERT}: check the newest wine against suite wine, retrain on it through "
        "pipeline:training, score both models on wine-holdout, promote the challenger if the "
        "rule holds. The scheduler monitors wine every "
        f"{MONITOR_EVERY_S:g} s in windows of {MONITOR_ROWS} rows; triggers while a retraining "
        "runs are dropped (it trains on the newest data anyway).",
    )
    shown = [
        "cairn", "models", "policy", MODEL, "--pipeline", PIPELINE, "--on-alert", ALERT,
        "--monitor", str(MONITOR_ROWS), "--monitor-every", f"{MONITOR_EVERY_S:g}",
        "--dataset", DATASET, "--suite", DATASET, "--set", "dataset={dataset_version}",
        "--holdout", HOLDOUT, "--target", "target", "--require", REQUIRE,
        "--on-busy", "drop", "--executor", "inline",
    ]  # fmt: skip
    console.print(f"\n[bold]$ {escape(shlex.join(shown))}[/]", highlight=False, soft_wrap=True)
    policy_command(
        MODEL,
        pipeline=PIPELINE,
        on_alert=[ALERT],
        dataset=DATASET,
        suite=DATASET,
        holdout=HOLDOUT,
        target="target",
        require=REQUIRE,
        sets=["dataset={dataset_version}"],
        executor="inline",
        on_busy="drop",
        monitor=str(MONITOR_ROWS),
        monitor_every=MONITOR_EVERY_S,
    )


def _scheduler(target: Path, log_file: Any) -> subprocess.Popen[str]:
    """Start ``cairn scheduler`` (its log to SCHEDULER_LOG in the project)."""
    _section(
        "5. cairn scheduler runs the loop",
        "each poll it monitors wine (so the alert rules fire), queues a retraining for a new "
        f"alert and works on it in a thread; its log goes to {SCHEDULER_LOG}.",
    )
    command = ["scheduler", "--poll", f"{SCHEDULER_POLL_S:g}"]
    console.print(f"\n[bold]$ cairn {' '.join(command)} 2> {SCHEDULER_LOG} &[/]", highlight=False)
    return subprocess.Popen(
        [sys.executable, "-m", "cairn.cli.main", *command],
        cwd=target,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=log_file,
        text=True,
    )


@dataclass
class _Outcome:
    """What the client saw: requests sent and failed, versions served, when the swap came."""

    sent: int = 0
    rows: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)  # served_by -> requests answered
    started: float = 0.0  # time.time() when the traffic began
    swapped: float | None = None  # time.time() of the first answer by a new version


class _Client:
    """Sends drifted rows (one row, or a small batch) to the server until told to stop."""

    def __init__(self, base: str, rows: Any, first: str) -> None:
        self.base = base
        self.rows = rows.drop(columns="target").to_dict(orient="records")
        self.first = first
        self.outcome = _Outcome(started=time.time())
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send_all, name="cairn-loop-client")

    def _send_all(self) -> None:
        import random

        draw = random.Random(7)
        while not self.stop.is_set():
            size = draw.choice((1, 1, 1, 2, 3, 5))
            batch = [self.rows[draw.randrange(len(self.rows))] for _ in range(size)]
            self._send(batch)
            self.stop.wait(0.05)

    def _send(self, batch: list[dict[str, Any]]) -> None:
        body = json.dumps({"inputs": batch}).encode()
        request = urllib.request.Request(
            f"{self.base}/predict", body, {"Content-Type": "application/json"}
        )
        out = self.outcome
        out.sent += 1
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                shown = json.loads(answer.read())
            served = str(shown["served_by"])
        except Exception as exc:  # every failure counts, whatever it is
            out.failed += 1
            if len(out.errors) < 5:
                out.errors.append(str(exc))
            return
        out.rows += len(batch)
        out.versions[served] = out.versions.get(served, 0) + 1
        if served != self.first and out.swapped is None:
            out.swapped = time.time()


def _world_changes(
    target: Path, base: str, frames: _Frames, processes: list[tuple[str, subprocess.Popen[str]]]
) -> _Outcome:
    """New labelled data arrives, drifted traffic flows until the server serves a new version."""
    from cairn.cli.data import add_command

    _section(
        "6. the world changes",
        "new labelled data, measured by the drifted instruments, becomes wine@v2; the traffic "
        "the server gets is drifted the same way. Watch the loop:",
    )
    _write_table(target, DATASET, frames.new)
    console.print(f"\n[bold]$ cairn data add data/{DATASET} --name {DATASET}[/]")
    add_command(str(target / "data" / DATASET), DATASET)
    client = _Client(base, _drifted(frames.holdout.sample(frac=1.0, random_state=3)), "wine/1")
    console.print(
        "\n[bold]sending drifted rows[/] to POST /predict (1 to 5 rows a request, about 15 "
        "requests a second) from a client thread...",
        highlight=False,
    )
    client.thread.start()
    seen: set[str] = set()
    deadline = time.monotonic() + WAIT_S
    try:
        while time.monotonic() < deadline:
            for line in _progress(client.outcome):
                if line not in seen:
                    seen.add(line)
                    at = time.time() - client.outcome.started
                    console.print(f"  [{at:5.1f} s] {line}", highlight=False, markup=False)
            if client.outcome.swapped is not None:
                break
            for name, process in processes:
                if process.poll() is not None:
                    raise CairnError(
                        f"{name} stopped (exit {process.returncode}); see {SERVE_LOG} and "
                        f"{SCHEDULER_LOG} in {target}"
                    )
            time.sleep(0.2)
        time.sleep(1.0)  # a few more requests answered by the new version
    finally:
        client.stop.set()
        client.thread.join(30)
    done = client.outcome
    if done.swapped is not None:
        console.print(
            f"  [{done.swapped - done.started:5.1f} s] the client got its first answer from "
            f"{next(v for v in done.versions if v != 'wine/1')}: the server swapped"
        )
    return done


def _progress(outcome: _Outcome) -> list[str]:
    """What the loop has done so far, as lines (each shown once)."""
    from cairn import loop, monitoring

    lines = []
    if outcome.rows:
        lines.append("traffic flowing")
    for alert in reversed(monitoring.list_alerts(MODEL, limit=5)):
        lines.append(f"alert #{alert.id} {alert.rule}: {alert.message}")
    for r in reversed(loop.list_retrainings(MODEL, limit=5)):
        if r.state == "running":
            lines.append(f"retraining #{r.id} ({r.trigger}): running at {r.stage}")
        else:
            lines.append(f"retraining #{r.id} ({r.trigger}): {r.state}")
    return lines


def _audit(target: Path, outcome: _Outcome, elapsed: float) -> None:
    """The alert, the retraining, the model's history, the traffic's count and the timings."""
    from cairn import loop, monitoring, registry
    from cairn.cli.models import history_command

    _section(
        "7. what happened",
        "the audit trail: the alert that started it, then every alias move and, for each "
        "retraining, its trigger, drift, data, validation, pipeline run, both scores, the "
        "rule's checks and the decision (cairn.loop.describe's lines).",
    )
    alerts = monitoring.list_alerts(MODEL)
    fired = min(alerts, key=lambda a: a.id) if alerts else None
    console.print(f'\n[bold]>>> cairn.monitoring.list_alerts("{MODEL}")[-1][/]')
    if fired is None:
        console.print("  no alert fired")
    else:
        console.print(
            f"  alert #{fired.id} {fired.rule} ({fired.condition}), fired "
            f"{describe_time(fired.fired_ms)}: {fired.message}",
            highlight=False,
            markup=False,
        )
    if len(alerts) > 1:
        console.print(
            f"  [dim]and {len(alerts) - 1} more, from later windows of version 1's traffic "
            "(the history below says what became of them)[/]",
            highlight=False,
        )
    console.print(f"\n[bold]$ cairn models history {MODEL}[/]")
    with _working_directory(target):
        history_command(MODEL)
    champion = registry.get_model(MODEL).aliases.get("champion")
    promoted = [r for r in loop.list_retrainings(MODEL) if r.state == "promoted"]
    if promoted:
        console.print(
            f"\n[bold green]{MODEL}@champion -> version {champion}[/] (promoted by retraining "
            f"#{promoted[0].id})",
            highlight=False,
        )
    _log_lines(
        target,
        SCHEDULER_LOG,
        ("alert ", "queued", "promoted", "refused", "-> version", "ERROR", "Traceback"),
        "alert |queued|promoted|refused",
    )
    _log_lines(target, SERVE_LOG, ("now serves", "ERROR", "Traceback"), "now serves")
    _section("the numbers", align="center")
    mark = "green" if outcome.failed == 0 else "red"
    console.print(
        f"requests: {outcome.sent} sent ({outcome.rows} rows), [bold {mark}]{outcome.failed} "
        f"failed[/]; answered by "
        + ", ".join(f"{v}: {n}" for v, n in sorted(outcome.versions.items())),
        highlight=False,
    )
    for error in outcome.errors:
        console.print(f"  [red]{escape(error)}[/]", highlight=False)
    if fired is not None and outcome.swapped is not None:
        console.print(
            "alert fired -> swap seen by the client: "
            f"{outcome.swapped - fired.fired_ms / 1000:.1f} s",
            highlight=False,
        )
    console.print(f"the whole tour: {elapsed:.1f} s", highlight=False)
    _section("next", align="center")
    console.print(
        f"  cd {target.name}\n"
        f"  cairn models history {MODEL}   [dim]# every alias move and retraining, in full[/]\n"
        "  cairn models retrainings   [dim]# the loop's retrainings: trigger, state, decision[/]\n"
        f'  cairn models rollback {MODEL} --reason "the new model misbehaves"   '
        "[dim]# the champion moves back; a server following it swaps back[/]\n"
        f"  cairn models policy {MODEL}   [dim]# the policy the scheduler follows[/]\n"
        "  cairn ui   [dim]# models, aliases, lineage and alerts in a browser[/]",
        highlight=False,
    )


def _log_lines(target: Path, name: str, keep: tuple[str, ...], shown: str) -> None:
    """The lines of a child's log (``name``, in the project) that hold one of ``keep``."""
    path = target / name
    if not path.exists():
        return
    lines = [
        line.rstrip()
        for line in path.read_text(errors="replace").splitlines()
        if any(word in line for word in keep)
    ]
    console.print(f"\n[bold]$ grep -E '{shown}' {name}[/]", highlight=False)
    for line in lines[-15:] or ["(nothing)"]:
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
