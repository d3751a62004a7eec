"""The files ``cairn quickstart`` writes into the project it creates."""

from __future__ import annotations

PIPELINE_PY = '''\
"""Train the breast-cancer model as a pipeline: every step is a tracked run, cached by content.

    cairn pipeline run pipeline:training                            # only what changed runs
    cairn pipeline run pipeline:training --set model.max_depth=2    # train and below re-run
    cairn pipeline status pipeline:training                         # what would run, and why
    cairn pipeline show pipeline:training                           # the graph, last statuses

The pipeline's params are its function's arguments: `model` comes from cairn.yaml's params,
and --set overrides any of them. A step re-runs when its code, its params, its inputs, the
catalog version it read or the packages it imports changed; otherwise its output is reused.
"""

from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

import cairn


@cairn.step
def load(dataset: str):
    """The dataset's latest catalog version (a new version re-runs every step below)."""
    return cairn.data.load(dataset)  # inside a step: the version read is recorded


@cairn.step
def validate(df, suite: str):
    """Refuse to train on a table that fails the suite profiled from the data."""
    result = cairn.validate(df, suite)
    if not result.passed:
        raise ValueError(result.summary())
    return df


@cairn.step
def featurize(df, test_size: float):
    """Features and target, split into train and test sets."""
    X, y = df.drop(columns="target"), df["target"]
    return train_test_split(X, y, test_size=test_size, random_state=0, stratify=y)


@cairn.step
def train(split, seed: int, max_depth: int, n_estimators: int):
    """One random forest per seed; its learning curve is logged to this step's run."""
    X_train, X_test, y_train, y_test = split
    model = RandomForestClassifier(
        n_estimators=10, max_depth=max_depth, warm_start=True, random_state=seed
    )
    for trees in range(10, n_estimators + 1, 10):
        model.set_params(n_estimators=trees)
        model.fit(X_train, y_train)
        auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
        cairn.log({"auc": auc}, step=trees)
    return {"model": model, "seed": seed, "auc": auc}


@cairn.step
def evaluate(split, candidates):
    """The best of the candidates by AUC (the fan-in), with its test metrics."""
    X_train, X_test, y_train, y_test = split
    best = max(candidates, key=lambda c: c["auc"])
    predicted = best["model"].predict(X_test)
    return best | {"accuracy": accuracy_score(y_test, predicted), "f1": f1_score(y_test, predicted)}


@cairn.step
def register(best, dataset: str, name: str):
    """Log the best model as the next version of the registered model; return its number."""
    cairn.log({key: best[key] for key in ("auc", "accuracy", "f1")})
    # Its input example is read from the catalog: the model's lineage leads to the data.
    example = cairn.data.load(dataset).drop(columns="target").head(5)
    logged = cairn.log_model(best["model"], name, input_example=example,
                             metadata={"seed": best["seed"]})
    return logged.version


@cairn.pipeline
def training(model: dict, seeds: tuple = (1, 2, 3), dataset: str = "breast-cancer"):
    """load -> validate -> featurize -> train per seed -> evaluate -> register."""
    df = validate(load(dataset), suite=dataset)
    split = featurize(df, test_size=0.25)
    candidates = [  # the fan-out: one training per seed, in parallel
        train(split, seed=seed, max_depth=model["max_depth"],
              n_estimators=model["n_estimators"])
        for seed in seeds
    ]
    return register(evaluate(split, candidates), dataset, name="breast-cancer-rf")
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
  model:           # pipeline.py's `model` param (--set model.max_depth=2), and train_seeded.py's
    n_estimators: 100
    max_depth: 4
"""

FILES = (
    ("pipeline.py", PIPELINE_PY),
    ("train_seeded.py", TRAIN_SEEDED_PY),
    ("cairn.yaml", CAIRN_YAML),
)
