"""imsim.workers: the set-up shared by imsim's process pools."""
from __future__ import annotations

import gc

from imsim.workers import default_workers, frozen_heap


def test_frozen_heap_freezes_the_parents_objects_only_inside_the_block():
    before = gc.get_freeze_count()
    kept = [object() for _ in range(10)]
    with frozen_heap():
        assert gc.get_freeze_count() >= before + len(kept)
    assert gc.get_freeze_count() == 0
    del kept


def test_frozen_heap_unfreezes_after_an_error():
    try:
        with frozen_heap():
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.get_freeze_count() == 0


def test_default_workers_is_at_least_one():
    assert default_workers() >= 1
