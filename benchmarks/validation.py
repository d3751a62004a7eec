"""Data validation: cairn vs Great Expectations vs pandera, side by side in one run.

Run ``.venv/bin/python benchmarks/validation.py [--quick]``. The anchors live in their own
virtual environments, ``benchmarks/.venvs/great_expectations`` (``pip install
great_expectations pandas pyarrow``) and ``benchmarks/.venvs/pandera`` (``pip install pandera
pandas pyarrow``), created on first use, and are only ever run with that environment's python,
so they never constrain cairn's dependencies. Workers are Python source strings run as fresh
subprocesses that report JSON on a marked line; scratch data lives under ``benchmarks/.work/``.

The data: one table of 1,000,000 rows (``--quick``: 100,000) by 20 columns, generated once per
run with a fixed seed (numpy ``default_rng``) and written to one Parquet file: 15 numeric
columns (5 normal and 5 lognormal float64, 5 int64: uniform, Poisson, binomial, negative
binomial, wide uniform) and 5 string columns with 3, 5, 7, 9 and 12 levels drawn with unequal
probabilities. Every worker reads that same file with ``pd.read_parquet`` (untimed).

The same 61 checks in every tool: per column, no nulls (20) and its type (20: float64, int64,
string); per numeric column, values within [min, max] (15); per string column, values in its
set of levels (5); the row count within [rows / 2, rows * 2] (1). The bounds are computed once,
when the data is generated, from the 0.1 % and 99.9 % quantiles widened by 10 % of their range
(floats rounded outwards to 6 significant digits, integers to whole numbers), and the generated
values are then clipped to them (the count is printed), so the clean table passes all 61 in
every tool; the same numbers go to every worker. A tool that reports a failure on the clean
table, or runs other than 61 checks, stops the benchmark.

- cairn: ``cairn.validate(df, Suite("bench", [NullRate(c, max=0.0), ColumnType(c, type=...),
  Between(c, min=..., max=...), Categories(c, allowed=[...]), RowCount(min=..., max=...)],
  extra_columns="allow"))``; the pandas-to-Arrow conversion inside it is part of the timing.
- pandera: ``DataFrameSchema({c: Column(dtype, nullable=False, checks=[Check.in_range(lo, hi)
  | Check.isin(levels)])}, checks=[a dataframe-level row-count Check])``, timed
  ``schema.validate(df, lazy=True, inplace=True)``, its fastest documented mode (no copy of
  the frame; checks run = per column dtype + nullable + its checks, plus the frame's checks).
- Great Expectations 1.x: an ephemeral context, a pandas data source, a dataframe asset and a
  whole-dataframe batch definition, an ``ExpectationSuite`` of
  ``ExpectColumnValuesToNotBeNull``, ``ExpectColumnValuesToBeOfType`` (``float64``, ``int64``,
  ``str``), ``ExpectColumnValuesToBeBetween``, ``ExpectColumnValuesToBeInSet`` and
  ``ExpectTableRowCountToBeBetween``; timed ``batch.validate(suite,
  result_format="BOOLEAN_ONLY")``, its fastest documented result format (context, suite and
  batch built before; analytics off).

In every worker the library is imported, the suite (schema) built and one untimed warm-up
validation run on the first 1,000 rows (lazy imports and one-off set-up are not counted for
anyone) before the timed call on the whole table. Per call: CPU time (``time.process_time()``,
all threads of the process; its user and system parts and the minor page faults, from
``getrusage``, are printed too: a tool that copies the table pays for faulting in fresh pages
as system time, more or less depending on what the allocator already holds), wall time, and
memory: the process's peak RSS, and the peak during the call minus the RSS just before it
(the baseline: data loaded, suite built). Peaks are the kernel's high-water mark ``VmHWM``,
reset right before the call (``/proc/self/clear_refs``): ``getrusage(RUSAGE_SELF).ru_maxrss``
cannot be reset and, across ``fork``/``exec``, starts at the parent's RSS.
``cairn.validation.profile(df)`` is timed the same way (goal: under 5 s wall).

Each tool runs in a fresh process per repeat, 3 repeats (``--quick``: 1), the tools taking
turns going first; figures are medians. Prints
``ratio <figure>: <N.NN>x (goal >= <G>x) PASS|FAIL`` (the
anchor's CPU time or extra memory over cairn's) and ``figure <name>: <value> <unit>`` lines;
missing a goal is reported, not fatal, but a failing subprocess exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from _common import WORKER_HELPERS, cairn_version, ensure_venv, ratio, run_worker
from _common import clean_env as common_clean_env
from _common import scratch as common_scratch

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".venvs"
SEED = 20_240_601
WARMUP_ROWS = 1_000

# The anchors: virtual environment name, pip packages, the distribution whose version is shown.
ANCHORS = {
    "great-expectations": ("great_expectations", ["great_expectations", "pandas", "pyarrow"]),
    "pandera": ("pandera", ["pandera", "pandas", "pyarrow"]),
}

# Writes the table (sys.argv[1]: the Parquet path, sys.argv[2]: rows) and reports the rules.
GENERATE = """
import math
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
cols = {}
for i, (loc, scale) in enumerate([(0, 1), (10, 2), (-5, 0.5), (100, 15), (1000, 200)]):
    cols[f"normal_{i}"] = rng.normal(loc, scale, n)
for i, (mean, sigma) in enumerate([(0, 1), (1, 0.5), (3, 0.25), (-1, 1.5), (5, 0.8)]):
    cols[f"lognormal_{i}"] = rng.lognormal(mean, sigma, n)
cols["int_0"] = rng.integers(0, 100, n)
cols["int_1"] = rng.poisson(3.0, n)
cols["int_2"] = rng.binomial(50, 0.3, n)
cols["int_3"] = rng.negative_binomial(5, 0.1, n)
cols["int_4"] = rng.integers(-1_000_000, 1_000_000, n)
levels = {}
for i, k in enumerate([3, 5, 7, 9, 12]):
    names = [f"cat{i}_level_{j:02d}" for j in range(k)]
    p = rng.dirichlet(np.full(k, 2.0))
    levels[f"cat_{i}"] = names
    cols[f"cat_{i}"] = np.asarray(names, dtype=object)[rng.choice(k, size=n, p=p)]

def outward(value, up):  # 6 significant digits, rounded away from the data
    if value == 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(abs(value))) - 5)
    return (math.ceil(value / step) if up else math.floor(value / step)) * step

bounds, clipped, types = {}, {}, {}
for name, x in cols.items():
    if name.startswith("cat_"):
        types[name] = "string"
        continue
    low, high = np.quantile(x, [0.001, 0.999])
    spread = high - low
    low, high = low - 0.1 * spread, high + 0.1 * spread
    if x.dtype.kind == "i":
        types[name] = "integer"
        low, high = math.floor(low), math.ceil(high)
    else:
        types[name] = "float"
        low, high = outward(float(low), False), outward(float(high), True)
    clipped[name] = int(((x < low) | (x > high)).sum())
    cols[name] = np.clip(x, low, high)
    bounds[name] = [low, high]
fields = {k: pa.array(v, pa.string() if k.startswith("cat_") else None) for k, v in cols.items()}
pq.write_table(pa.table(fields), path)
report({"columns": list(cols), "types": types, "bounds": bounds, "categories": levels,
        "rows": [n // 2, n * 2], "n": n, "clipped": clipped})
"""

# Every measuring worker: sys.argv[1] the Parquet file, sys.argv[2] the rules (JSON).
PRELUDE = (
    WORKER_HELPERS
    + """
def measure(call, warmup):
    warmup()
    gc.collect()
    peak_before = status("VmHWM")
    base = status("VmRSS")
    resettable = reset_peak()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c, w = time.process_time(), time.perf_counter()
    out = call()
    w, c = time.perf_counter() - w, time.process_time() - c
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    peak = status("VmHWM")
    report({"cpu": c, "wall": w, "base_kb": base, "peak_kb": max(peak, peak_before),
            "extra_kb": peak - base if resettable else None,
            "user": r1.ru_utime - r0.ru_utime, "sys": r1.ru_stime - r0.ru_stime,
            "faults": r1.ru_minflt - r0.ru_minflt, **out})
"""
)

LOAD = """
import pandas as pd
rules = json.loads(sys.argv[2])
df = pd.read_parquet(sys.argv[1])
small = df.head(WARMUP_ROWS).copy()
dtypes = sorted({str(t) for t in df.dtypes})
""".replace("WARMUP_ROWS", str(WARMUP_ROWS))

CAIRN = (
    LOAD
    + """
import cairn
from cairn.validation import Between, Categories, ColumnType, NullRate, RowCount, Suite
checks = []
for c in rules["columns"]:
    checks += [NullRate(c, max=0.0), ColumnType(c, type=rules["types"][c])]
for c, (low, high) in rules["bounds"].items():
    checks.append(Between(c, min=low, max=high))
for c, levels in rules["categories"].items():
    checks.append(Categories(c, allowed=levels))
checks.append(RowCount(min=rules["rows"][0], max=rules["rows"][1]))
suite = Suite("bench", checks, extra_columns="allow")

def run():
    result = cairn.validate(df, suite)
    failed = [f"{f.expectation}: {f.observed}" for f in result.failures]
    return {"checked": result.checked, "failed": failed, "dtypes": dtypes}

measure(run, lambda: cairn.validate(small, suite))
"""
)

CAIRN_PROFILE = (
    LOAD
    + """
from cairn.validation import profile

def run():
    suite = profile(df)
    return {"expectations": len(suite.expectations), "notes": len(suite.notes)}

measure(run, lambda: profile(small))
"""
)

PANDERA = (
    LOAD
    + """
import pandera.pandas as pa
dtype = {"float": "float64", "integer": "int64", "string": str}
columns = {}
for c in rules["columns"]:
    if c in rules["bounds"]:
        low, high = rules["bounds"][c]
        checks = [pa.Check.in_range(low, high)]
    else:
        checks = [pa.Check.isin(rules["categories"][c])]
    columns[c] = pa.Column(dtype[rules["types"][c]], nullable=False, checks=checks)
fewest, most = rules["rows"]
schema = pa.DataFrameSchema(
    columns,
    checks=[pa.Check(lambda d: fewest <= len(d) <= most, element_wise=False, name="row_count")],
)
n_checks = sum(2 + len(col.checks) for col in schema.columns.values()) + len(schema.checks)

def validate(data):
    try:
        schema.validate(data, lazy=True, inplace=True)  # its fastest mode: no copy
        return []
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        return sorted({f"{c}: {k}" for c, k in zip(cases["column"], cases["check"])})

def run():
    return {"checked": n_checks, "failed": validate(df), "dtypes": dtypes}

measure(run, lambda: validate(small))
"""
)

GX = (
    LOAD
    + """
import great_expectations as gx
import great_expectations.expectations as gxe
context = gx.get_context(mode="ephemeral")
definition = (
    context.data_sources.add_pandas("pandas")
    .add_dataframe_asset(name="table")
    .add_batch_definition_whole_dataframe("whole")
)
suite = context.suites.add(gx.ExpectationSuite(name="bench"))
type_name = {"float": "float64", "integer": "int64", "string": "str"}
add = suite.add_expectation
for c in rules["columns"]:
    add(gxe.ExpectColumnValuesToNotBeNull(column=c))
    add(gxe.ExpectColumnValuesToBeOfType(column=c, type_=type_name[rules["types"][c]]))
for c, (low, high) in rules["bounds"].items():
    add(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=low, max_value=high))
for c, levels in rules["categories"].items():
    add(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=levels))
low, high = rules["rows"]
add(gxe.ExpectTableRowCountToBeBetween(min_value=low, max_value=high))
batch = definition.get_batch(batch_parameters={"dataframe": df})
warm = definition.get_batch(batch_parameters={"dataframe": small})

def run():
    result = batch.validate(suite, result_format="BOOLEAN_ONLY")  # its fastest result format
    failed = [
        f"{r.expectation_config.type} {r.expectation_config.kwargs.get('column')}: {r.result}"
        for r in result.results if not r.success
    ]
    return {"checked": result.statistics["evaluated_expectations"], "failed": failed,
            "dtypes": dtypes}

measure(run, lambda: warm.validate(suite, result_format="BOOLEAN_ONLY"))
"""
)


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without cairn or virtualenv settings, plus ``extra``."""
    # no network calls from Great Expectations
    return common_clean_env("GX_", **{"GX_ANALYTICS_ENABLED": "false", **extra})


def worker(python: Path | str, code: str, *args: str, cwd: Path) -> Any:
    """Run ``code`` with ``python`` in a fresh process and return the JSON it reports."""
    return run_worker(python, PRELUDE + code, *args, cwd=cwd, env=clean_env())


def scratch() -> Any:
    """A fresh folder under ``benchmarks/.work``, removed afterwards."""
    return common_scratch("validation-")


def anchor_python(name: str) -> Path:
    return VENVS / ANCHORS[name][0] / "bin" / "python"


def ensure_anchor(name: str) -> str:
    """Create the anchor's virtual environment on first use; return the anchor's version."""
    venv_name, packages = ANCHORS[name]
    return ensure_venv(VENVS / venv_name, packages, name)


def version_in(python: Path, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "?"


def generate(d: Path, n: int) -> tuple[Path, dict[str, Any]]:
    """Write the table to ``d``; return its path and the rules every tool checks."""
    path = d / f"table-{n}.parquet"
    rules = worker(sys.executable, GENERATE, str(path), str(n), str(SEED), cwd=d)
    return path, rules


def check_clean(tool: str, out: dict[str, Any]) -> None:
    """Exit unless the tool ran the 61 checks and all passed on the clean table."""
    if out["checked"] != 61 or out["failed"]:
        print(
            f"error: {tool} ran {out['checked']} checks (61 expected) and {len(out['failed'])} "
            f"failed on the clean table: {out['failed'][:5]}",
            file=sys.stderr,
        )
        sys.exit(1)


def med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def runs_text(runs: list[dict[str, Any]], key: str, scale: float = 1, fmt: str = ".2f") -> str:
    return ", ".join(f"{r[key] * scale:{fmt}}" for r in runs)


def tool_figures(name: str, runs: list[dict[str, Any]]) -> None:
    mb = 1 / 1024
    print(
        f"figure cpu-{name}: {med(runs, 'cpu'):.3f} s  (runs: {runs_text(runs, 'cpu')}; "
        f"user {runs_text(runs, 'user')}, system {runs_text(runs, 'sys')}, "
        f"minor page faults {runs_text(runs, 'faults', fmt=',.0f')})"
    )
    print(f"figure wall-{name}: {med(runs, 'wall'):.3f} s  (runs: {runs_text(runs, 'wall')})")
    print(
        f"figure peak-rss-{name}: {med(runs, 'peak_kb') * mb:.0f} MB  "
        f"(baseline before the call {med(runs, 'base_kb') * mb:.0f} MB)"
    )
    if all(r["extra_kb"] is not None for r in runs):
        print(
            f"figure extra-memory-{name}: {med(runs, 'extra_kb') * mb:.1f} MB  "
            f"(peak during the call minus baseline; runs: {runs_text(runs, 'extra_kb', mb, '.1f')})"
        )
    if "checked" in runs[0]:
        failed = max(len(r["failed"]) for r in runs)
        print(f"figure checks-{name}: {runs[0]['checked']} run, {failed} failed on the clean table")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one repeat")
    quick = parser.parse_args().quick
    n, repeats = (100_000, 1) if quick else (1_000_000, 3)

    versions = {name: ensure_anchor(name) for name in ANCHORS}
    tools: list[tuple[str, Path | str, str]] = [
        ("cairn", sys.executable, CAIRN),
        ("great-expectations", anchor_python("great-expectations"), GX),
        ("pandera", anchor_python("pandera"), PANDERA),
    ]
    print("# validation: cairn vs Great Expectations vs pandera" + (" (--quick)" if quick else ""))
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(
        f"# cairn {cairn_version()} on Python {platform.python_version()} "
        f"(pandas {metadata.version('pandas')}, pyarrow {metadata.version('pyarrow')}); "
        + "; ".join(
            f"{name} {versions[name]} (pandas {version_in(anchor_python(name), 'pandas')}, "
            f"pyarrow {version_in(anchor_python(name), 'pyarrow')})"
            for name in ANCHORS
        )
    )
    with scratch() as d:
        path, rules = generate(d, n)
        size = path.stat().st_size / 2**20
        clipped = sum(rules["clipped"].values())
        print(
            f"# data: {n:,} rows x {len(rules['columns'])} columns, seed {SEED}, "
            f"{size:.1f} MiB Parquet; {clipped:,} numeric values clipped to the bounds "
            f"({clipped / (n * len(rules['bounds'])):.3%}); {repeats} repeat(s), medians",
            flush=True,
        )
        print(
            "# bounds: " + ", ".join(f"{c} [{lo}, {hi}]" for c, (lo, hi) in rules["bounds"].items())
        )
        spec = json.dumps(rules)
        results: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in tools}
        profiles: list[dict[str, Any]] = []
        for rep in range(repeats):
            turn = tools[rep % len(tools) :] + tools[: rep % len(tools)]
            for name, python, code in turn:
                out = worker(python, code, str(path), spec, cwd=d)
                check_clean(name, out)
                results[name].append(out)
                print(
                    f"  {name}: cpu {out['cpu']:.3f} s (user {out['user']:.3f}, system "
                    f"{out['sys']:.3f}), wall {out['wall']:.3f} s, "
                    f"extra {(out['extra_kb'] or 0) / 1024:.1f} MB",
                    flush=True,
                )
            profiles.append(worker(sys.executable, CAIRN_PROFILE, str(path), spec, cwd=d))
    print(f"# pandas dtypes each tool saw: {results['cairn'][0]['dtypes']}")
    for name, _, _ in tools:
        tool_figures(name, results[name])
    cpu = {name: med(runs, "cpu") for name, runs in results.items()}
    ratio("cpu-vs-great-expectations", cpu["great-expectations"], cpu["cairn"], 10)
    ratio("cpu-vs-pandera", cpu["pandera"], cpu["cairn"], 2)
    extra = {name: med(runs, "extra_kb") for name, runs in results.items()}
    # Extra memory below 1 MB is noise (page-granular counters, allocator caches): floored.
    ratio("memory-vs-pandera", max(extra["pandera"], 1024), max(extra["cairn"], 1024), 1)
    if extra["cairn"] < 1024:
        print(f"  (cairn's extra memory, {extra['cairn']:.0f} kB, counted as 1 MB in the ratio)")
    print(
        f"figure profile-cairn: {med(profiles, 'wall'):.2f} s (goal < 5 s)  "
        f"(wall; cpu {med(profiles, 'cpu'):.2f} s; runs: {runs_text(profiles, 'wall')}; "
        f"{profiles[0]['expectations']} expectations, {profiles[0]['notes']} notes)"
    )
    print(
        f"figure extra-memory-profile-cairn: {med(profiles, 'extra_kb') / 1024:.1f} MB  "
        "(peak during the call minus baseline)"
    )


if __name__ == "__main__":
    main()
