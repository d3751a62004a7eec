"""The model registry end to end: logging, versions, aliases, loading, lineage, promotion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn import registry
from cairn.core.errors import (
    ArtifactCorruptedError,
    InvalidInputError,
    ModelLoadError,
    ModelNotFoundError,
    PromotionRuleError,
    RunStateError,
    SignatureError,
)
from cairn.store import Store, get_store


def _data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {
            "age": rng.integers(18, 90, 200),
            "income": rng.normal(50_000, 10_000, 200),
            "city": rng.choice(["paris", "lyon"], 200),
        }
    )
    y = pd.Series((x["income"] > 50_000).astype(int), name="label")
    return x, y


def _model() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x, y = _data()
    prep = ColumnTransformer(
        [("num", StandardScaler(), ["age", "income"]), ("cat", OneHotEncoder(), ["city"])]
    )
    return Pipeline([("prep", prep), ("clf", LogisticRegression())]).fit(x, y)


class Doubler(cairn.PythonModel):
    """A user model: doubles a column, reading its factor from a bundled file."""

    def load(self, context: registry.ModelContext) -> None:
        self.factor = float(Path(context.artifacts["factor"]).read_text())

    def predict(self, inputs: Any) -> Any:
        return (inputs["x"] * self.factor).to_numpy()


def test_versions_count_up_and_load_by_every_uri(quiet_capture: None, store: Store) -> None:
    """Each log registers the next version; alias, number, latest and run URIs all load it."""
    model = _model()
    x, _ = _data()
    with cairn.run() as run:
        first = cairn.log_model(model, "churn", input_example=x.head(5))
        second = cairn.log_model(model, "churn", input_example=x.head(5), metadata={"k": 1})
    assert (first.version, second.version) == (1, 2)
    assert second.artifact_path == "model-2" and second.metadata == {"k": 1}
    assert first.requirements["scikit-learn"]
    registry.set_alias("churn", "champion", 1)
    expected = model.predict(x)
    for uri in (
        "models:/churn@champion",
        "models:/churn/1",
        "models:/churn/latest",
        f"runs:/{run.id}/model",
        "churn@champion",
    ):
        loaded = cairn.load_model(uri)
        assert np.array_equal(loaded.predict(x), expected), uri
    loaded = cairn.load_model("models:/churn@champion")
    assert loaded.version == 1 and loaded.name == "churn" and loaded.flavor == "sklearn"
    assert np.allclose(loaded.predict_proba(x), model.predict_proba(x), rtol=0, atol=0)
    assert cairn.load_model("models:/churn/latest").version == 2
    assert cairn.load_model("models:/churn/latest").metadata == {"k": 1}


def test_skops_versions_load_safely(quiet_capture: None, artifacts: Store) -> None:
    """serialization='skops' saves a format safe=True loads; joblib ones are refused by it."""
    model = _model()
    x, _ = _data()
    with cairn.run():
        safe = cairn.log_model(model, "m", input_example=x.head(3), serialization="skops")
        cairn.log_model(model, "m", input_example=x.head(3))
    loaded = cairn.load_model(f"models:/m/{safe.version}", safe=True)
    assert np.array_equal(loaded.predict(x), model.predict(x))
    with pytest.raises(ModelLoadError, match="serialization='skops'"):
        cairn.load_model("models:/m/2", safe=True)


def test_python_model_with_bundled_artifacts(quiet_capture: None, project: Path) -> None:
    """A PythonModel travels with its files; load(context) finds them where it was loaded."""
    (project / "factor.txt").write_text("2.5")

    class Scaled(Doubler):
        artifacts: ClassVar[dict[str, str]] = {"factor": str(project / "factor.txt")}

    with cairn.run():
        cairn.log_model(Scaled(), "rule", input_example=pd.DataFrame({"x": [1.0, 2.0]}))
    (project / "factor.txt").write_text("9")  # the version keeps the bytes it was logged with
    loaded = cairn.load_model("models:/rule/1")
    assert list(loaded.predict({"x": [2.0, 4.0]})) == [5.0, 10.0]


def test_signature_is_enforced_with_clear_messages(quiet_capture: None) -> None:
    """Missing and mistyped columns are named; safe conversions and extra columns are fine."""
    model = _model()
    x, _ = _data()
    with cairn.run():
        cairn.log_model(model, "churn", input_example=x.head(5))
    loaded = cairn.load_model("models:/churn/1")
    assert loaded.signature is not None
    assert [c.name for c in loaded.signature.columns] == ["age", "income", "city"]
    with pytest.raises(SignatureError, match="missing column 'income'") as caught:
        loaded.predict(x.drop(columns=["income"]))
    assert caught.value.problems == ["missing column 'income' (float64)"]
    bad = x.head(3).astype({"age": object})
    bad.loc[1, "age"] = "old"
    with pytest.raises(SignatureError, match="column 'age' must hold whole numbers"):
        loaded.predict(bad)
    with pytest.raises(SignatureError, match="column 'age'"):
        loaded.predict(x.head(3).assign(age=[1.5, 2.0, 3.0]))
    ok = x.head(3).assign(age=x.head(3)["age"].astype(float), extra=1)
    assert np.array_equal(loaded.predict(ok), model.predict(x.head(3)))
    records = x.head(2).to_dict(orient="records")
    assert np.array_equal(loaded.predict(records), model.predict(x.head(2)))


def test_tensor_signature(quiet_capture: None) -> None:
    """A model trained on an array gets an array signature that checks width and dtype."""
    from sklearn.linear_model import LinearRegression

    x = np.arange(20, dtype=np.float64).reshape(10, 2)
    model = LinearRegression().fit(x, x.sum(axis=1))
    with cairn.run():
        cairn.log_model(model, "lin", input_example=x[:2])
    loaded = cairn.load_model("models:/lin/1")
    assert np.allclose(loaded.predict(x.astype(np.int64)), model.predict(x))
    with pytest.raises(SignatureError, match="shape"):
        loaded.predict(np.ones((2, 3)))


def test_a_tampered_artifact_is_refused_naming_the_file(quiet_capture: None) -> None:
    """A model file changed in the store is refused before deserialising, naming the file."""
    with cairn.run():
        version = cairn.log_model(_model(), "churn")
    cairn.load_model("models:/churn/1")  # cached: the next load checks the cache again
    (entry,) = [
        a for a in cairn.get_run(str(version.run_id)).artifacts if a.path.endswith("joblib")
    ]
    target = Path(get_store().artifacts.object_path(entry.digest))
    os.chmod(target, 0o644)
    target.write_bytes(b"not the model")
    with pytest.raises(ArtifactCorruptedError, match=r"'model\.joblib' was changed"):
        cairn.load_model("models:/churn/1")


REGISTER = """
import sys, cairn
from sklearn.dummy import DummyClassifier
model = DummyClassifier().fit([[0], [1]], [0, 1])
with cairn.run():
    for _ in range(3):
        print(cairn.log_model(model, "shared").version, flush=True)
"""


def test_concurrent_registrations_get_distinct_versions(project: Path, store: Store) -> None:
    """Processes registering the same model at once get distinct, gap-free version numbers."""
    script = project / "register.py"
    script.write_text(REGISTER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_STORE"] = store.db.url
    procs = [
        subprocess.Popen(
            [sys.executable, str(script)], cwd=project, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    numbers = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        numbers += [int(n) for n in out.split()]
    assert sorted(numbers) == list(range(1, 10))


def test_aliases_move_and_keep_their_history(quiet_capture: None) -> None:
    """Setting, moving and deleting an alias is kept as history; deletion of targets refused."""
    with cairn.run():
        for _ in range(3):
            cairn.log_model(_model(), "churn")
    registry.set_alias("churn", "champion", 1)
    registry.set_alias("churn", "champion", 2, reason="better")
    registry.set_alias("churn", "challenger", 3)
    registry.delete_alias("churn", "challenger")
    moves = [(m.alias, m.from_version, m.to_version) for m in registry.alias_history("churn")]
    assert moves == [
        ("champion", None, 1),
        ("champion", 1, 2),
        ("challenger", None, 3),
        ("challenger", 3, None),
    ]
    assert registry.alias_history("churn")[1].reason == "better"
    with pytest.raises(InvalidInputError, match="champion"):
        registry.delete_version("churn/2")
    registry.delete_version("churn/3")
    assert cairn.load_model("models:/churn/latest").version == 2
    with pytest.raises(ModelNotFoundError, match="was deleted"):
        cairn.load_model("models:/churn/3")
    with pytest.raises(InvalidInputError, match="deleted"):
        registry.set_alias("churn", "champion", 3)
    registry.restore_version("churn/3")
    assert cairn.load_model("models:/churn/latest").version == 3
    model = registry.get_model("churn")
    assert model.aliases == {"champion": 2} and model.version_count == 3


def test_tags_and_descriptions(quiet_capture: None) -> None:
    """Models and versions take tags and descriptions; the version's files stay as they were."""
    with cairn.run():
        cairn.log_model(_model(), "churn", tags={"team": "growth"}, description="first")
    registry.set_model_tags("churn", {"owner": "ana"})
    registry.set_model_tags("churn/1", {"reviewed": "yes"})
    registry.describe("churn", "predicts churn")
    version = registry.get_model_version("churn/1")
    assert version.tags == {"team": "growth", "reviewed": "yes"}
    assert version.description == "first"
    model = registry.get_model("churn")
    assert model.tags == {"owner": "ana"} and model.description == "predicts churn"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: cairn.load_model("models:/nope@champion"), ModelNotFoundError, "no model named"),
        (lambda: cairn.load_model("models:/churn@gold"), ModelNotFoundError, "no alias 'gold'"),
        (lambda: cairn.load_model("models:/churn/7"), ModelNotFoundError, "version 7"),
        (lambda: cairn.load_model("models:/bad name"), InvalidInputError, "cannot name a model"),
        (lambda: registry.set_alias("churn", "latest", 1), InvalidInputError, "reserved"),
        (lambda: registry.promote("churn", require="auc >> 1"), PromotionRuleError, "parse"),
    ],
)
def test_bad_input_is_refused_clearly(
    quiet_capture: None, call: Any, error: type[Exception], message: str
) -> None:
    """Unknown models, aliases and versions and bad rules get a message saying what to do."""
    with cairn.run():
        cairn.log_model(_model(), "churn")
    registry.set_alias("churn", "challenger", 1)
    with pytest.raises(error, match=message):
        call()


def test_unknown_model_objects_and_missing_runs(quiet_capture: None) -> None:
    """A model no flavor recognises names the flavors and PythonModel; no run is a clear error."""
    with pytest.raises(RunStateError, match=r"inside `with cairn\.run"):
        cairn.log_model(_model(), "churn")
    with cairn.run(), pytest.raises(InvalidInputError, match=r"cairn\.PythonModel"):
        cairn.log_model(object(), "thing")
    assert registry.list_models() == []  # nothing half-registered


def test_promotion_follows_the_rule(quiet_capture: None) -> None:
    """promote moves the alias only when the rule holds, and says why not otherwise."""
    for auc in (0.80, 0.85, 0.70):
        with cairn.run():
            cairn.log({"auc": auc})
            cairn.log_model(_model(), "churn")
    rule = "metrics.auc >= champion.metrics.auc + 0.01"
    registry.set_alias("churn", "challenger", 1)
    first = registry.promote("churn", require=rule)
    assert first.moved and "nothing to beat" in first.checks[0].why
    registry.set_alias("churn", "challenger", 2)
    assert registry.promote("churn", require=rule).moved
    registry.set_alias("churn", "challenger", 3)
    refused = registry.promote("churn", require=rule)
    assert not refused.moved and "0.7 >= 0.86 does not hold" in refused.reason
    assert registry.get_model("churn").aliases["champion"] == 2
    missing = registry.promote("churn", require="metrics.f1 > 0.5")
    assert not missing.moved and "has no metric 'f1'" in missing.reason
    comparison = registry.compare_models("churn@champion", "churn@challenger")
    assert ("metrics", "auc", 0.85, 0.70) in comparison.rows


def test_lineage_reaches_the_raw_dataset_through_two_runs(
    quiet_capture: None, project: Path
) -> None:
    """A model trained on features made by another run traces back to the raw dataset."""
    x, y = _data()
    raw = project / "raw"
    raw.mkdir()
    x.assign(label=y).to_csv(raw / "customers.csv", index=False)
    cairn.data.add(raw, "raw-customers")
    with cairn.run(name="featurize"):
        frame = cairn.data.load("raw-customers")
        features = project / "features"
        features.mkdir()
        frame.assign(rich=frame["income"] > 60_000).to_parquet(features / "f.parquet")
        cairn.data.add(features, "features")
    with cairn.run(name="train", params={"C": 1.0}):
        train = cairn.data.load("features")
        cairn.log({"auc": 0.9})
        cairn.log_model(_model(), "churn", input_example=train[["age", "income", "city"]].head(3))
    registry.set_alias("churn", "champion", 1)
    root = registry.model_lineage("churn@champion")
    (train_run,) = root.parents
    assert train_run.facts["name"] == "train" and train_run.facts["params"] == {"C": 1.0}
    (features_node,) = train_run.parents
    assert features_node.ref == "features@v1"
    (featurize,) = features_node.parents
    assert featurize.facts["name"] == "featurize"
    (raw_node,) = featurize.parents
    assert raw_node.ref == "raw-customers@v1" and raw_node.parents == []
    detail = cairn.data.show_dataset("features")
    assert any(use.model_version == "churn/1" for use in detail.models.get(1, []))


class ConstantFlavor:
    """A third-party flavor: models that are plain numbers, saved as text."""

    name = "constant"
    packages = ("pytest",)
    order = 5

    def recognizes(self, model: Any) -> bool:
        return isinstance(model, float)

    def save(
        self, model: Any, folder: Path, *, input_example: Any, options: dict[str, Any]
    ) -> dict[str, Any]:
        (folder / "value.txt").write_text(repr(model))
        return {"safe": True}

    def load(self, folder: Path, options: dict[str, Any]) -> Any:
        value = float((folder / "value.txt").read_text())

        class Predictor:
            def predict(self, inputs: Any) -> Any:
                return np.full(len(inputs), value)

        return Predictor()


class ConstantPlugin:
    """Announces ConstantFlavor through the hook the built-in flavors use."""

    @registry.hookimpl
    def cairn_model_flavors(self) -> list[Any]:
        return [ConstantFlavor()]


def test_a_third_party_flavor_plugs_in_through_the_hook(quiet_capture: None) -> None:
    """A plugin of the cairn_model_flavors hook is recognised, saved, loaded and listed."""
    from cairn.core.plugins import plugin_manager

    manager = plugin_manager()
    plugin = ConstantPlugin()
    manager.register(plugin, name="test-constant")
    try:
        assert "constant" in [f.name for f in registry.all_flavors()]
        with cairn.run():
            version = cairn.log_model(0.5, "const", input_example=pd.DataFrame({"x": [1, 2]}))
        assert version.flavor == "constant" and "pytest" in version.requirements
        loaded = cairn.load_model("models:/const/1", safe=True)
        assert list(loaded.predict({"x": [1, 2, 3]})) == [0.5, 0.5, 0.5]
    finally:
        manager.unregister(plugin)


def test_other_installed_versions_are_named() -> None:
    """Recorded package versions that differ from the installed ones are listed."""
    from cairn.registry.flavors import requirement_mismatches

    installed = np.__version__
    assert requirement_mismatches({"numpy": installed}) == []
    assert requirement_mismatches({"numpy": "0.0.1", "no-such-dist": "1"}) == [
        "no-such-dist 1 -> not installed",
        f"numpy 0.0.1 -> {installed}",
    ]


def test_gc_frees_deleted_versions_only(
    quiet_capture: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """gc frees a deleted version's files once its run is gone; live versions still load."""
    from sklearn.dummy import DummyClassifier

    from tests.cli.test_data_cli import cli

    runs = []
    for strategy in ("most_frequent", "uniform"):
        with cairn.run() as run:
            model = DummyClassifier(strategy=strategy, random_state=0).fit([[0], [1]], [0, 1])
            cairn.log_model(model, "dummy")
        runs.append(run.id)
    cairn.load_model("models:/dummy/1")  # fills the load cache, which gc clears too
    registry.delete_version("dummy/1")
    cairn.delete_runs([runs[0]])
    store = get_store()
    objects = Path(store.artifacts.object_path("blake3:" + "0" * 64)).parents[1]
    before = {p for p in objects.rglob("*") if p.is_file()}
    code, out, _ = cli(capsys, "gc", "--grace", "0")
    assert code == 0 and "1 deleted model version(s)" in out
    after = {p for p in before if p.exists()}
    assert after < before
    assert cairn.load_model("models:/dummy/2").predict([[0]]).shape == (1,)
    with pytest.raises(InvalidInputError, match="gc has freed its files"):
        registry.restore_version("dummy/1")


def test_an_exported_model_loads_without_the_store(quiet_capture: None, project: Path) -> None:
    """export_model writes a verified folder that loads on its own; a changed file is refused."""
    model = _model()
    x, _ = _data()
    with cairn.run():
        cairn.log_model(model, "churn", input_example=x.head(3))
    registry.set_alias("churn", "champion", 1)
    folder = registry.export_model("models:/churn@champion", project / "export")
    loaded = cairn.load_model(str(folder))
    assert loaded.version == 1 and loaded.name == "churn"
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert loaded.input_example == x.head(3).to_dict(orient="records")
    with pytest.raises(InvalidInputError, match="not empty"):
        registry.export_model("models:/churn/1", folder)
    target = folder / "model.joblib"
    os.chmod(target, 0o644)
    target.write_bytes(b"changed")
    with pytest.raises(ArtifactCorruptedError, match=r"model\.joblib"):
        cairn.load_model(folder)


def test_loading_inside_a_run_records_the_version_as_an_input(quiet_capture: None) -> None:
    """A run that loads a registered version gets a lineage edge from the version."""
    from cairn.store.lineage import MODEL_VERSION, RUN, Node, edges_into

    with cairn.run():
        cairn.log_model(_model(), "churn")
    with cairn.run() as scoring:
        cairn.load_model("models:/churn/1")
    store = get_store()
    with store.db.read() as conn:
        from cairn.registry._queries import run_db_id

        run_id = run_db_id(conn, scoring.id)
        assert run_id is not None
        edges = edges_into(conn, [Node(RUN, run_id)])
    assert [e.src.kind for e in edges] == [MODEL_VERSION]


def test_the_lean_lookup_equals_the_full_one(
    quiet_capture: None, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading by URI outside a run reads the SQLite store without SQLAlchemy; what it finds
    is what the full path finds, and it steps aside wherever it cannot be sure."""
    from cairn.core.uris import parse_model_uri
    from cairn.registry import _lean
    from cairn.registry._load import _resolve

    model = _model()
    with cairn.run():
        for _ in range(3):
            cairn.log_model(model, "churn")
    registry.set_alias("churn", "champion", 1)
    registry.set_alias("churn", "challenger", 1)
    registry.set_model_tags("churn/1", {"stage": "prod"})
    registry.describe("churn/1", "the first")
    registry.delete_version("churn/3")
    store = get_store()
    for text in ("models:/churn@champion", "models:/churn/2", "models:/churn/latest"):
        uri = parse_model_uri(text)
        lean = _lean.resolve(uri)
        assert lean is not None, text
        _, version, files = _resolve(store, uri)
        assert lean == (cairn.config.home_dir, version, files), text
    assert _lean.resolve(parse_model_uri("models:/churn/1"))[1].tags == {"stage": "prod"}
    for text in ("models:/churn@nope", "models:/nope/1", "models:/churn/3", "models:/churn/9"):
        assert _lean.resolve(parse_model_uri(text)) is None, text  # the full path explains
    champion = parse_model_uri("models:/churn@champion")
    with cairn.run():
        assert _lean.resolve(champion) is None  # the load is recorded as the run's input
    monkeypatch.setenv("CAIRN_RUN_ID", "abc")
    assert _lean.resolve(champion) is None
    monkeypatch.delenv("CAIRN_RUN_ID")
    cairn.configure(run_id="abc")  # a process attached to a run started elsewhere
    assert _lean.resolve(champion) is None
    cairn.configure(run_id=None)
    cairn.configure(store=f"sqlite:///{project / 'other.db'}")
    assert _lean.resolve(champion) is None  # no such file: nothing registered there


LOAD_ONLY = """
import sys, cairn
model = cairn.load_model("models:/churn@champion")
print(model.version, [m for m in ("sqlalchemy", "pydantic") if m in sys.modules])
"""


def test_a_program_that_only_loads_imports_no_store(quiet_capture: None, project: Path) -> None:
    """A fresh process loading by alias needs neither SQLAlchemy nor pydantic (log_model left
    the version's files in the load cache)."""
    with cairn.run():
        cairn.log_model(_model(), "churn")
    registry.set_alias("churn", "champion", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_HOME"] = str(cairn.config.home_dir)
    done = subprocess.run(
        [sys.executable, "-c", LOAD_ONLY],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "1 []"
