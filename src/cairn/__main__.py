"""``python -m cairn`` runs the command line."""

from __future__ import annotations

from cairn.cli.main import main

main()
