"""Drift monitoring: cairn vs Evidently 0.7 vs plain NumPy/SciPy, and cairn's false alarms.

Run ``.venv/bin/python benchmarks/monitoring.py [--quick]``. The anchor lives in its own
virtual environment, ``benchmarks/.venvs/evidently`` (``pip install "evidently==0.7.*"
"pandas<3" pyarrow``: Evidently 0.7.23 fails at ``import`` under pandas 3), created on first
use and only ever run with that environment's python. Workers are Python source strings run
as fresh subprocesses that report JSON on a marked line; scratch data lives under
``benchmarks/.work/``.

The scenario: a reference and a current table of 1,000,000 rows each (``--quick``: 100,000)
by 20 columns, generated once per run with a fixed seed (numpy ``default_rng``) and written
to two Parquet files: 15 numeric columns (5 normal and 5 lognormal float64, 5 int64: uniform
0-99, Poisson(3), binomial(50, 0.3), negative binomial(5, 0.1), wide uniform) and 5 string
columns with 3, 10, 50, 200 and 1,000 levels (Zipf-like shares). Five columns are shifted in
the current table: ``normal_0`` mean +0.5 sd, ``normal_1`` sd x1.5, ``normal_2`` mean +0.2
sd, ``cat_1`` one level's share 10 % -> 30 % (the others scaled down in proportion),
``cat_3`` a new level on 10 % of the rows; the other 15 are drawn from the reference's
distribution. Every worker reads both files with ``pd.read_parquet`` (cairn and NumPy under
the main environment's pandas 3, Evidently under pandas 2); the reading is **not** timed (its
wall time is printed) and every tool gets the same two DataFrames.

The timed calls, one per fresh process, after an untimed warm-up of the same call on the first
1,000 rows of each frame (imports and one-off set-up counted for no one); as an extra figure,
cairn is also timed on the two Parquet paths, reading included (``cpu-cairn-from-parquet``):

- cairn: ``cairn.monitor.drift(reference, current)`` (the pandas-to-Arrow conversion and the
  column summaries inside it are part of the timing).
- Evidently: ``Report([DataDriftPreset()]).run(current, reference)`` with its defaults (the
  dataset-definition inference inside ``run`` is timed). Its drifted columns are read after
  the timed call from the ``DataDriftTable`` result the preset computed (cached, no
  recomputation).
- NumPy/SciPy (``numpy``), the same statistics written plainly: per numeric column
  ``scipy.stats.ks_2samp`` and ``scipy.stats.wasserstein_distance`` divided by the reference's
  standard deviation; per string column both samples' level counts (``Series.value_counts``,
  a hash count: ``np.unique`` would sort strings) aligned into a 2 x k table and
  ``scipy.stats.chi2_contingency`` with the bias-corrected Cramér's V from its statistic. Its
  verdicts use cairn's documented rule (KS p < 0.001 and W/sd >= 0.1; chi-squared p < 0.001
  and V >= 0.05), so its drifted list is a check of cairn's.
- NumPy by hand (``numpy-one-sort``): the same, but each numeric column's KS statistic and
  Wasserstein distance come from one sort per sample and one merge (``np.sort``,
  ``np.searchsorted`` on the merged values, the asymptotic Kolmogorov p-value from
  ``scipy.stats.kstwobign``): SciPy's two functions each sort both samples again, so this is
  the faster plain baseline; ``ratio drift-cpu-vs-numpy-one-sort`` holds cairn to the same
  goal against it.

Per call: CPU time (``time.process_time()``: user + system of all the process's threads; the
user and system parts from ``getrusage`` are printed too) and wall time. Memory (cairn only):
the peak RSS during the call (``VmHWM``, reset just before it through
``/proc/self/clear_refs``) minus the RSS just before it, with both frames loaded and the
libraries imported; compared with the two frames' pandas ``memory_usage(deep=True)``.
cairn and both NumPy variants run 3 times each, taking turns going first (``--quick``: once),
figures are medians; Evidently runs once (about 150 s of wall time at full size).

The false-alarm calibration (cairn only): pairs of samples drawn from the same distribution,
per side 100, 1,000, 10,000, 100,000 and 1,000,000 rows, in 7 column kinds (numeric: normal,
lognormal, Poisson(1.5) integers; string: 2, 10, 100 and 1,000 levels with Zipf-like
shares), ``cairn.monitor.drift`` on one-column DataFrames; 200 trials per cell up to 100,000
rows and 50 at 1,000,000 (``--quick``: 20 and 5; one alarm in 50 trials is already 2 %). A
false alarm is a ``drift`` verdict; ``not enough data`` answers are counted and shown. The
table gives the rate per cell; ``false-alarm-rate`` is the largest cell's rate. As a
reference, Evidently's defaults on a few undrifted cells at 1,000 rows per side (normal, 10,
100 and 1,000 levels; 50 trials, ``--quick``: 5).

Prints ``ratio <figure>: <N.NN>x (goal >= <G>x) PASS|FAIL`` (the anchor's CPU time over
cairn's) and ``figure <name>: <value> <unit>`` lines; missing a goal is reported, not fatal,
but a failing subprocess exits non-zero.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from _common import WORKER_HELPERS, cairn_version, ensure_venv, ratio, run_worker
from _common import clean_env as common_clean_env
from _common import scratch as common_scratch

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venvs" / "evidently"
EVIDENTLY_PACKAGES = ["evidently==0.7.*", "pandas<3", "pyarrow"]
SEED = 20_241_205
WARMUP_ROWS = 1_000
SIZES = [100, 1_000, 10_000, 100_000, 1_000_000]
KINDS = ["normal", "lognormal", "integer", "cat-2", "cat-10", "cat-100", "cat-1000"]
EVIDENTLY_KINDS = ["normal", "cat-10", "cat-100", "cat-1000"]
EVIDENTLY_SIZE = 1_000

# Shared by every worker: the result line and the measurement of one call.
PRELUDE = (
    WORKER_HELPERS
    + """
def measure(call, warmup, summarize, extra):
    warmup()
    gc.collect()
    base = status("VmRSS")
    resettable = reset_peak()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c, w = time.process_time(), time.perf_counter()
    out = call()
    w, c = time.perf_counter() - w, time.process_time() - c
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    peak = status("VmHWM")
    report({"cpu": c, "wall": w, "base_kb": base, "peak_kb": peak,
            "extra_kb": peak - base if resettable else None,
            "user": r1.ru_utime - r0.ru_utime, "sys": r1.ru_stime - r0.ru_stime,
            **extra, **summarize(out)})
"""
)

# Zipf-like level shares and the sample makers, shared by the generator and the calibration.
SAMPLERS = """
import numpy as np
def zipf(k, s=1.0):
    p = 1.0 / np.arange(1, k + 1) ** s
    return p / p.sum()
def names(prefix, k):
    return np.asarray([f"{prefix}_level_{j:04d}" for j in range(k)], dtype=object)
def draw(rng, kind, n):
    if kind == "normal":
        return rng.normal(0.0, 1.0, n)
    if kind == "lognormal":
        return rng.lognormal(0.0, 1.0, n)
    if kind == "integer":
        return rng.poisson(1.5, n)
    k = int(kind.split("-")[1])
    return LEVELS[k][rng.choice(k, size=n, p=SHARES[k])]
LEVELS, SHARES = {}, {}
for k in (2, 10, 100, 1000):
    LEVELS[k], SHARES[k] = names(f"k{k}", k), zipf(k)
"""

# Writes the two tables (sys.argv[1], sys.argv[2]: the Parquet paths, sys.argv[3]: rows).
GENERATE = (
    SAMPLERS
    + """
import pyarrow as pa
import pyarrow.parquet as pq

ref_path, cur_path, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(seed)
ref, cur = {}, {}
normals = [(0, 1), (10, 2), (-5, 0.5), (100, 15), (1000, 200)]
shift = {0: (0.5, 1.0), 1: (0.0, 1.5), 2: (0.2, 1.0)}  # (mean + x sd, sd times y)
for i, (loc, scale) in enumerate(normals):
    dmean, dsd = shift.get(i, (0.0, 1.0))
    ref[f"normal_{i}"] = rng.normal(loc, scale, n)
    cur[f"normal_{i}"] = rng.normal(loc + dmean * scale, scale * dsd, n)
for i, (mean, sigma) in enumerate([(0, 1), (1, 0.5), (3, 0.25), (-1, 1.5), (5, 0.8)]):
    for side in (ref, cur):
        side[f"lognormal_{i}"] = rng.lognormal(mean, sigma, n)
for side in (ref, cur):
    side["int_0"] = rng.integers(0, 100, n)
    side["int_1"] = rng.poisson(3.0, n)
    side["int_2"] = rng.binomial(50, 0.3, n)
    side["int_3"] = rng.negative_binomial(5, 0.1, n)
    side["int_4"] = rng.integers(-1_000_000, 1_000_000, n)
levels = {0: 3, 1: 10, 2: 50, 3: 200, 4: 1000}
for i, k in levels.items():
    level_names = names(f"cat{i}", k)
    p = zipf(k)
    if i == 1:  # level 0 holds exactly 10 % in the reference, 30 % in the current
        p = np.concatenate(([0.1], 0.9 * zipf(k - 1)))
        q = np.concatenate(([0.3], 0.7 * zipf(k - 1)))
    else:
        q = p
    ref[f"cat_{i}"] = level_names[rng.choice(k, size=n, p=p)]
    values = level_names[rng.choice(k, size=n, p=q)]
    if i == 3:  # a level the reference never had, on 10 % of the current rows
        values[rng.random(n) < 0.1] = f"cat{i}_new_level"
    cur[f"cat_{i}"] = values
for path, side in ((ref_path, ref), (cur_path, cur)):
    fields = {
        k: pa.array(v, pa.string() if k.startswith("cat_") else None) for k, v in side.items()
    }
    pq.write_table(pa.table(fields), path)
report({"columns": list(ref), "shifted": ["normal_0", "normal_1", "normal_2", "cat_1", "cat_3"]})
"""
)

# Every scenario worker: sys.argv[1] the reference Parquet file, sys.argv[2] the current one.
LOAD = """
import pandas as pd
t0 = time.perf_counter()
ref = pd.read_parquet(sys.argv[1])
cur = pd.read_parquet(sys.argv[2])
read_s = time.perf_counter() - t0
frames_bytes = int(ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum())
small_ref, small_cur = ref.head(WARMUP_ROWS).copy(), cur.head(WARMUP_ROWS).copy()
loaded = {"read_s": read_s, "frames_bytes": frames_bytes, "pandas": pd.__version__,
          "dtypes": sorted({str(t) for t in ref.dtypes})}
""".replace("WARMUP_ROWS", str(WARMUP_ROWS))

CAIRN_DRIFT = """
try:
    import cairn
    drift = cairn.monitor.drift
except (AttributeError, ImportError):
    from cairn.monitoring import drift
    drift = getattr(drift, "drift", drift)  # the module while the package exports nothing yet
"""

CAIRN = (
    LOAD
    + CAIRN_DRIFT
    + """
def summarize(result):
    return {
        "drifted": result.drifted_columns,
        "columns": {
            c.column: {"kind": c.kind, "test": c.test, "statistic": c.statistic,
                       "p_value": c.p_value, "effect": c.effect, "verdict": c.verdict}
            for c in result.columns
        },
    }

measure(lambda: drift(ref, cur), lambda: drift(small_ref, small_cur), summarize, loaded)
"""
)

# cairn given the two Parquet paths (reading included); warmed up on the first 1,000 rows.
CAIRN_PARQUET = (
    LOAD
    + CAIRN_DRIFT
    + """
del ref, cur
def summarize(result):
    return {"drifted": result.drifted_columns}

measure(lambda: drift(sys.argv[1], sys.argv[2]), lambda: drift(small_ref, small_cur), summarize,
        {"read_s": read_s})
"""
)

# The numeric statistics of the plain computation, two ways: SciPy's functions as documented,
# and by hand from one merged sort per column (each sample sorted once, KS and Wasserstein from
# the same two empirical CDFs, the asymptotic KS p-value).
SCIPY_NUMERIC = """
def numeric_stats(x, y):
    ks = stats.ks_2samp(x, y)
    return float(ks.statistic), float(ks.pvalue), float(stats.wasserstein_distance(x, y))
"""

ONE_SORT_NUMERIC = """
def numeric_stats(x, y):
    n, m = len(x), len(y)
    xs, ys = np.sort(x), np.sort(y)
    both = np.concatenate((xs, ys))
    both.sort(kind="stable")  # two sorted runs: merged in linear time
    d = np.searchsorted(xs, both, "right") / n - np.searchsorted(ys, both, "right") / m
    ks = float(np.abs(d).max())
    w = float(np.dot(np.abs(d[:-1]), np.diff(both)))
    en = math.sqrt(n * m / (n + m))
    return ks, float(stats.kstwobign.sf(en * ks)), w
"""

NUMPY = """
import math
import numpy as np
from scipy import stats
NUMERIC_STATS
def cramers_v(chi2, total, k):  # Bergsma's bias correction, 2 x k table
    phi2 = max(0.0, chi2 / total - (k - 1) / (total - 1))
    kk = k - (k - 1) ** 2 / (total - 1)
    rr = 2 - 1 / (total - 1)
    d = min(kk - 1, rr - 1)
    return math.sqrt(phi2 / d) if d > 0 else 0.0

def compute(r, c):
    out = {}
    for name in r.columns:
        a, b = r[name], c[name]
        if a.dtype.kind in "iuf":
            x, y = a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64)
            statistic, p, w = numeric_stats(x, y)
            sd = x.std(ddof=1)
            effect = w / sd if sd > 0 else math.inf
            out[name] = {"kind": "numeric", "statistic": statistic, "p_value": p,
                         "effect": float(effect), "drift": bool(p < 0.001 and effect >= 0.1)}
        else:
            ra, cb = a.value_counts(), b.value_counts()
            levels = ra.index.union(cb.index)
            table = np.vstack([ra.reindex(levels, fill_value=0).to_numpy(),
                               cb.reindex(levels, fill_value=0).to_numpy()])
            chi2, p, dof, _ = stats.chi2_contingency(table)
            v = cramers_v(chi2, int(table.sum()), table.shape[1])
            out[name] = {"kind": "categorical", "statistic": float(chi2), "p_value": float(p),
                         "effect": v, "drift": bool(p < 0.001 and v >= 0.05)}
    return out

def summarize(out):
    return {"drifted": [k for k, v in out.items() if v["drift"]], "columns": out}

measure(lambda: compute(ref, cur), lambda: compute(small_ref, small_cur), summarize, loaded)
"""
NUMPY_SCIPY = LOAD + NUMPY.replace("NUMERIC_STATS", SCIPY_NUMERIC)
NUMPY_ONE_SORT = LOAD + NUMPY.replace("NUMERIC_STATS", ONE_SORT_NUMERIC)

EVIDENTLY = (
    LOAD
    + """
from evidently import Report
from evidently.presets import DataDriftPreset
from evidently.legacy.metrics import DataDriftTable
from evidently.core.report import _default_input_data_generator

def run(r, c):
    return Report([DataDriftPreset()]).run(c, r)

def summarize(snapshot):
    # The preset computed this table while rendering; asking again reads its cache.
    table = snapshot.context.get_legacy_metric(
        DataDriftTable(), _default_input_data_generator, None)[0]
    columns = {
        name: {"test": d.stattest_name, "score": float(d.drift_score),
               "threshold": float(d.stattest_threshold), "drift": bool(d.drift_detected)}
        for name, d in table.drift_by_columns.items()
    }
    return {"drifted": [k for k, v in columns.items() if v["drift"]], "columns": columns}

measure(lambda: run(ref, cur), lambda: run(small_ref, small_cur), summarize, loaded)
"""
)

# cairn on undrifted pairs: sys.argv[1] the size, sys.argv[2] the trials, sys.argv[3] the seed.
CALIBRATE = (
    SAMPLERS
    + CAIRN_DRIFT
    + """
import pandas as pd
n, trials, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cells = {}
for kind in KINDS:
    rng = np.random.default_rng([seed, n, KINDS.index(kind)])
    counts = {}
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(trials):
        a = pd.DataFrame({"x": draw(rng, kind, n)})
        b = pd.DataFrame({"x": draw(rng, kind, n)})
        verdict = drift(a, b).columns[0].verdict
        counts[verdict] = counts.get(verdict, 0) + 1
    cells[kind] = {"trials": trials, "counts": counts, "cpu": time.process_time() - c0,
                   "wall": time.perf_counter() - w0}
report(cells)
""".replace("KINDS", repr(KINDS))
)

# Evidently's defaults on undrifted pairs: sys.argv[1] size, sys.argv[2] trials, sys.argv[3] seed.
EVIDENTLY_CALIBRATE = (
    SAMPLERS
    + """
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
from evidently.legacy.metrics import DataDriftTable
from evidently.core.report import _default_input_data_generator
n, trials, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cells = {}
for kind in KINDS:
    rng = np.random.default_rng([seed, n, 1000 + KINDS.index(kind)])
    alarms, tests = 0, set()
    for _ in range(trials):
        a = pd.DataFrame({"x": draw(rng, kind, n)})
        b = pd.DataFrame({"x": draw(rng, kind, n)})
        snapshot = Report([DataDriftPreset()]).run(b, a)
        table = snapshot.context.get_legacy_metric(
            DataDriftTable(), _default_input_data_generator, None)[0]
        result = table.drift_by_columns["x"]
        alarms += bool(result.drift_detected)
        tests.add(result.stattest_name)
    cells[kind] = {"trials": trials, "alarms": alarms, "tests": sorted(tests)}
report(cells)
""".replace("KINDS", repr(EVIDENTLY_KINDS))
)


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without cairn or virtualenv settings, plus ``extra``."""
    return common_clean_env(**{"DO_NOT_TRACK": "1", **extra})  # no telemetry from Evidently


def worker(python: Path | str, code: str, *args: str, cwd: Path) -> Any:
    """Run ``code`` with ``python`` in a fresh process and return the JSON it reports."""
    return run_worker(python, PRELUDE + code, *args, cwd=cwd, env=clean_env())


def evidently_python() -> Path:
    return VENV / "bin" / "python"


def version_in(python: Path, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "?"


def med(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def runs_text(runs: list[dict[str, Any]], key: str, fmt: str = ".2f") -> str:
    return ", ".join(f"{r[key]:{fmt}}" for r in runs)


def tool_figures(name: str, runs: list[dict[str, Any]]) -> None:
    print(
        f"figure cpu-{name}: {med(runs, 'cpu'):.2f} s  (runs: {runs_text(runs, 'cpu')}; "
        f"user {runs_text(runs, 'user')}, system {runs_text(runs, 'sys')})"
    )
    print(
        f"figure wall-{name}: {med(runs, 'wall'):.2f} s  (runs: {runs_text(runs, 'wall')}; "
        f"reading the two Parquet files, untimed: {runs_text(runs, 'read_s')} s)"
    )


def number(value: float | None, fmt: str = ".3g") -> str:
    return "-" if value is None else f"{value:{fmt}}"


def column_table(
    cairn: dict[str, Any], plain: dict[str, Any], evidently: dict[str, Any], shifted: list[str]
) -> None:
    """Per column: cairn's test, statistic, effect, p-value and verdict beside the plain
    computation's and Evidently's."""
    print(
        "# per column: cairn (test, statistic, effect, p, verdict) | numpy/scipy (statistic, "
        "effect, p, drift) | evidently (test, score, drift)"
    )
    for name, c in cairn["columns"].items():
        p = plain["columns"].get(name, {})
        e = evidently["columns"].get(name, {})
        print(
            f"  {name:<12}{'*' if name in shifted else ' '} {c['test']:<14} "
            f"{number(c['statistic']):>9} {number(c['effect']):>9} {number(c['p_value']):>9} "
            f"{c['verdict']:<9}| {number(p.get('statistic')):>9} {number(p.get('effect')):>9} "
            f"{number(p.get('p_value')):>9} {'drift' if p.get('drift') else '-':<6}| "
            f"{e.get('test', '?'):<30} {number(e.get('score')):>9} "
            f"{'drift' if e.get('drift') else '-'}"
        )
    print("  (* shifted in the current table)")


def scenario(d: Path, n: int, repeats: int) -> None:
    """The 1M vs 1M scenario: timings, drifted columns and memory."""
    ref_path, cur_path = d / f"reference-{n}.parquet", d / f"current-{n}.parquet"
    spec = worker(sys.executable, GENERATE, str(ref_path), str(cur_path), str(n), str(SEED), cwd=d)
    size = (ref_path.stat().st_size + cur_path.stat().st_size) / 2**20
    print(
        f"# data: {n:,} vs {n:,} rows x {len(spec['columns'])} columns, seed {SEED}, "
        f"{size:.1f} MiB Parquet; shifted: {', '.join(spec['shifted'])}",
        flush=True,
    )
    args = (str(ref_path), str(cur_path))
    evidently = worker(evidently_python(), EVIDENTLY, *args, cwd=d)
    print(f"  evidently: cpu {evidently['cpu']:.2f} s, wall {evidently['wall']:.2f} s", flush=True)
    tools = [("cairn", CAIRN), ("numpy", NUMPY_SCIPY), ("numpy-one-sort", NUMPY_ONE_SORT)]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in tools}
    for rep in range(repeats):
        for name, code in tools[rep % 3 :] + tools[: rep % 3]:
            out = worker(sys.executable, code, *args, cwd=d)
            results[name].append(out)
            print(
                f"  {name}: cpu {out['cpu']:.2f} s (user {out['user']:.2f}, system "
                f"{out['sys']:.2f}), wall {out['wall']:.2f} s, "
                f"extra {(out['extra_kb'] or 0) / 1024:.0f} MB",
                flush=True,
            )
    from_files = worker(sys.executable, CAIRN_PARQUET, *args, cwd=d)
    cairn, plain = results["cairn"], results["numpy"]
    print(
        f"# pandas {cairn[0]['pandas']} dtypes (cairn, numpy): {cairn[0]['dtypes']}; "
        f"pandas {evidently['pandas']} dtypes (evidently): {evidently['dtypes']}"
    )
    column_table(cairn[0], plain[0], evidently, spec["shifted"])
    tool_figures("evidently", [evidently])
    tool_figures("cairn", cairn)
    tool_figures("numpy", plain)
    tool_figures("numpy-one-sort", results["numpy-one-sort"])
    print(
        f"figure cpu-cairn-from-parquet: {from_files['cpu']:.2f} s  (drift(reference.parquet, "
        f"current.parquet), reading included; wall {from_files['wall']:.2f} s; pandas took "
        f"{from_files['read_s']:.2f} s wall to read both files)"
    )
    ratio("drift-cpu-vs-evidently", evidently["cpu"], med(cairn, "cpu"), 30)
    ratio("drift-cpu-vs-numpy", med(plain, "cpu"), med(cairn, "cpu"), 0.67)
    # The same goal against the hand-written variant (one sort per sample, no SciPy wrappers).
    ratio(
        "drift-cpu-vs-numpy-one-sort",
        med(results["numpy-one-sort"], "cpu"),
        med(cairn, "cpu"),
        0.67,
    )
    ours = cairn[0]["drifted"]
    print(f"figure evidently-drifted: {','.join(evidently['drifted'])}")
    print(f"figure cairn-drifted: {','.join(ours)}")
    print(
        f"figure numpy-drifted: {','.join(plain[0]['drifted'])}  (cairn's rule on SciPy's numbers)"
    )
    print(f"figure numpy-one-sort-drifted: {','.join(results['numpy-one-sort'][0]['drifted'])}")
    print(f"figure shifted: {','.join(spec['shifted'])}")

    def agree(a: list[str], b: list[str]) -> str:
        return "same" if sorted(a) == sorted(b) else "different"

    same = sorted(evidently["drifted"]) == sorted(ours)
    print(
        f"figure drifted-columns-equal: {'yes' if same else 'no'}  "
        f"(cairn vs the shifted columns: {agree(ours, spec['shifted'])}; "
        f"cairn vs numpy: {agree(ours, plain[0]['drifted'])})"
    )
    if any(sorted(r["drifted"]) != sorted(ours) for r in cairn):
        print("warning: cairn's drifted columns differ between repeats")
    frames_mb = cairn[0]["frames_bytes"] / 2**20
    if all(r["extra_kb"] is not None for r in cairn):
        extra_mb = med(cairn, "extra_kb") / 1024
        verdict = "PASS" if extra_mb <= 2 * frames_mb else "FAIL"
        print(f"figure drift-peak-rss: {extra_mb:.0f} MB (goal <= 2x the input frames) {verdict}")
        print(
            f"figure input-frames: {frames_mb:.0f} MB  "
            "(both frames, pandas memory_usage(deep=True); "
            f"goal for the peak above: <= {2 * frames_mb:.0f} MB; cairn's process peak "
            f"{med(cairn, 'peak_kb') / 1024:.0f} MB over a baseline of "
            f"{med(cairn, 'base_kb') / 1024:.0f} MB; runs: "
            + ", ".join(f"{r['extra_kb'] / 1024:.0f}" for r in cairn)
            + " MB)"
        )
    else:
        print("figure drift-peak-rss: unavailable (cannot reset the peak: /proc/self/clear_refs)")


def calibration(d: Path, quick: bool) -> None:
    """cairn's false alarms on undrifted pairs, per size and column kind; Evidently's on a few."""
    print(
        "# false alarms on undrifted pairs (cairn.monitor.drift on one-column frames; "
        "rate = drift verdicts / trials; n.e.d. = 'not enough data' answers)",
        flush=True,
    )
    cells: dict[int, dict[str, Any]] = {}
    for n in SIZES:
        trials = (20 if n <= 100_000 else 5) if quick else (200 if n <= 100_000 else 50)
        started = time.perf_counter()
        cells[n] = worker(sys.executable, CALIBRATE, str(n), str(trials), str(SEED), cwd=d)
        print(
            f"  {n:,} rows per side, {trials} trials per kind: "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
    width = 20
    print("  " + f"{'rows per side':>13} " + "".join(f"{k:>{width}}" for k in KINDS))
    worst, worst_cell, alarms, total, ned = 0.0, "", 0, 0, 0
    for n, row in cells.items():
        texts = []
        for kind in KINDS:
            cell = row[kind]
            drifted = cell["counts"].get("drift", 0)
            not_enough = cell["counts"].get("not enough data", 0)
            rate = 100 * drifted / cell["trials"]
            alarms, total, ned = alarms + drifted, total + cell["trials"], ned + not_enough
            if rate > worst or not worst_cell:
                worst, worst_cell = rate, f"{kind} at {n:,} rows"
            text = f"{rate:.1f}% ({drifted}/{cell['trials']})"
            texts.append(text + (f" {not_enough}ned" if not_enough else ""))
        print("  " + f"{n:>13,} " + "".join(f"{t:>{width}}" for t in texts))
    others = {
        verdict
        for row in cells.values()
        for cell in row.values()
        for verdict in cell["counts"]
        if verdict not in ("drift", "no drift", "not enough data")
    }
    if others:
        print(f"warning: unexpected verdicts on undrifted pairs: {sorted(others)}")
    cpu = sum(cell["cpu"] for row in cells.values() for cell in row.values())
    verdict = "PASS" if worst <= 1.0 else "FAIL"
    print(
        f"figure false-alarm-rate: {worst:.1f} % (goal <= 1 %) {verdict}  ("
        + (f"the largest cell, {worst_cell}" if worst > 0 else "no cell had a false alarm")
        + f"; all cells together {alarms}/{total} = {100 * alarms / total:.2f} %; "
        f"{ned} 'not enough data'; {cpu:.0f} CPU-s)"
    )
    trials = 5 if quick else 50
    ev = worker(
        evidently_python(), EVIDENTLY_CALIBRATE, str(EVIDENTLY_SIZE), str(trials), str(SEED), cwd=d
    )
    ours = cells[EVIDENTLY_SIZE]
    print(
        "figure evidently-false-alarms: "
        + ", ".join(
            f"{kind} {100 * cell['alarms'] / cell['trials']:.0f} % ({cell['alarms']}/"
            f"{cell['trials']}, {'/'.join(cell['tests'])})"
            for kind, cell in ev.items()
        )
        + f"  (Evidently's defaults, undrifted, {EVIDENTLY_SIZE:,} rows per side; cairn on the "
        + "same kinds: "
        + ", ".join(
            f"{kind} {100 * ours[kind]['counts'].get('drift', 0) / ours[kind]['trials']:.1f} %"
            for kind in ev
        )
        + ")"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="100,000 rows, one repeat, fewer calibration trials"
    )
    quick = parser.parse_args().quick
    n, repeats = (100_000, 1) if quick else (1_000_000, 3)

    version = ensure_venv(VENV, EVIDENTLY_PACKAGES, "evidently")
    print("# monitoring: cairn drift vs Evidently vs NumPy/SciPy" + (" (--quick)" if quick else ""))
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(
        f"# cairn {cairn_version()} on Python {platform.python_version()} "
        f"(pandas {metadata.version('pandas')}, pyarrow {metadata.version('pyarrow')}, "
        f"numpy {metadata.version('numpy')}, scipy {metadata.version('scipy')}); "
        f"evidently {version} (pandas {version_in(evidently_python(), 'pandas')}, "
        f"numpy {version_in(evidently_python(), 'numpy')}, "
        f"scipy {version_in(evidently_python(), 'scipy')})",
        flush=True,
    )
    with common_scratch("monitoring-") as d:
        scenario(d, n, repeats)
        calibration(d, quick)


if __name__ == "__main__":
    main()
