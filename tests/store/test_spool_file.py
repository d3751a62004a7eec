"""The offline spool on disk: lines replayed in order once, a cut last line never sent, a
damaged line set aside without stopping the others."""

from __future__ import annotations

import json
from pathlib import Path

from cairn.store.spool import Spool


def test_lines_are_replayed_once_in_order(tmp_path: Path) -> None:
    """Appended requests come back in order, and a second replay sends nothing."""
    spool = Spool(tmp_path / "spool")
    for number in range(5):
        spool.append({"n": number})
    sent: list[int] = []
    assert spool.replay(lambda entry: sent.append(entry["n"])) == 5
    assert sent == [0, 1, 2, 3, 4]
    assert spool.replay(lambda entry: sent.append(entry["n"])) == 0
    assert spool.pending() == 0


def test_a_damaged_line_is_set_aside_and_the_rest_sent(tmp_path: Path) -> None:
    """A whole line that is not JSON goes to rejected.jsonl; a cut last line is not sent."""
    folder = tmp_path / "spool"
    folder.mkdir()
    (folder / "1-2-abc.jsonl").write_text('{"n": 0}\n{"n": garbage\n{"n": 2}\n{"n": 3')
    sent: list[int] = []
    Spool(folder).replay(lambda entry: sent.append(entry["n"]))
    assert sent == [0, 2]
    rejected = [json.loads(line) for line in (folder / "rejected.jsonl").read_text().splitlines()]
    assert rejected[0]["line"] == '{"n": garbage\n'
    assert Spool(folder).pending() == 0  # the cut line is no request: nothing is waiting
