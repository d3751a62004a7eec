"""A step's cache key: what its result depends on, as BLAKE3 digests.

Four parts, kept apart so ``cairn pipeline status`` can say which one changed:

- ``code``: the step function's source and the source of the project's own functions and
  classes it reaches (by name, through globals, closures and project modules' attributes),
  transitively; a function without source counts by its bytecode.
- ``params``: the step's arguments that are plain values, canonically encoded.
- ``inputs``: the digests of the upstream outputs it takes, and the content of every file or
  folder passed as a ``pathlib.Path``.
- ``packages``: the versions of the installed distributions its code reaches, and Python's.

Catalog datasets the step read are not part of the key (they are known only once it ran):
a cached result records them and holds only while each still resolves to the same version.
"""

from __future__ import annotations

import functools
import inspect
import json
import marshal
import math
import os
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.core.errors import InvalidInputError
from cairn.core.hashing import StreamingHasher, hash_bytes

PARTS = ("code", "params", "inputs", "packages")
REASONS = {
    "code": "code changed",
    "params": "params changed",
    "inputs": "input data changed",
    "packages": "packages changed",
}


@dataclass(frozen=True)
class StepKey:
    """A step's cache key and the digests it is made of."""

    key: str
    parts: dict[str, str]

    @classmethod
    def of(cls, parts: dict[str, str]) -> StepKey:
        """The key over ``parts``."""
        return cls(_digest(json.dumps(parts, sort_keys=True).encode()), parts)


def _digest(data: bytes) -> str:
    return hash_bytes(data, parallel=False).partition(":")[2]


# ---------------------------------------------------------------------------------- code


def code_digest(fn: Callable[..., Any], root: Path) -> str:
    """The digest of ``fn``'s source and of every project function it reaches."""
    return _digest(json.dumps(_walk(fn, str(root.resolve()))[0]).encode())


@functools.lru_cache(maxsize=1024)
def _walk(fn: Callable[..., Any], root: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """One walk of what ``fn`` reaches: the sources of the project code (functions, classes,
    the module constants they read, project modules imported inside them), and the top-level
    names of every other module used, whose distributions' versions count instead."""
    seen: set[int] = set()
    sources: list[str] = []
    tops: set[str] = set()
    todo: list[Any] = [fn]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        sources.append(_source_of(obj))
        sources.extend(_constants(obj))
        for name in _imported(obj):  # a project module imported inside the function: whole
            text = _project_module_source(name, root)
            if text is not None:
                sources.append(f"import {name}\n{text}")
            else:
                tops.add(name.partition(".")[0])
        for found in _reached(obj):
            if _is_project(found, root):
                if id(found) not in seen:
                    todo.append(found)
                continue
            module = found.__name__ if isinstance(found, types.ModuleType) else None
            module = module or getattr(found, "__module__", None)
            if isinstance(module, str) and module:
                tops.add(module.partition(".")[0])
    return tuple(sorted(set(sources))), frozenset(tops)


def _source_of(obj: Any) -> str:
    name = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
    try:
        return name + "\n" + textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        if code is not None:
            return name + "\n" + marshal.dumps(code).hex()
        return name


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _constants(obj: Any) -> list[str]:
    """``module.NAME = value`` for each plain-data global ``obj``'s code names: a module
    constant edited (``RATE = 0.2``) changes what the step computes as its source would."""
    fn = inspect.unwrap(obj) if callable(obj) else obj
    code = getattr(fn, "__code__", None)
    globals_ = getattr(fn, "__globals__", None)
    if not isinstance(code, types.CodeType) or not isinstance(globals_, dict):
        return []
    names: set[str] = set()
    for each in _code_objects(code):
        names.update(each.co_names)
    found = []
    for name in sorted(names):
        text = _plain_text(globals_[name]) if name in globals_ else None
        if text is not None:
            found.append(f"{getattr(fn, '__module__', '?')}.{name} = {text}")
    return found


def _plain_text(value: Any, depth: int = 0) -> str | None:
    """``value`` as text when it is plain data (numbers, text, and containers of them)."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return repr(value)
    if depth >= 5 or not isinstance(value, (list, tuple, set, frozenset, dict)):
        return None
    if len(value) > 10_000:
        return None
    if isinstance(value, dict):
        pairs = [(_plain_text(k, depth + 1), _plain_text(v, depth + 1)) for k, v in value.items()]
        if any(k is None or v is None for k, v in pairs):
            return None
        return "{" + ", ".join(sorted(f"{k}: {v}" for k, v in pairs)) + "}"
    items = [_plain_text(v, depth + 1) for v in value]
    if any(item is None for item in items):
        return None
    texts = [str(item) for item in items]
    if isinstance(value, (set, frozenset)):
        texts.sort()
    return f"{type(value).__name__}({', '.join(texts)})"


def _imported(obj: Any) -> set[str]:
    """The modules ``obj``'s code imports itself (``import x`` inside a function: not among
    its globals, and maybe not imported yet here); relative imports are left out."""
    import dis

    fn = inspect.unwrap(obj) if callable(obj) else obj
    if isinstance(fn, type):
        functions = [
            v.__func__ if isinstance(v, (staticmethod, classmethod)) else v
            for v in vars(fn).values()
        ]
        return set().union(*(_imported(f) for f in functions if inspect.isfunction(f)))
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return set()
    names: set[str] = set()
    for each in _code_objects(code):
        instructions = list(dis.get_instructions(each))
        for index, ins in enumerate(instructions):
            if ins.opname != "IMPORT_NAME" or not ins.argval:
                continue
            level = instructions[index - 2].argval if index >= 2 else 0
            if not (isinstance(level, int) and level > 0):
                names.add(str(ins.argval))
    return names


def _project_module_source(name: str, root: str) -> str | None:
    """The source of module ``name`` when it is the project's own (found, not imported)."""
    import importlib.util

    top = name.partition(".")[0]
    if top in sys.stdlib_module_names:
        return None
    try:
        spec = importlib.util.find_spec(top)
        if spec is None or not spec.origin or not _under_project(spec.origin, root):
            return None
        if name != top:  # finding a submodule imports its (project) package
            spec = importlib.util.find_spec(name)
        return None if spec is None or not spec.origin else Path(spec.origin).read_text()
    except (ImportError, ValueError, OSError, UnicodeDecodeError):
        return None


def _reached(obj: Any) -> list[Any]:
    """Objects ``obj``'s code names: globals, closure cells and attributes of modules."""
    fn = inspect.unwrap(obj) if callable(obj) else obj
    if isinstance(fn, type):
        found: list[Any] = []
        for value in vars(fn).values():
            target = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if inspect.isfunction(target):
                found.extend(_reached(target))
        return found
    inner = getattr(fn, "fn", None)  # a Step or a Pipeline: its function
    if inner is not None and callable(inner) and not inspect.isfunction(fn):
        return [inner]
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    names: set[str] = set()
    for each in _code_objects(code):
        names.update(each.co_names)
    globals_ = getattr(fn, "__globals__", {})
    found = [globals_[n] for n in names if n in globals_]
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            found.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    for module in [f for f in found if isinstance(f, types.ModuleType)]:
        found.extend(getattr(module, n) for n in names if hasattr(module, n))
    # An instance (SCALER = Scaler() at module level) runs its class's code.
    found.extend(
        type(f)
        for f in list(found)
        if not isinstance(
            f, (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)
        )
    )
    return found


def _is_project(obj: Any, root: str) -> bool:
    """Whether ``obj`` is a function or class (or a module) of the project's own code."""
    if isinstance(obj, types.ModuleType):
        return False  # a module counts through the functions used from it
    if not (inspect.isfunction(obj) or inspect.isclass(obj) or hasattr(obj, "fn")):
        return False
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    path = getattr(module, "__file__", None)
    return path is not None and _under_project(path, root)


@functools.lru_cache(maxsize=4096)
def _under_project(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    if not real.startswith(root + os.sep):
        return False
    return not any(real.startswith(p + os.sep) for p in _installed_prefixes())


@functools.lru_cache(maxsize=1)
def _installed_prefixes() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib")}
    return tuple(os.path.realpath(p) for p in paths if p)


# ------------------------------------------------------------------------------ packages


def packages_digest(fn: Callable[..., Any], root: Path) -> str:
    """The digest of the versions of the distributions ``fn``'s code reaches."""
    return _digest(json.dumps(package_versions(fn, root), sort_keys=True).encode())


def package_versions(fn: Callable[..., Any], root: Path) -> dict[str, str]:
    """``{distribution: version}`` of what ``fn`` (and the project code it reaches) uses,
    with ``python`` for the interpreter."""
    tops = _walk(fn, str(root.resolve()))[1]
    versions = {"python": sys.version.split()[0]}
    for top in sorted(tops):
        if top in sys.stdlib_module_names or top in ("builtins", "__main__"):
            continue
        for dist in _distributions().get(top, ()):
            versions[dist] = _version(dist)
    return versions


@functools.lru_cache(maxsize=1)
def _distributions() -> Mapping[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


@functools.lru_cache(maxsize=1024)
def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


# -------------------------------------------------------------------------------- values


class Unhashable(InvalidInputError):
    """A step argument that cannot be turned into a stable cache key."""


def encode_value(value: Any, paths: list[Path], depth: int = 0) -> Any:
    """``value`` as JSON-ready data that is equal exactly when the values are; ``Path``
    arguments are listed in ``paths`` (their content counts among the inputs)."""
    if depth > 100:
        raise Unhashable("a step argument nests deeper than 100 levels")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):  # hex past Python's limit on decimal digits (4300)
        return {"int": str(value)} if value.bit_length() < 14_000 else {"int": hex(value)}
    if isinstance(value, float):
        return {"float": value.hex() if math.isfinite(value) else repr(value)}
    if isinstance(value, Path):
        paths.append(value)
        return {"path": str(value)}
    if isinstance(value, (list, tuple)):
        return {type(value).__name__: [encode_value(v, paths, depth + 1) for v in value]}
    if isinstance(value, (set, frozenset)):
        items = [encode_value(v, paths, depth + 1) for v in value]
        return {"set": sorted(items, key=lambda v: json.dumps(v, sort_keys=True))}
    if isinstance(value, dict):
        items = [
            [encode_value(k, paths, depth + 1), encode_value(v, paths, depth + 1)]
            for k, v in value.items()
        ]
        return {"dict": sorted(items, key=lambda kv: json.dumps(kv[0], sort_keys=True))}
    if isinstance(value, bytes):
        return {"bytes": _digest(value)}
    import cloudpickle

    try:
        data = cloudpickle.dumps(value)
    except Exception as exc:
        raise Unhashable(
            f"a step argument of type {type(value).__name__} cannot be pickled ({exc}); pass "
            "plain values, or compute it in a step"
        ) from None
    return {"pickle": type(value).__qualname__, "digest": _digest(data)}


def path_digest(path: Path) -> str:
    """The digest of a file's bytes, or of a folder's relative names and file bytes."""
    if not path.exists():
        raise InvalidInputError(
            f"step input {path} does not exist; create it or pass the right path"
        )
    hasher = StreamingHasher()
    if path.is_file():
        _hash_file(hasher, path)
        return hasher.digest
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        hasher.update(file.relative_to(path).as_posix().encode() + b"\0")
        _hash_file(hasher, file)
    return hasher.digest


def _hash_file(hasher: StreamingHasher, path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            hasher.update(chunk)
    hasher.update(b"\0")


def params_and_inputs(encoded: Any, paths: list[Path], inputs: list[str]) -> tuple[str, str]:
    """The ``params`` and ``inputs`` digests of a step call: its encoded plain arguments, and
    the upstream output digests it takes plus its ``Path`` arguments' content."""
    params = _digest(json.dumps(encoded, sort_keys=True).encode())
    contents = [path_digest(p) for p in paths]
    return params, _digest(json.dumps([inputs, contents]).encode())


__all__ = [
    "PARTS",
    "REASONS",
    "StepKey",
    "Unhashable",
    "code_digest",
    "encode_value",
    "package_versions",
    "packages_digest",
    "params_and_inputs",
    "path_digest",
]
