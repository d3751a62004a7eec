"""The metadata store: engines, transactions, tables and migrations."""

from __future__ import annotations

from cairn.store.db.session import Database

__all__ = ["Database"]
