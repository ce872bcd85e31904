"""imsim.errors: bounded values in messages, one-line UserErrors, about() naming the file once."""
from __future__ import annotations

import pytest

from imsim.errors import MAX_MESSAGE, MAX_SHOWN, UserError, about, bad_value, os_error, shown


def test_shown_bounds_every_kind_of_value():
    assert shown("abc") == "'abc'"
    assert len(shown("x" * 10 ** 6)) <= MAX_SHOWN
    assert shown(10 ** 5000) == "<16610-bit integer>"
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    assert len(shown(deep)) <= MAX_SHOWN
    assert len(shown(list(range(10 ** 5)))) <= MAX_SHOWN
    assert "\n" not in shown("a\nb" * 100)


def test_shown_survives_a_broken_repr():
    class Broken:
        def __repr__(self):
            raise RuntimeError("no")
    assert shown(Broken()).startswith("<Broken")


def test_user_error_is_one_bounded_line():
    err = UserError("a\n  b\tc " + "x" * 5000)
    assert "\n" not in str(err) and str(err).startswith("a b c x")
    assert len(str(err)) == MAX_MESSAGE


def test_bad_value_names_source_field_value_and_what_is_allowed():
    assert str(bad_value("hw.yaml", "rows", 0, "an integer in 1..4096")) == "hw.yaml: rows = 0: an integer in 1..4096"
    assert str(bad_value(None, "rows", "x" * 500, "an integer")).startswith("rows = 'xxx")


def test_os_error_names_the_path():
    assert str(os_error("out/a.json", OSError(28, "No space left on device"), "write")) == \
        "out/a.json: cannot write: No space left on device"


def test_about_prefixes_once():
    with pytest.raises(UserError, match=r"^t.npz: record 3 \(g\): array 'A' is bad$"):
        with about("t.npz: record 3 (g)"):
            raise UserError("t.npz: array 'A' is bad")  # the file is named once
    with pytest.raises(UserError, match=r"^t.npz: record 3 \(g\): A: holds NaN$"):
        with about("t.npz: record 3 (g)"):
            raise UserError("A: holds NaN")
    with pytest.raises(UserError, match=r"^t.npz: already named$"):
        with about("t.npz"):
            raise UserError("t.npz: already named")
