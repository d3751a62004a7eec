"""The web UI: ``cairn ui`` on one machine, and the pages ``cairn server`` serves to a team."""

from __future__ import annotations

from cairn.ui.app import create_app

__all__ = ["create_app"]
