"""Every install hint names the distribution that is cairn: ``cairn-mlops`` (``cairn`` on the
package index is an unrelated project, ``cairnml`` a ClearML fork)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cairn.core.errors import MissingDependencyError
from cairn.core.lazy import import_optional

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "cairn-mlops"
# `pip install`, its options, then the first requirement (quotes and backquotes around it).
HINT = re.compile(r"pip\s+install((?:\s+-{1,2}[\w-]+(?:\s+(?=-)|(?=\s)))*)\s+['\"`]?([^\s'\"`)]+)")


def _sources() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "src").rglob("*.py"))]


def _hints() -> list[tuple[str, str]]:
    """(file:line, requirement) for every `pip install <requirement>` in src/ and README.md."""
    found = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for match in HINT.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", match[2]))
    return found


def _names_cairn(requirement: str) -> bool:
    """Whether a requirement names a distribution called like cairn (not a path or a variable)."""
    name = re.split(r"[\[<>=!~;@ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
    return name.startswith("cairn")


def test_the_distribution_is_cairn_mlops_and_its_extras_refer_to_it() -> None:
    """pyproject names the distribution cairn-mlops, and extras that include others name it."""
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'(?m)^name = "([^"]+)"', text)[1] == DISTRIBUTION  # type: ignore[index]
    assert re.search(r'(?m)^cairn = "cairn\.cli\.main:main"$', text)  # the command stays cairn
    # Inside the quoted requirements of the extras: "cairn-mlops[serve]", never "cairn[serve]".
    wrong = [r for r in re.findall(r'"([^"\s]+)"', text) if _names_cairn(r) and "[" in r]
    assert all(r.startswith(f"{DISTRIBUTION}[") for r in wrong), wrong


def test_every_pip_install_hint_names_cairn_mlops() -> None:
    """Each `pip install` in src/ and README.md that installs cairn installs cairn-mlops."""
    hints = _hints()
    # The scan must see the hints that exist (the README's extras, the lazy-import message).
    assert sum(1 for _, requirement in hints if _names_cairn(requirement)) >= 4, hints
    wrong = [
        (where, requirement)
        for where, requirement in hints
        if _names_cairn(requirement) and not re.match(rf"{DISTRIBUTION}(\[|$)", requirement)
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("text", "requirement"),
    [
        ("run `pip install 'cairn[s3]'` first", "cairn[s3]"),
        ("pip install --upgrade cairn", "cairn"),
        ("pip install\n  'cairnml[postgres]'", "cairnml[postgres]"),
        ("f\"pip install -q -e '.[dev]'\"", ".[dev]"),
    ],
)
def test_the_scan_reads_the_requirement_of_a_hint(text: str, requirement: str) -> None:
    """The hint scanner finds the requirement after `pip install` and its options."""
    match = HINT.search(text)
    assert match is not None and match[2] == requirement


def test_a_missing_extra_names_cairn_mlops() -> None:
    """A missing optional package's error tells the user to install the cairn-mlops extra."""
    with pytest.raises(MissingDependencyError) as caught:
        import_optional("cairn_no_such_module_for_tests", "s3", "reading s3:// paths")
    assert "pip install 'cairn-mlops[s3]'" in str(caught.value)
