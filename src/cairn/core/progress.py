"""Progress bars for long work: rich on a terminal, silent elsewhere."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def track(
    items: Iterable[T],
    total: int,
    description: str,
    *,
    min_total: int = 20,
    size: Callable[[T], int] | None = None,
) -> Iterator[T]:
    """Yield ``items``, showing a progress bar on a terminal when there are many; ``size``
    tells how much of ``total`` each item is (default 1: ``total`` counts items)."""
    if total < min_total or not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task, 1 if size is None else size(item))
