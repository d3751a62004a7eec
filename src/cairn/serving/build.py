"""``build_context``: a Docker build context that serves one model version.

The folder holds the model exported with its digests (``model/``), the packages pinned
(``requirements.txt``: the model's recorded requirements, the server's and cairn's own at the
versions installed here), cairn itself as a wheel (``wheels/``), an entrypoint (``serve.py``),
a ``Dockerfile``, a ``.dockerignore`` and a ``README.md``. It is written beside its final place
and renamed into it at the end, so a failure leaves nothing behind.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path
from urllib.parse import unquote, urlparse

from cairn import registry
from cairn.core.checks import check_int, check_path
from cairn.core.destination import named_folder
from cairn.core.errors import CairnError, InvalidInputError
from cairn.core.logging import logger
from cairn.core.uris import ModelUri, parse_model_uri
from cairn.registry.model_version import DESCRIPTOR

MODEL_DIR = "model"
WHEEL_DIR = "wheels"
# The model server's packages; the names as pip takes them (with extras).
SERVING_STACK = ("fastapi", "uvicorn[standard]", "prometheus-client", "orjson")
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?"
    r"\s*(?P<spec>[^;]*?)\s*(?:;\s*(?P<marker>.*?))?\s*$"
)

SERVE_PY = '''\
"""Start cairn's model server for the model beside this file (the image's entrypoint).

PORT (default 8000) and HOST (default 0.0.0.0) come from the environment.
"""

import os
import sys
from pathlib import Path

model = Path(__file__).resolve().parent / "model"
name = {name}  # the route: /v1/models/NAME/predict (and /predict)
host = os.environ.get("HOST", "0.0.0.0")
port = os.environ.get("PORT", "{port}")
serve = [sys.executable, "-m", "cairn", "serve", "--model", name + "=" + str(model)]
command = [*serve, "--host", host, "--port", port]
os.execvp(command[0], command)  # the server replaces this process: signals reach it directly
'''

DOCKERIGNORE = """\
# The image needs only requirements.txt, wheels/, model/ and serve.py (not the prediction
# log a local `python serve.py` writes in .cairn/).
.cairn
.git
.gitignore
.venv
venv
README.md
__pycache__
*.pyc
"""


@dataclass(frozen=True)
class BuildContext:
    """A Docker build context written by ``build_context``."""

    path: Path
    model_uri: str  # exactly what was packed: models:/name/N (or the runs:/ URI given)
    model_name: str | None  # None for a run's model
    model_version: int | None
    # distribution name -> its line in requirements.txt (e.g. "scikit-learn==1.5.2")
    requirements: dict[str, str]
    wheel: str  # cairn's wheel, under wheels/
    port: int
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def route(self) -> str:
        """The name the image serves the model under: its registered name (``model`` for a
        run's model, which has none)."""
        return self.model_name or MODEL_DIR

    @property
    def image(self) -> str:
        """A suggested image tag: the model's name and version (``churn:3``)."""
        name = re.sub(r"[^a-z0-9._-]+", "-", (self.model_name or "model").lower()).strip(".-_")
        return f"{name or 'model'}:{self.model_version or 'latest'}"


@dataclass
class _Requirement:
    name: str
    extras: set[str]
    spec: str
    marker: str

    def line(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        marker = f"; {self.marker}" if self.marker else ""
        return f"{self.name}{extras}{self.spec}{marker}"


def build_context(model_uri: str, output: str | Path, *, port: int = 8000) -> BuildContext:
    """Write a Docker build context serving ``model_uri`` into the new (or empty) folder
    ``output``: an alias is resolved to its version number first, so the image serves exactly
    the version it was built from."""
    check_path(output, "output")
    check_int(port, "port")
    if not 1 <= port <= 65535:
        raise InvalidInputError(f"--port {port} is not a TCP port; give one from 1 to 65535")
    target = named_folder(Path(output).expanduser().absolute())  # a link: the folder it names
    _check_output(target)
    uri, name, number, stored = _resolve(model_uri)
    created = _make_parents(target.parent)
    staging = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        staging.mkdir()
        registry.export_model(uri, staging / MODEL_DIR)
        if stored is None:  # a run's model: its descriptor holds what it was saved with
            stored = _descriptor_requirements(staging / MODEL_DIR)
        wheel = _cairn_wheel(staging / WHEEL_DIR)
        requirements, notes = _requirements(stored, wheel)
        warnings = notes
        if not stored:
            warnings = [
                f"{uri} recorded no package requirements when it was logged: requirements.txt "
                "holds only the server's and cairn's; add the packages the model needs to it "
                "before building the image",
                *notes,
            ]
        built = BuildContext(
            path=target,
            model_uri=uri,
            model_name=name,
            model_version=number,
            requirements={r.name: r.line() for r in requirements},
            wheel=wheel.name,
            port=port,
            warnings=tuple(warnings),
        )
        (staging / "requirements.txt").write_text(_requirements_txt(built, stored, requirements))
        (staging / "serve.py").write_text(_serve_py(built))
        (staging / "Dockerfile").write_text(_dockerfile(built))
        (staging / ".dockerignore").write_text(DOCKERIGNORE)
        (staging / "README.md").write_text(_readme(built))
        _check_output(target)  # again: something may have been written there meanwhile
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    for warning in built.warnings:
        logger.warning("%s", warning)
    return built


def _check_output(target: Path) -> None:
    if target.is_dir():
        if any(target.iterdir()):
            raise InvalidInputError(
                f"{target} exists and is not empty; give a new or empty folder to --output"
            )
    elif target.exists():
        raise InvalidInputError(f"{target} exists and is not a folder; give a new folder")


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, deepest first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"cannot create the folder {folder}: {exc}") from None
    return missing


def _resolve(model_uri: str) -> tuple[str, str | None, int | None, dict[str, str] | None]:
    """(exact URI, model name, version number, stored requirements) of ``model_uri``; a run's
    model has no name or number, and its requirements are read after it is exported."""
    parsed = parse_model_uri(model_uri)
    if not isinstance(parsed, ModelUri):
        return str(parsed), None, None, None
    version = registry.get_model_version(str(parsed))
    return version.uri, version.name, version.version, dict(version.requirements)


def _descriptor_requirements(model: Path) -> dict[str, str]:
    try:
        found = json.loads((model / DESCRIPTOR).read_text()).get("requirements") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in dict(found).items()}


def _cairn_wheel(dest: Path) -> Path:
    """cairn itself as a wheel in ``dest``: built from its source folder, or copied from the
    wheel file it was installed from."""
    dest.mkdir(parents=True, exist_ok=True)
    source = _source_root()
    if source is not None:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"]
        command += ["--wheel-dir", str(dest), str(source)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise CairnError(f"cannot run pip to build cairn's wheel: {exc}") from None
        wheels = sorted(dest.glob("cairn_mlops-*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            output = (done.stderr or done.stdout).strip()[-2000:]
            raise CairnError(
                f"building cairn's wheel from {source} failed (pip exit {done.returncode}):\n"
                f"{output}\nThe image installs cairn from that wheel; fix the build (try: "
                f"{sys.executable} -m pip wheel --no-deps {source}) and run cairn build again"
            )
        return wheels[0]
    installed = _installed_wheel()
    if installed is None:
        raise CairnError(
            "cairn build puts cairn itself into the image as a wheel, but this cairn was "
            "installed neither from its source folder (no pyproject.toml found above the "
            "package) nor from a wheel file that still exists; install cairn from its source "
            "(pip install -e <folder>) or from a wheel file, then run cairn build again"
        )
    return Path(shutil.copy2(installed, dest / installed.name))


def _source_root() -> Path | None:
    """The folder of cairn's pyproject.toml (src layout: src/cairn/ → two levels up)."""
    root = Path(__file__).resolve().parents[3]
    pyproject = root / "pyproject.toml"
    try:
        text = pyproject.read_text()
    except OSError:
        return None
    return root if re.search(r'(?m)^name\s*=\s*"cairn-mlops"', text) else None


def _installed_wheel() -> Path | None:
    """The wheel file cairn was installed from, where pip recorded it and it still exists."""
    try:
        recorded = importlib.metadata.distribution("cairn-mlops").read_text("direct_url.json")
        url = str(json.loads(recorded or "{}").get("url", ""))
    except (importlib.metadata.PackageNotFoundError, ValueError, AttributeError):
        return None
    parsed = urlparse(url)
    path = Path(unquote(parsed.path))
    if parsed.scheme == "file" and path.suffix == ".whl" and path.is_file():
        return path
    return None


def _requirements(stored: dict[str, str], wheel: Path) -> tuple[list[_Requirement], list[str]]:
    """The pinned requirements in order (the model's, the server's, cairn's), and notes on
    those that could not be pinned."""
    merged: dict[str, _Requirement] = {}
    notes: list[str] = []

    def add(requirement: _Requirement) -> None:
        key = _normalize(requirement.name)
        if key in merged:
            merged[key].extras |= requirement.extras
        else:
            merged[key] = requirement

    for name, version in stored.items():
        add(_Requirement(name, set(), f"=={version}", ""))
    declared = _declared(wheel)
    serve_extra = {
        _normalize(r.name): r for r in declared if re.search(r"extra\s*==\s*.serve.", r.marker)
    }
    for text in SERVING_STACK:
        requirement = _parse(text)
        installed = _installed_version(requirement.name)
        if installed is not None:
            requirement.spec = f"=={installed}"
        else:
            known = serve_extra.get(_normalize(requirement.name))
            requirement.spec = known.spec if known else ""
            notes.append(
                f"{requirement.name} is not installed here, so requirements.txt does not pin it "
                f"({requirement.line()}); pip install 'cairn-mlops[serve]' before cairn build "
                "to pin it"
            )
        add(requirement)
    for requirement in declared:
        if "extra" in requirement.marker:
            continue
        installed = _installed_version(requirement.name)
        if installed is not None and not requirement.marker:
            requirement.spec = f"=={installed}"
        add(requirement)
    return list(merged.values()), notes


def _declared(wheel: Path) -> list[_Requirement]:
    """cairn's declared dependencies: the installed metadata's and the wheel's (which is what
    the image installs, and newer than an editable install's metadata)."""
    texts = list(importlib.metadata.requires("cairn-mlops") or [])
    try:
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = Parser().parsestr(archive.read(name).decode())
        texts += metadata.get_all("Requires-Dist") or []
    except (OSError, zipfile.BadZipFile, StopIteration, UnicodeDecodeError) as exc:
        raise CairnError(f"cannot read the dependencies of {wheel.name}: {exc}") from None
    found: dict[tuple[str, str], _Requirement] = {}
    for text in texts:
        requirement = _parse(text)
        found.setdefault((_normalize(requirement.name), requirement.marker), requirement)
    return list(found.values())


def _parse(text: str) -> _Requirement:
    match = _REQUIREMENT.match(text)
    if match is None:
        raise CairnError(f"cannot read the requirement {text!r} of cairn's metadata")
    extras = {e.strip() for e in (match["extras"] or "").split(",") if e.strip()}
    return _Requirement(
        match["name"], extras, match["spec"].replace(" ", ""), match["marker"] or ""
    )


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _requirements_txt(
    built: BuildContext, stored: dict[str, str], requirements: list[_Requirement]
) -> str:
    model = [r for r in requirements if r.name in stored]
    others = [r for r in requirements if r.name not in stored]
    lines = [
        f"# The packages that serve {built.model_uri}, written by `cairn build`.",
        "# cairn itself is installed after them from wheels/ with --no-deps (see the Dockerfile).",
        "",
        "# the model's, as recorded when it was logged",
        *([r.line() for r in model] or ["# (none were recorded: add them here)"]),
        "",
        "# the server's and cairn's, at the versions installed where the context was built",
        *(r.line() for r in others),
    ]
    return "\n".join(lines) + "\n"


def _python_image() -> str:
    # The pins were resolved, and the model saved, under this Python: the image runs the same.
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def _dockerfile(built: BuildContext) -> str:
    wheel = f"{WHEEL_DIR}/{built.wheel}"
    probe = (
        "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' "
        "+ os.environ.get('PORT', '8000') + '/healthz', timeout=4)"
    )
    return f"""\
# Serves {built.model_uri} with cairn; written by `cairn build` (see README.md).
FROM {_python_image()}

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The server runs as a user without privileges; it owns /app, where the server keeps its
# prediction log (.cairn/), but not the model's files.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin cairn \\
    && install -d -o cairn -g cairn /app /app/.cairn
WORKDIR /app

# The packages first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY {wheel} /tmp/{wheel}
RUN pip install --no-cache-dir --no-deps /tmp/{wheel} && rm -rf /tmp/{WHEEL_DIR}

COPY {MODEL_DIR}/ ./{MODEL_DIR}/
COPY serve.py ./

ENV CAIRN_LOG_FORMAT=json PORT={built.port}
EXPOSE {built.port}
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \\
    CMD python -c "{probe}"
USER cairn
CMD ["python", "serve.py"]
"""


def _serve_py(built: BuildContext) -> str:
    """The entrypoint, serving the model under its registered name (``route``)."""
    return SERVE_PY.replace("{port}", str(built.port)).replace("{name}", repr(built.route))


def _readme(built: BuildContext) -> str:
    port = built.port
    warnings = "".join(f"- {w}\n" for w in built.warnings)
    return f"""\
# {built.model_uri} in a container

Written by `cairn build`. From this folder:

    docker build -t {built.image} .
    docker run --rm -p {port}:{port} {built.image}
    python -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/healthz').read())"

Another port: `docker run --rm -e PORT=9000 -p 9000:9000 {built.image}`. The server logs JSON
lines (`CAIRN_LOG_FORMAT=json`) and runs as the user `cairn`; Docker checks `/healthz`. It
keeps its prediction log in `/app/.cairn`: add `-v {built.image.split(":")[0]}-log:/app/.cairn`
to keep it when the container goes.

## What is here

- `Dockerfile`: {_python_image()}, the packages, cairn, the model; `python serve.py` starts it.
- `requirements.txt`: every package pinned; the model's as recorded when it was logged.
- `{WHEEL_DIR}/{built.wheel}`: cairn itself, installed with `--no-deps` after the packages.
- `{MODEL_DIR}/`: the model's files with their digests (`cairn-files.json`), checked when it loads.
- `serve.py`: runs `python -m cairn serve --model {built.route}={MODEL_DIR} --host 0.0.0.0 --port
  $PORT`: the model answers at `/v1/models/{built.route}/predict` (and `/predict`).
""" + (f"\n## Warnings\n\n{warnings}" if warnings else "")
