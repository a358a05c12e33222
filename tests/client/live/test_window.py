"""The bounded series behind the live statistics."""

from __future__ import annotations

import pytest

from client.live.window import RecentWindow


def test_a_window_keeps_the_recent_values_and_exact_totals():
    window = RecentWindow(4)
    assert window.percentile(50) is None and len(window) == 0 and window.peak is None
    for value in [9.0, 1.0, 2.0, 3.0, 4.0, 5.0]:
        window.append(value)
    assert window.count == 6 and len(window) == 4 and window.peak == 9.0
    assert window.values().tolist() == [2.0, 3.0, 4.0, 5.0]
    assert window.recent(2).tolist() == [4.0, 5.0] and window.recent(10).tolist() == [2.0, 3.0, 4.0, 5.0]
    assert list(window) == [2.0, 3.0, 4.0, 5.0] and window.percentile(50) == 3.5
    with pytest.raises(ValueError):
        RecentWindow(0)
