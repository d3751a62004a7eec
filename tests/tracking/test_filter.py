"""The run-search filter and order-by languages, compiled and run against a real SQLite store."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from cairn.core.errors import FilterError
from cairn.store.db import Database
from cairn.store.db.schema import (
    experiments,
    latest_metrics,
    metric_keys,
    params,
    run_tags,
    runs,
)
from cairn.tracking._filter import compile_filter, compile_order_by

PG_BASE = "postgresql://postgres@127.0.0.1:5432/postgres"  # the server tests/conftest.py uses
DAY_MS = 86_400_000
JAN_1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
ALPHA, BETA, GAMMA, DELTA = "r-alpha", "r-beta", "r-gamma", "r-delta"
ALL = {ALPHA, BETA, GAMMA, DELTA}
# The autouse project fixture is function-scoped; these properties touch no project state.
PROPERTY = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def postgres_schema(postgres_available: str | None) -> Iterator[str]:
    """A store URL in a fresh PostgreSQL schema, shared by this module's read-only tests."""
    if postgres_available:
        if os.environ.get("CAIRN_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{postgres_available} (CAIRN_TEST_REQUIRE_SERVICES=1)")
        pytest.skip(postgres_available)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A real store (SQLite, then PostgreSQL) holding four runs with metrics, params and tags."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('filter') / 'cairn.db'}"
    else:
        url = request.getfixturevalue("postgres_schema")
    database = Database(url)
    start = {1: JAN_1, 2: JAN_1 + 31 * DAY_MS, 3: JAN_1 + 60 * DAY_MS, 4: JAN_1 + 91.5 * DAY_MS}
    with database.write() as conn:
        conn.execute(
            insert(experiments),
            [
                {"id": 1, "name": "baseline", "created_ms": JAN_1},
                {"id": 2, "name": "tuning", "created_ms": JAN_1},
            ],
        )
        conn.execute(
            insert(runs),
            [
                _run(1, ALPHA, 1, None, "alpha", "finished", start[1], start[1] + 60_000, "ann"),
                _run(2, BETA, 1, None, "beta", "failed", start[2], start[2] + 120_000, "bob"),
                _run(3, GAMMA, 2, 1, "gamma", "running", start[3], None, "ann"),
                _run(
                    4, DELTA, 2, 1, "Delta", "killed", int(start[4]), int(start[4]) + 30_000, None
                ),
            ],
        )
        names = ["auc", "loss", "f1 score", "val.acc"]
        conn.execute(insert(metric_keys), [{"id": i, "name": n} for i, n in enumerate(names, 1)])
        metrics = [(1, 1, 0.95), (2, 1, 0.80), (3, 1, None), (1, 2, 0.1), (2, 2, 0.3)]
        metrics += [(4, 2, 0.2), (2, 3, 0.5), (3, 4, 0.7)]
        conn.execute(
            insert(latest_metrics),
            [{"run_id": r, "key_id": k, "step": 0, "ts_ms": 0, "value": v} for r, k, v in metrics],
        )
        rows = [(1, "lr", "0.01", 0.01), (2, "lr", "0.1", 0.1), (3, "lr", "high", None)]
        rows += [(1, "optim", "adam", None), (2, "optim", "sgd", None), (3, "optim", "Adam", None)]
        rows += [(4, "optim.lr", "0.5", 0.5), (1, "flag", "true", None), (2, "flag", "false", None)]
        rows += [
            (1, "promo", "50%_off", None),
            (2, "promo", "50x_off", None),
            (4, "my key", "x", None),
            # Longer than the indexed prefix (VALUE_PREFIX) and equal within it.
            (1, "note", LONG + "1", None),
            (2, "note", LONG + "2", None),
        ]
        conn.execute(
            insert(params),
            [
                {"run_id": r, "key": k, "value": v, "num": n, "is_json": k == "flag"}
                for r, k, v, n in rows
            ],
        )
        tags = [(1, "team", "vision"), (2, "team", "nlp"), (4, "team", "Vision")]
        tags += [(1, "priority", "1"), (2, "priority", "2"), (3, "mlflow.source", "git")]
        tags += [(3, "long", LONG + "3"), (4, "long", LONG + "4")]
        conn.execute(insert(run_tags), [{"run_id": r, "key": k, "value": v} for r, k, v in tags])
    yield database
    database.dispose()


LONG = "é" * 150  # multi-byte: the prefix is counted in characters on both stores


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"params.note = '{LONG}1'", {ALPHA}),
        (f"params.note IN ('{LONG}2', 'other')", {BETA}),
        (f"params.note != '{LONG}1'", {BETA}),
        (f"NOT params.note = '{LONG}1'", {BETA, GAMMA, DELTA}),
        (f"params.note = '{LONG}'", set()),
        (f"tags.long = '{LONG}4'", {DELTA}),
        (f"tags.long NOT IN ('{LONG}4')", {GAMMA}),
    ],
)
def test_values_longer_than_the_indexed_prefix(db: Database, text: str, expected: set[str]) -> None:
    """Equality and IN on param and tag values past the indexed prefix compare the whole value."""
    assert matches(db, text) == expected


def test_param_and_tag_equality_use_the_value_indexes(db: Database) -> None:
    """On SQLite, = and IN on params and tags search the (key, value prefix) indexes."""
    if db.backend != "sqlite":
        pytest.skip("PostgreSQL's planner picks by table size; the SQLite plan is deterministic")
    plans = []
    for text in ("params.optim = 'adam'", "tags.team IN ('nlp', 'x')", "params.lr > 0.05"):
        query = select(runs.c.uid).where(compile_filter(text))  # type: ignore[arg-type]
        compiled = query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
        with db.read() as conn:
            plans.append(
                " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
            )
    assert "ix_params_key_value" in plans[0]
    assert "ix_run_tags_key_value" in plans[1]
    assert "ix_params_key_num" in plans[2]


def _run(
    id_: int,
    uid: str,
    experiment: int,
    parent: int | None,
    name: str,
    status: str,
    start: float,
    end: float | None,
    user: str | None,
) -> dict[str, object]:
    return {
        "id": id_,
        "uid": uid,
        "experiment_id": experiment,
        "parent_id": parent,
        "name": name,
        "status": status,
        "start_ms": int(start),
        "end_ms": None if end is None else int(end),
        "user": user,
    }


def find(db: Database, text: str | None, order: str | Sequence[str] | None = None) -> list[str]:
    """The uids of the runs matching ``text``, in ``order`` then by id."""
    query = select(runs.c.uid)
    where = compile_filter(text)
    if where is not None:
        query = query.where(where)
    query = query.order_by(*compile_order_by(order), runs.c.id)
    with db.read() as conn:
        return [row.uid for row in conn.execute(query)]


def matches(db: Database, text: str) -> set[str]:
    """The set of run uids matching ``text``."""
    return set(find(db, text))


def error_of(text: str) -> str:
    """The FilterError message for ``text``."""
    with pytest.raises(FilterError) as info:
        compile_filter(text)
    return str(info.value)


# -- metrics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.auc > 0.9", {ALPHA}),
        ("metrics.auc >= 0.8", {ALPHA, BETA}),
        ("metrics.auc = 0.8", {BETA}),
        ("metrics.auc == 0.8", {BETA}),
        ("metrics.auc != 0.8", {ALPHA}),
        ("metrics.auc < 1", {ALPHA, BETA}),
        ("metrics.auc <= 0.8", {BETA}),
        ("metrics.loss <> 0.1", {BETA, DELTA}),
        ("metrics.loss IN (0.1, 0.2)", {ALPHA, DELTA}),
        ("metrics.loss NOT IN (0.1)", {BETA, DELTA}),
        ("metrics.auc > -1e3", {ALPHA, BETA}),
        ("METRICS.auc > 9.4E-1", {ALPHA}),
        ("metric.loss < .15", {ALPHA}),
        ("metrics.loss > +0.15", {BETA, DELTA}),
        ("metrics.auc IS NOT NULL", {ALPHA, BETA, GAMMA}),
        ("metrics.auc is null", {DELTA}),
    ],
)
def test_metric_comparisons(db: Database, text: str, expected: set[str]) -> None:
    """Metrics compare their latest value with numbers; NaN matches no comparison."""
    assert matches(db, text) == expected


@pytest.mark.parametrize(
    "text", ["metrics.auc > 'high'", "metrics.auc = TRUE", "metrics.auc IN (0.5, 'x')"]
)
def test_metrics_take_only_numbers(text: str) -> None:
    """Comparing a metric with a string or boolean is a FilterError: metrics are numbers."""
    assert "metrics are numbers" in error_of(text)


def test_like_on_a_metric_is_refused() -> None:
    """LIKE needs text, so it is refused on a metric."""
    assert "LIKE needs text" in error_of("metrics.auc LIKE '0.9%'")


# -- params --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.lr > 0.05", {BETA}),
        ("params.lr = 0.01", {ALPHA}),
        ("params.lr = '0.01'", {ALPHA}),
        ("params.lr < 1", {ALPHA, BETA}),
        ("params.lr = 'high'", {GAMMA}),
        ("params.optim = 'adam'", {ALPHA}),
        ('params.optim = "adam"', {ALPHA}),
        ("params.optim != 'adam'", {BETA, GAMMA}),
        ("params.optim > 'b'", {BETA}),
        ("params.optim IN ('adam', 'sgd')", {ALPHA, BETA}),
        ("params.optim NOT IN ('adam')", {BETA, GAMMA}),
        ("params.lr IN (0.1, 'high')", {BETA, GAMMA}),
        ("params.lr NOT IN (0.1, 'high')", {ALPHA}),
        ("params.flag = TRUE", {ALPHA}),
        ("param.flag = false", {BETA}),
        ("params.flag != true", {BETA}),
        ("params.lr IS NULL", {DELTA}),
    ],
)
def test_param_comparisons(db: Database, text: str, expected: set[str]) -> None:
    """Params compare numbers with their numeric view and strings with their text."""
    assert matches(db, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.optim.lr = 0.5", {DELTA}),
        ("params.optim.lr IS NOT NULL", {DELTA}),
        ("params.`my key` = 'x'", {DELTA}),
        ('params."my key" = "x"', {DELTA}),
        ("params.`optim.lr` > 0.1", {DELTA}),
        ("metrics.`f1 score` > 0.1", {BETA}),
        ("metrics.val.acc = 0.7", {GAMMA}),
        ("tags.mlflow.source = 'git'", {GAMMA}),
    ],
)
def test_nested_and_quoted_keys(db: Database, text: str, expected: set[str]) -> None:
    """Dotted keys name one key, and backtick or double quotes allow any characters."""
    assert matches(db, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.optim LIKE 'a%'", {ALPHA}),
        ("params.optim LIKE '_dam'", {ALPHA, GAMMA}),
        ("params.optim LIKE 'a_a_'", {ALPHA}),
        ("params.optim ILIKE 'A%'", {ALPHA, GAMMA}),
        ("params.optim NOT LIKE 'a%'", {BETA, GAMMA}),
        ("params.optim NOT ILIKE 'a%'", {BETA}),
        ("params.promo LIKE '50__off'", {ALPHA, BETA}),
        (r"params.promo LIKE '50\%\_off'", {ALPHA}),
        (r"params.promo LIKE '50\\%\\_off'", {ALPHA}),
        ("params.optim LIKE '*'", set()),
        ("params.optim LIKE '[as]%'", set()),
        ("tags.team LIKE 'vision'", {ALPHA}),
        ("tags.team ILIKE 'VISION'", {ALPHA, DELTA}),
        ("status LIKE 'RUN%'", {GAMMA}),
        ("run_name ILIKE 'd%'", {DELTA}),
    ],
)
def test_like_is_case_sensitive_and_ilike_is_not(
    db: Database, text: str, expected: set[str]
) -> None:
    """LIKE matches case-sensitively with % and _ (backslash escapes them); ILIKE ignores case."""
    assert matches(db, text) == expected


# -- tags ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tags.team = 'nlp'", {BETA}),
        ("tag.team != 'nlp'", {ALPHA, DELTA}),
        ("tags.priority = 1", {ALPHA}),
        ("tags.priority IN (1, '2')", {ALPHA, BETA}),
        ("tags.priority > 1", {BETA}),
        ("tags.team IS NULL", {GAMMA}),
        ("tags.team IS NOT NULL", {ALPHA, BETA, DELTA}),
    ],
)
def test_tag_comparisons(db: Database, text: str, expected: set[str]) -> None:
    """Tags compare as text, numbers included."""
    assert matches(db, text) == expected


# -- attributes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status = 'FINISHED'", {ALPHA}),
        ("attributes.status IN ('Failed', 'killed')", {BETA, DELTA}),
        ("run_name = 'Delta'", {DELTA}),
        ("attr.name = 'gamma'", {GAMMA}),
        ("run.run_id = 'r-beta'", {BETA}),
        ("id IN ('r-beta', 'nope')", {BETA}),
        ("user = 'ann'", {ALPHA, GAMMA}),
        ("user != 'ann'", {BETA}),
        ("attribute.user IS NULL", {DELTA}),
        ("experiment = 'tuning'", {GAMMA, DELTA}),
        ("experiment_name != 'tuning'", {ALPHA, BETA}),
        ("experiment LIKE 'base%'", {ALPHA, BETA}),
        ("parent_run_id = 'r-alpha'", {GAMMA, DELTA}),
        ("parent IS NULL", {ALPHA, BETA}),
        ("duration > 60000", {BETA}),
        ("duration <= 60000", {ALPHA, DELTA}),
        ("end_time IS NULL", {GAMMA}),
    ],
)
def test_attribute_comparisons(db: Database, text: str, expected: set[str]) -> None:
    """Bare or prefixed attributes compare run columns; status ignores case."""
    assert matches(db, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("start_time >= '2024-03-01'", {GAMMA, DELTA}),
        ("start_time > '2024-03-01T00:00:00Z'", {DELTA}),
        ("start_time = '2024-01-01T01:00:00+01:00'", {ALPHA}),
        (f"start_time = {JAN_1}", {ALPHA}),
        (f"start_time = '{JAN_1}'", {ALPHA}),
        ("start_time IN ('2024-01-01', '2024-02-01')", {ALPHA, BETA}),
        ("created < '2024-02-15'", {ALPHA, BETA}),
        ("end_time < '2024-02-01T00:01'", {ALPHA}),
        ("start_time = '2024-04-01T12:00:00.000'", {DELTA}),
    ],
)
def test_times_take_dates_or_epoch_milliseconds(
    db: Database, text: str, expected: set[str]
) -> None:
    """start_time and end_time take epoch milliseconds or ISO-8601 dates (UTC when naive)."""
    assert matches(db, text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("start_time > 'yesterday'", "ISO-8601"),
        ("start_time > '2024-13-01'", "ISO-8601"),
        ("end_time < 1e999", "ISO-8601"),
        ("start_time LIKE '2024%'", "LIKE needs text"),
        ("duration = 'long'", "number of milliseconds"),
        ("status = TRUE", "quoted string"),
    ],
)
def test_attribute_values_are_checked(text: str, fragment: str) -> None:
    """A value of the wrong kind for an attribute is a FilterError saying what it takes."""
    assert fragment in error_of(text)


def test_unknown_attribute_lists_the_known_ones() -> None:
    """An unknown bare word is a FilterError that lists the attributes and prefixes."""
    message = error_of("colour = 'red'")
    assert 'position 0 near "colour ="' in message
    for known in ("run_name", "status", "start_time", "experiment", "metrics.", "params."):
        assert known in message


def test_filter_works_in_a_query_that_joins_experiments(db: Database) -> None:
    """The experiment subquery does not correlate with an experiments table the caller joined."""
    where = compile_filter("experiment = 'tuning' AND metrics.loss > 0")
    assert where is not None
    query = (
        select(runs.c.uid, experiments.c.name)
        .join(experiments, experiments.c.id == runs.c.experiment_id)
        .where(where)
    )
    with db.read() as conn:
        assert conn.execute(query).all() == [(DELTA, "tuning")]


# -- boolean structure ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tags.team = 'nlp' OR tags.team = 'vision' AND metrics.loss < 0.2", {ALPHA, BETA}),
        ("(tags.team = 'nlp' OR tags.team = 'vision') AND metrics.loss < 0.2", {ALPHA}),
        ("tags.team = 'nlp' or (tags.team = 'vision' and metrics.loss > 0.2)", {BETA}),
        ("NOT status = 'finished' AND user = 'ann'", {GAMMA}),
        ("NOT (status = 'finished' OR user = 'ann')", {BETA, DELTA}),
        ("not not status = 'running'", {GAMMA}),
        ("NOT user = 'ann'", {BETA, DELTA}),
        ("NOT end_time > 0", {GAMMA}),
        ("NOT duration > 0", {GAMMA}),
        ("NOT parent = 'r-alpha'", {ALPHA, BETA}),
        ("NOT parent_run_id IN ('r-alpha') AND NOT experiment != 'baseline'", {ALPHA, BETA}),
        ("NOT metrics.auc > 0.9", {BETA, GAMMA, DELTA}),
        ("((((status = 'running'))))", {GAMMA}),
        (
            "user = 'ann' AND (experiment = 'tuning' OR metrics.auc > 0.9) AND NOT run_name = 'x'",
            {ALPHA, GAMMA},
        ),
    ],
)
def test_and_binds_tighter_than_or_and_parentheses_group(
    db: Database, text: str, expected: set[str]
) -> None:
    """NOT binds tightest, then AND, then OR; parentheses override."""
    assert matches(db, text) == expected


def test_blank_filter_is_none(db: Database) -> None:
    """None or a blank filter means no filter at all."""
    assert compile_filter(None) is None
    assert compile_filter("  \n ") is None
    assert set(find(db, None)) == ALL


def test_nesting_and_size_are_bounded(db: Database) -> None:
    """Deep nesting and huge filters are FilterErrors, while moderate ones still run."""
    assert matches(db, "NOT " * 40 + "status = 'running'") == {GAMMA}
    assert matches(db, "(" * 40 + "status = 'running'" + ")" * 40) == {GAMMA}
    assert "nested" in error_of("NOT " * 60 + "status = 'running'")
    assert "nested" in error_of("(" * 5000)
    assert "at most 200 comparisons" in error_of(" OR ".join(["status = 'x'"] * 201))


# -- order by ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("metrics.auc DESC", [ALPHA, BETA, GAMMA, DELTA]),
        ("metrics.auc ASC", [BETA, ALPHA, GAMMA, DELTA]),
        ("metrics.loss desc", [BETA, DELTA, ALPHA, GAMMA]),
        ("params.lr", [ALPHA, BETA, GAMMA, DELTA]),
        ("params.lr DESC", [BETA, ALPHA, GAMMA, DELTA]),
        ("tags.priority DESC", [BETA, ALPHA, GAMMA, DELTA]),
        ("start_time DESC", [DELTA, GAMMA, BETA, ALPHA]),
        ("end_time ASC", [ALPHA, BETA, DELTA, GAMMA]),
        ("attributes.end_time DESC", [DELTA, BETA, ALPHA, GAMMA]),
        ("duration DESC", [BETA, ALPHA, DELTA, GAMMA]),
        ("user, metrics.loss DESC", [ALPHA, GAMMA, BETA, DELTA]),
        (["user", "metrics.loss DESC"], [ALPHA, GAMMA, BETA, DELTA]),
        (["user DESC", ""], [BETA, ALPHA, GAMMA, DELTA]),
        ("experiment DESC, run_name", [DELTA, GAMMA, ALPHA, BETA]),
        ("parent_run_id DESC", [GAMMA, DELTA, ALPHA, BETA]),
        (None, [ALPHA, BETA, GAMMA, DELTA]),
        ("  ", [ALPHA, BETA, GAMMA, DELTA]),
    ],
)
def test_order_by_puts_missing_values_last(
    db: Database, order: str | list[str] | None, expected: list[str]
) -> None:
    """Order-by sorts either way with missing values last; params sort numerically first."""
    assert find(db, None, order) == expected


def test_order_by_combines_with_a_filter(db: Database) -> None:
    """Filtering and ordering compose in one query."""
    assert find(db, "user = 'ann' OR user = 'bob'", "metrics.auc") == [BETA, ALPHA, GAMMA]


@pytest.mark.parametrize(
    ("order", "fragment"),
    [
        ("metrics.auc DOWN", 'position 12 near "DOWN": expected ASC, DESC, "," or the end'),
        ("metrics.auc DESC extra", 'position 17 near "extra"'),
        ("metrics.auc,", "position 12 at the end: expected a field"),
        ("colour", "expected an attribute"),
        ("params", 'expected "." and a key after "params"'),
    ],
)
def test_order_by_errors(order: str, fragment: str) -> None:
    """A bad order-by item is a FilterError with the position and an order-by example."""
    with pytest.raises(FilterError) as info:
        compile_order_by(order)
    message = str(info.value)
    assert message.startswith("invalid order-by at position")
    assert fragment in message
    assert "example: metrics.auc DESC" in message


# -- error messages ------------------------------------------------------------------------


def test_error_message_names_position_expectation_and_example() -> None:
    """A syntax error says where it is, what was expected there, and shows a valid filter."""
    assert error_of("metrics.auc 0.5 AND params.optim = 'adam'") == (
        'invalid filter at position 12 near "0.5 AND": expected a comparison operator '
        '(=, !=, <, <=, >, >=, IN, LIKE, ILIKE, IS) after "metrics.auc"; '
        "example: metrics.auc > 0.9 AND params.optim = 'adam'"
    )


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("metrics.auc > ", 14, "at the end: expected a number, a 'quoted string', TRUE or FALSE"),
        ("params.x = 'adam", 11, "expected a closing '"),
        ("params.`x = 1", 7, "expected a closing `"),
        ("(status = 'x'", 13, 'expected ")" to close the "(" at position 0'),
        ("status = 'x')", 12, 'expected a "(" before this ")"'),
        ("status = 'x' status = 'y'", 13, "expected AND, OR or the end"),
        ("datasets.name = 'x'", 0, "expected a prefix metrics., params., tags. or attributes."),
        ("metrics = 1", 7, 'expected "." and a key after "metrics"'),
        ("metrics. = 1", 8, 'expected a key right after the "."'),
        ("params.`` = 1", 7, "not an empty one"),
        ("params.x IN 1", 12, 'expected "(" to open the IN list'),
        (
            "params.x IN ()",
            13,
            "expected a number, a 'quoted string', TRUE or FALSE in the IN list",
        ),
        ("params.x IN ('a' 'b')", 17, 'expected ")" or "," in the IN list'),
        ("params.x LIKE 5", 14, "expected a 'quoted pattern' after LIKE"),
        ("status IS 5", 10, 'expected "NULL" or NOT NULL after IS'),
        ("params.x = adam", 11, "(quote strings: 'adam')"),
        ("params.x NOT = 1", 13, "expected IN, LIKE or ILIKE"),
        ("params.x NOT 'in' ('a')", 13, "expected IN, LIKE or ILIKE"),
        ("params.x 'like' 'a'", 9, "expected a comparison operator"),
        ("params.x IS 'null'", 12, 'expected "NULL"'),
        ("AND x = 1", 0, "expected a field such as metrics.auc"),
        ("params.flag < TRUE", 14, "expected =, != or IN before TRUE or FALSE"),
        ("status = 'x' AND", 16, "at the end: expected a field"),
        ("status ~ 'x'", 7, "expected a comparison operator"),
    ],
)
def test_syntax_errors_say_where_and_what(text: str, position: int, fragment: str) -> None:
    """Each kind of mistake is a FilterError naming its position and what was expected."""
    message = error_of(text)
    assert message.startswith(f"invalid filter at position {position} ")
    assert fragment in message
    assert message.endswith("example: metrics.auc > 0.9 AND params.optim = 'adam'")


# -- properties ----------------------------------------------------------------------------

TOKENS = [
    "metrics.auc", "params.lr", "params.optim.lr", "tags.team", "status", "start_time",
    "duration", "experiment", "parent", "foo", "metrics", "params.`a b`", 'tags."x"', "AND",
    "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "TRUE", "FALSE", "ASC", "DESC", "(",
    ")", ",", ".", "=", "==", "!=", "<>", "<", "<=", ">", ">=", "0.5", "-1e3", "1e999",
    "99999999999999999999999", "'adam'", "'2024-01-01'", "'%a\\_'", "''", "'", '"', "`",
    "\\", "'it''s'", "'; DROP TABLE runs; --",
]  # fmt: skip
token_soup = st.lists(st.sampled_from(TOKENS), max_size=12).flatmap(
    lambda parts: st.sampled_from([" ".join(parts), "".join(parts)])
)
FIELDS = st.sampled_from(
    ["metrics.auc", "params.lr", "params.optim", "tags.team", "status", "start_time", "duration",
     "end_time", "experiment", "parent", "user", "run_name", "params.`a b`", "metric.loss"]
)  # fmt: skip
VALUES = st.sampled_from(
    ["0.5", "-1e3", "1e999", "1704067200000", "'adam'", "'2024-01-01'", "TRUE", "'x''y'", '"1"']
)
comparisons = st.one_of(
    st.tuples(FIELDS, st.sampled_from(["=", "!=", "<", ">=", "<>", "=="]), VALUES).map(" ".join),
    st.tuples(
        FIELDS,
        st.sampled_from(["IN", "NOT IN", "in"]),
        st.lists(VALUES, min_size=1, max_size=3).map(lambda v: "(" + ", ".join(v) + ")"),
    ).map(" ".join),
    st.tuples(
        FIELDS, st.sampled_from(["LIKE", "NOT ILIKE"]), st.sampled_from(["'a%'", "'\\_%'", "'*'"])
    ).map(" ".join),
    st.tuples(FIELDS, st.sampled_from(["IS NULL", "IS NOT NULL"])).map(" ".join),
)
filters = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR", "and"]), inner).map(" ".join),
        inner.map(lambda f: f"NOT {f}"),
        inner.map(lambda f: f"({f})"),
    ),
    max_leaves=6,
)
# Well-formed filters with one character dropped: near misses exercise the error paths.
near_misses = st.tuples(filters, st.integers(0, 100)).map(lambda p: p[0][: p[1]] + p[0][p[1] + 1 :])


@PROPERTY
@given(text=st.one_of(st.text(max_size=60), token_soup, filters, near_misses))
def test_any_text_compiles_or_raises_filter_error(db: Database, text: str) -> None:
    """Any text either compiles to a query that runs, or raises FilterError and nothing else."""
    try:
        where = compile_filter(text)
    except FilterError:
        where = None
    try:
        ordering = compile_order_by(text)
    except FilterError:
        ordering = []
    query = select(runs.c.uid).order_by(*ordering)
    if where is not None:
        query = query.where(where)
    str(query.compile(dialect=postgresql.dialect()))
    str(query.compile(dialect=sqlite.dialect()))
    with db.read() as conn:
        conn.execute(query).all()


def _quote(value: str, quote: str) -> str:
    """``value`` as a string literal of the filter language."""
    return quote + value.replace("\\", "\\\\").replace(quote, quote * 2) + quote


# NUL and lone surrogates cannot be stored: see below and test_surrogates_are_refused.
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=8)
SQLISH = st.sampled_from(
    ["'; DROP TABLE runs; --", "' OR 1=1 --", "x' OR '1'='1", '" OR ""="', "\\'", "%", "_"]
)


@PROPERTY
@given(
    value=st.one_of(SQLISH, st.lists(st.one_of(SQLISH, TEXT)).map("".join)),
    quote=st.sampled_from(["'", '"']),
)
def test_values_that_look_like_sql_stay_values(db: Database, value: str, quote: str) -> None:
    """A param holding SQL-looking text is matched exactly by its quoted value, and only it."""
    where = compile_filter(f"params.inj = {_quote(value, quote)}")
    assert where is not None
    with db.engine.connect() as conn:
        transaction = conn.begin()
        try:
            conn.execute(
                insert(runs),
                [
                    _run(10, "r-target", 1, None, "t", "running", JAN_1, None, None),
                    _run(11, "r-decoy", 1, None, "d", "running", JAN_1, None, None),
                ],
            )
            conn.execute(
                insert(params),
                [
                    {"run_id": 10, "key": "inj", "value": value, "num": None, "is_json": False},
                    {
                        "run_id": 11,
                        "key": "inj",
                        "value": value + "x",
                        "num": None,
                        "is_json": False,
                    },
                ],
            )
            assert conn.execute(select(runs.c.uid).where(where)).scalars().all() == ["r-target"]
            assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 6
        finally:
            transaction.rollback()


def test_surrogates_are_refused() -> None:
    """A lone surrogate in a quoted value is a FilterError, not a database encoding error."""
    with pytest.raises(FilterError, match="valid Unicode"):
        compile_filter("params.x = '\ud800'")


def test_an_order_by_past_the_databases_limit_is_a_filter_error(store: object) -> None:
    """Hundreds of order-by items are refused as a FilterError, not a store failure."""
    import cairn

    with pytest.raises(FilterError, match="at most 100 items"):
        cairn.search_runs(order_by=[f"params.p{i} DESC" for i in range(700)])
    assert cairn.search_runs(order_by=[f"params.p{i} DESC" for i in range(100)]).empty
