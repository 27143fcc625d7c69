from __future__ import annotations

import gc

from relink.kit.heap import freeze_startup_heap


def test_freezing_the_startup_heap_moves_live_objects_out_of_the_collectors_sight() -> None:
    made_at_startup = [object() for _ in range(1_000)]
    assert gc.get_freeze_count() == 0
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() >= len(made_at_startup)
        # A collection of the oldest generation no longer walks the frozen objects.
        assert all(tracked is not made_at_startup for tracked in gc.get_objects(generation=2))
    finally:
        gc.unfreeze()
