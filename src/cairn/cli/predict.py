"""``cairn predict``: score a table with a model, chunk by chunk, into Parquet or a dataset."""

from __future__ import annotations

from typing import Annotated

import typer

from cairn.cli._interrupt import interrupted
from cairn.cli._render import console
from cairn.serving.batch import score


def predict_command(
    model_uri: Annotated[
        str,
        typer.Argument(help="models:/name@alias, models:/name/3 or runs:/<run id>/<path>"),
    ],
    source: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="data:NAME[@vN], or a Parquet or CSV file, or a folder of them",
            show_default=False,
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="a .parquet file path (replaced if it exists), or data:NAME (its next version)",
            show_default=False,
        ),
    ],
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", help="rows scored at a time (bounds the memory used)")
    ] = 100_000,
    proba: Annotated[
        bool, typer.Option("--proba", help="add one proba_<class> column per class")
    ] = False,
) -> None:
    """Score a table larger than memory with a model: its columns plus a prediction column.

    The scoring is a run: it records the model version and the input dataset version it read
    and the dataset version it wrote. A failure leaves nothing at the output.
    """
    try:
        result = score(model_uri, source, output, chunk_rows=chunk_rows, proba=proba)
    except KeyboardInterrupt:
        # score writes to a temporary name and renames it whole (or commits the dataset
        # version last), so an interruption leaves nothing at the output.
        interrupted(f"nothing was written to {output}; the scoring run ended killed")
    chunks = f"{result.chunks} chunk" + ("" if result.chunks == 1 else "s")
    console.print(
        f"scored {result.rows:,} rows in {chunks} with {result.model_uri} in "
        f"{result.seconds:.1f} s ({result.rows_per_s:,.0f} rows/s) into {result.output}; "
        f"run {result.run_id}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
