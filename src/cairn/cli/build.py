"""``cairn build``: a Docker build context that serves a model version."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from cairn.cli._render import console, fail
from cairn.core.errors import CairnError
from cairn.serving.build import build_context


def build_command(
    model_uri: Annotated[
        str,
        typer.Argument(
            help="the model: name@alias, name/3, models:/name@alias or runs:/<id>/<path>"
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="a new or empty folder to write the build context to"),
    ],
    port: Annotated[
        int, typer.Option("--port", help="the port the server listens on in the container")
    ] = 8000,
) -> None:
    """Write a Docker build context (Dockerfile, pinned requirements, the model) that serves a
    model version."""
    try:
        built = build_context(model_uri, output, port=port)
    except CairnError as exc:
        fail(exc)
    console.print(
        Text(
            f"wrote the build context of {built.model_uri} to {built.path} "
            f"({len(built.requirements)} pinned requirements, {built.wheel})"
        )
    )
    if built.warnings:
        console.print(Text(f"{len(built.warnings)} warning(s): see README.md there"))
    folder = shlex.quote(str(built.path))
    console.print(
        Text(
            f"  docker build -t {built.image} {folder}\n"
            f"  docker run --rm -p {port}:{port} {built.image}"
        )
    )
