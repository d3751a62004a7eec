"""What differs between two runs that should be the same: seed, params, code, packages, ...

``diff_runs`` reads two stored runs and lists, section by section, the keys whose values
differ. The sections run from causes to consequences: seed, params, code (git tags and the
uncommitted diff), packages, environment, other tags, and finally the latest metrics.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cairn.store import get_store
from cairn.tracking._implicit import DIFF_ARTIFACT, PACKAGES_ARTIFACT
from cairn.tracking.query import get_run
from cairn.tracking.record import ArtifactEntry, RunRecord

_SEED_TAGS = ("cairn.seed",)
_CODE_TAGS = (
    "cairn.git.commit",
    "cairn.git.branch",
    "cairn.git.remote",
    "cairn.git.dirty",
    "cairn.git.untracked_skipped",
    "cairn.command",
    "cairn.entry_point",
    "cairn.cwd",
    "cairn.notebook",
)
_ENVIRONMENT_TAGS = (
    "cairn.python",
    "cairn.executable",
    "cairn.platform",
    "cairn.host",
    "cairn.cpu",
    "cairn.cpu_count",
    "cairn.ram_gb",
    "cairn.gpus",
    "cairn.seeded",
)
_GIT_DIFF_ARTIFACT = DIFF_ARTIFACT
_PACKAGES_ARTIFACT = PACKAGES_ARTIFACT
_SYSTEM_METRIC_PREFIX = "system/"
MAX_DIFF_LINES = 200
# Sections that say whether the runs were set up alike; tags and metrics are left out.
_SETUP_SECTIONS = ("seed", "params", "code", "packages", "environment")


@dataclass(frozen=True)
class Difference:
    """One key whose value differs between run A and run B (None where a run lacks it)."""

    key: str
    a: Any
    b: Any

    @property
    def change(self) -> str:
        """``added`` (only in B), ``removed`` (only in A) or ``changed``."""
        if self.a is None:
            return "added"
        return "removed" if self.b is None else "changed"


@dataclass(frozen=True)
class DiffSection:
    """One aspect of two runs (``params``, ``packages``, ...) and the keys that differ in it."""

    name: str
    differences: tuple[Difference, ...] = ()

    @property
    def same(self) -> bool:
        """Whether the runs agree in this section."""
        return not self.differences


@dataclass(frozen=True)
class RunDiff:
    """The differences between two runs, section by section, causes first.

    ``code_diff`` is a unified diff of the two runs' uncommitted changes (the artifact
    ``cairn/git.diff``), empty when those match; ``code_diff_omitted`` counts the lines of it
    left out to keep it short.
    """

    run_a: str
    run_b: str
    name_a: str
    name_b: str
    sections: tuple[DiffSection, ...]
    code_diff: str = ""
    code_diff_omitted: int = 0

    def section(self, name: str) -> DiffSection:
        """The section called ``name`` (``seed``, ``params``, ``code``, ``packages``, ...)."""
        for section in self.sections:
            if section.name == name:
                return section
        raise KeyError(f"no diff section {name!r}; the sections are {self.section_names}")

    @property
    def section_names(self) -> list[str]:
        """The names of the sections, in order."""
        return [section.name for section in self.sections]

    @property
    def same(self) -> bool:
        """Whether nothing at all differs, metrics and tags included."""
        return all(section.same for section in self.sections)

    @property
    def same_setup(self) -> bool:
        """Whether seed, params, code, packages and environment all match."""
        return all(s.same for s in self.sections if s.name in _SETUP_SECTIONS)


def diff_runs(run_a: str, run_b: str, max_diff_lines: int | None = MAX_DIFF_LINES) -> RunDiff:
    """Compare two runs (ids or unique id prefixes); list what differs, section by section.

    ``max_diff_lines`` bounds the diff of the runs' uncommitted changes (None: all of it).
    """
    a, b = get_run(run_a), get_run(run_b)
    code_diff, omitted = _code_diff(a, b, max_diff_lines)
    code = _keyed(a.tags, b.tags, _CODE_TAGS)
    if code_diff:
        code.append(
            Difference(
                _GIT_DIFF_ARTIFACT,
                _describe_text(a, _GIT_DIFF_ARTIFACT),
                _describe_text(b, _GIT_DIFF_ARTIFACT),
            )
        )
    known_tags = {*_SEED_TAGS, *_CODE_TAGS, *_ENVIRONMENT_TAGS}
    other_tags = [k for k in _union(a.tags, b.tags) if k not in known_tags]
    metrics = [k for k in _union(a.metrics, b.metrics) if not k.startswith(_SYSTEM_METRIC_PREFIX)]
    sections = (
        DiffSection("seed", tuple(_keyed(a.tags, b.tags, _SEED_TAGS))),
        DiffSection("params", tuple(_keyed(a.params, b.params, _union(a.params, b.params)))),
        DiffSection("code", tuple(code)),
        DiffSection("packages", tuple(_packages(a, b))),
        DiffSection("environment", tuple(_keyed(a.tags, b.tags, _ENVIRONMENT_TAGS))),
        DiffSection("tags", tuple(_keyed(a.tags, b.tags, other_tags))),
        DiffSection("metrics", tuple(_keyed(a.metrics, b.metrics, metrics))),
    )
    return RunDiff(a.id, b.id, a.name, b.name, sections, code_diff, omitted)


def _normal_name(name: str) -> str:
    """A distribution name in PEP 503 normal form: ``Typing_Extensions`` → ``typing-extensions``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse_packages(text: str) -> dict[str, tuple[str, str]]:
    """Read ``name==version`` lines into {normal name: (name as written, version)}.

    Blank lines and ``#`` comments are skipped; ``name @ url`` lines keep the URL as version.
    """
    packages: dict[str, tuple[str, str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for separator in ("==", " @ "):
            if separator in line:
                name, version = (part.strip() for part in line.split(separator, 1))
                break
        else:
            name, version = line, ""
        packages[_normal_name(name)] = (name, version)
    return packages


def _union(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return sorted(a.keys() | b.keys())


def _equal(x: Any, y: Any) -> bool:
    # Types count (1 and True and 1.0 are different params); two NaN metrics are alike.
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return type(x) is type(y) and bool(x == y)


def _keyed(a: Mapping[str, Any], b: Mapping[str, Any], keys: Iterable[str]) -> list[Difference]:
    return [
        Difference(key, a.get(key), b.get(key))
        for key in keys
        if (key in a) != (key in b) or (key in a and not _equal(a[key], b[key]))
    ]


def _artifact(record: RunRecord, path: str) -> ArtifactEntry | None:
    return next((entry for entry in record.artifacts if entry.path == path), None)


def _read_text(entry: ArtifactEntry | None) -> str:
    if entry is None:
        return ""
    return get_store().artifacts.read_bytes(entry.digest).decode("utf-8", errors="replace")


def _describe_text(record: RunRecord, path: str) -> str | None:
    entry = _artifact(record, path)
    if entry is None:
        return None
    return f"{entry.size:,} bytes, {entry.digest[:19]}…"


def _code_diff(a: RunRecord, b: RunRecord, max_lines: int | None) -> tuple[str, int]:
    """The unified diff of the two runs' uncommitted changes, and how many lines were cut."""
    entry_a, entry_b = _artifact(a, _GIT_DIFF_ARTIFACT), _artifact(b, _GIT_DIFF_ARTIFACT)
    digest_a = entry_a.digest if entry_a else None
    digest_b = entry_b.digest if entry_b else None
    if digest_a == digest_b:  # same content (or neither has one): nothing to read
        return "", 0
    text_a, text_b = _read_text(entry_a), _read_text(entry_b)
    if text_a == text_b:  # e.g. one run has an empty diff, the other none
        return "", 0
    lines = list(
        difflib.unified_diff(
            text_a.splitlines(),
            text_b.splitlines(),
            fromfile=f"{a.id}/{_GIT_DIFF_ARTIFACT}",
            tofile=f"{b.id}/{_GIT_DIFF_ARTIFACT}",
            lineterm="",
        )
    )
    if max_lines is None or len(lines) <= max_lines:
        return "\n".join(lines), 0
    return "\n".join(lines[:max_lines]), len(lines) - max_lines


def _packages(a: RunRecord, b: RunRecord) -> list[Difference]:
    entry_a, entry_b = _artifact(a, _PACKAGES_ARTIFACT), _artifact(b, _PACKAGES_ARTIFACT)
    if entry_a is None and entry_b is None:
        return []
    if entry_a is None or entry_b is None:
        # One list of packages against none: one line says so instead of hundreds.
        return [
            Difference(
                _PACKAGES_ARTIFACT,
                _count_packages(entry_a),
                _count_packages(entry_b),
            )
        ]
    if entry_a.digest == entry_b.digest:
        return []
    packages_a = _parse_packages(_read_text(entry_a))
    packages_b = _parse_packages(_read_text(entry_b))
    differences = []
    for key in _union(packages_a, packages_b):
        name_a, version_a = packages_a.get(key, (None, None))
        name_b, version_b = packages_b.get(key, (None, None))
        if version_a != version_b:
            differences.append(Difference(name_b or name_a or key, version_a, version_b))
    return differences


def _count_packages(entry: ArtifactEntry | None) -> str | None:
    if entry is None:
        return None
    return f"{len(_parse_packages(_read_text(entry)))} packages"
