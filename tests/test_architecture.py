"""The layering rule and the light import."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "cairn"
HEAVY = ("pandas", "numpy", "sqlalchemy", "fastapi", "pyarrow", "sklearn", "torch", "pydantic")


def test_import_cairn_is_light() -> None:
    """`import cairn` loads none of the heavy libraries (checked with -X importtime)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import cairn"],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert loaded == []


def test_nothing_inside_the_package_imports_the_facade() -> None:
    """No module under src/cairn imports the facade's names (subpackages are fine)."""
    subpackages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    offenders = []
    for path in SRC.rglob("*.py"):
        if path == SRC / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import) and any(a.name == "cairn" for a in node.names):
                offenders.append(str(path.relative_to(SRC)))
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "cairn"
                and {a.name for a in node.names} - subpackages
            ):
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def test_core_and_store_never_import_heavy_libraries() -> None:
    """core/ and store/ mention no pandas, numpy, pyarrow, sklearn, torch, fastapi or dask."""
    pattern = re.compile(
        r"^\s*(import|from)\s+(pandas|numpy|pyarrow|sklearn|torch|fastapi|dask)\b", re.MULTILINE
    )
    offenders = [
        str(path.relative_to(SRC))
        for package in ("core", "store")
        for path in (SRC / package).rglob("*.py")
        if pattern.search(path.read_text())
    ]
    assert offenders == []
