"""The quickstart's seeding part: ``train_seeded.py`` launched as ``cairn run`` does, the same
seed twice (bit-identical metrics, and what autologging recorded of the fit with no log call),
then several seeds (a mean and a spread)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from rich.console import Console

from cairn import tracking
from cairn.cli.runs import diff_runs, show_run
from cairn.core.errors import CairnError

SEEDS_EXPERIMENT = "quickstart-seeds"
SEEDED = [sys.executable, "train_seeded.py"]
SEEDED_SHOWN = f"cairn run -e {SEEDS_EXPERIMENT} {{}} -- python train_seeded.py"
Section = Callable[..., None]  # the quickstart's heading of a part: (title, note)


def _launch(
    console: Console, flag: str, *, seed: int | None = None, seeds: list[int] | None = None
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


def same_seed_twice(console: Console, section: Section) -> tuple[str, str]:
    """Train twice with seed 42, show that the metrics are identical, and diff the runs."""
    section(
        "9. the same seed twice: the same result",
        "train_seeded.py has no random_state of its own: its split and forest draw from "
        "cairn.rng(), which --seed seeds.",
    )
    first, second = (_launch(console, "--seed 42", seed=42).run_id for _ in range(2))
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
    _autologged(console, first)
    console.print(f"\n[bold]$ cairn runs diff {first} {second}[/]")
    diff_runs(first, second)
    return first, second


def _autologged(console: Console, run_id: str) -> None:
    """Say what autologging recorded of the forest's fit (train_seeded.py logs only auc and
    accuracy itself)."""
    record = tracking.get_run(run_id, history=False)
    if record.tags.get("cairn.autolog") != "sklearn":
        console.print("[dim]autolog recorded nothing here (capture.autolog is off)[/]")
        return
    own = sorted(k for k in record.params if not k.startswith("model."))  # not cairn.yaml's
    has_model = any(a.path == "model/cairn-model.json" for a in record.artifacts)
    score = record.metrics.get("training_accuracy_score")
    console.print(
        f"[bold]autologged[/] (no log call in train_seeded.py): "
        f"{record.tags.get('estimator_name', 'the estimator')}'s {len(own)} params "
        f"({', '.join(own[:3])}, ...)"
        + (f", training_accuracy_score {score:.4f}" if score is not None else "")
        + (f", the model at runs:/{run_id}/model" if has_model else ""),
        highlight=False,
    )


def several_seeds(console: Console, section: Section) -> tracking.LaunchResult:
    """Train once per seed, show the parent run and the metric's mean and spread."""
    section(
        "10. several seeds: how much of the result is luck",
        "each seed is a child run; the parent run gets every metric's mean, std, min and max.",
    )
    result = _launch(console, "--seeds 1,2,3", seeds=[1, 2, 3])
    console.print(f"\n[bold]$ cairn runs show {result.run_id}[/]")
    show_run(result.run_id)
    stats = result.aggregates
    if "auc.mean" in stats:
        console.print(
            f"\n[bold]auc over {len(result.child_ids)} seeds:[/] mean {stats['auc.mean']:.4f} "
            f"± {stats['auc.std']:.4f} (min {stats['auc.min']:.4f}, max {stats['auc.max']:.4f})"
        )
    return result
