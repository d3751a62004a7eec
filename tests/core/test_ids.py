"""Time-sortable ids."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cairn.core.ids import id_time_ms, new_id


@given(st.integers(min_value=0, max_value=2**48 - 1))
def test_ids_carry_their_time(ms: int) -> None:
    """An id encodes its creation time, recoverable exactly."""
    identifier = new_id(ms)
    assert len(identifier) == 26
    assert id_time_ms(identifier) == ms


def test_ids_sort_by_time() -> None:
    """Ids made later sort after ids made earlier, and ids do not repeat."""
    ids = [new_id(1_700_000_000_000 + i) for i in range(100)]
    assert ids == sorted(ids)
    assert len({new_id() for _ in range(1000)}) == 1000
