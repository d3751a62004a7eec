"""The zero-config logger: ``from cairn import logger; logger.info("...")``.

``logger`` is the stdlib logger named ``cairn``: records propagate to the root logger, so an
application's own logging configuration, pytest's caplog and uvicorn see them as they see any
library's. Only while the application has configured no handler at all does a fallback handler
print them: rich on a terminal, JSON lines with ``CAIRN_LOG_FORMAT=json``, plain text otherwise.
The format is chosen on the first record, so ``import cairn`` stays light.
"""

from __future__ import annotations

import logging
import sys
import threading

logger = logging.getLogger("cairn")


class FallbackHandler(logging.Handler):
    """Prints records only while neither the root logger nor cairn's has another handler."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self._inner: logging.Handler | None = None
        self._inner_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if logging.getLogger().handlers or len(logger.handlers) > 1:
            return
        self._handler().handle(record)

    def _handler(self) -> logging.Handler:
        with self._inner_lock:
            if self._inner is None:
                self._inner = _make_handler()
            return self._inner


def _make_handler() -> logging.Handler:
    from cairn.core.errors import CairnError
    from cairn.core.settings import get_settings

    try:
        fmt = get_settings().log_format
    except CairnError:
        fmt = "auto"
    if fmt == "auto":
        fmt = "rich" if sys.stderr.isatty() else "plain"
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
        return handler
    if fmt == "rich":
        from rich.console import Console
        from rich.logging import RichHandler

        return RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=True)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def install_fallback() -> None:
    """Attach the fallback handler once and default cairn's level to INFO."""
    if not any(isinstance(h, FallbackHandler) for h in logger.handlers):
        logger.addHandler(FallbackHandler())
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


install_fallback()
