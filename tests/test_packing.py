"""Tests for imsim.packing: dense any-width bit packing."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from imsim.errors import UserError
from imsim.packing import element_at, pack, packed_bytes, unpack


def reference_pack(codes: np.ndarray, width: int) -> np.ndarray:
    """Independent reference: one Python integer, element i at bit i*width, little-endian bytes."""
    big = 0
    for i, c in enumerate(codes.reshape(-1).tolist()):
        big |= int(c) << (i * width)
    n = (codes.size * width + 7) // 8
    return np.frombuffer(big.to_bytes(n, "little"), dtype=np.uint8)


@settings(max_examples=120, deadline=None)
@given(width=st.integers(1, 16), count=st.integers(0, 300), seed=st.integers(0, 2**32 - 1))
def test_round_trip_and_layout(width: int, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 1 << width, size=count, dtype=np.int64)
    buf = pack(codes, width)
    assert buf.dtype == np.uint8 and buf.ndim == 1
    assert buf.size == packed_bytes(count, width) == -(-count * width // 8)
    np.testing.assert_array_equal(buf, reference_pack(codes, width))
    back = unpack(buf, width, count)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, codes)
    if count:
        np.testing.assert_array_equal(element_at(buf, width, np.arange(count)), codes)
        i = int(rng.integers(0, count))
        assert element_at(buf, width, i) == codes[i]


@pytest.mark.parametrize("width", range(3, 17))
def test_identity_random_tensors_widths_3_to_16(width: int) -> None:
    rng = np.random.default_rng(width)
    codes = rng.integers(0, 1 << width, size=(17, 23))
    buf = pack(codes, width)
    assert buf.size == (17 * 23 * width + 7) // 8
    np.testing.assert_array_equal(unpack(buf, width, codes.size).reshape(codes.shape), codes)


def test_known_layout_lsb_first() -> None:
    # 1 = 001, 2 = 010, 3 = 011 at bit offsets 0, 3, 6: byte0 = 0b11010001, byte1 = 0
    np.testing.assert_array_equal(pack(np.array([1, 2, 3]), 3), np.array([0b11010001, 0], np.uint8))
    codes = np.array([0x1234, 0xBEEF], dtype=np.uint16)
    np.testing.assert_array_equal(pack(codes, 16), codes.astype("<u2").view(np.uint8))
    assert packed_bytes(3, 5) == 2 and packed_bytes(8, 5) == 5 and packed_bytes(0, 7) == 0


def test_non_power_of_two_widths_waste_no_bits() -> None:
    for width in (5, 6, 7):
        assert packed_bytes(8, width) == width  # 8 elements of W bits = W bytes exactly
        assert pack(np.full(8, (1 << width) - 1), width).tolist() == [255] * width


def test_element_at_reads_only_its_bytes() -> None:
    codes = np.arange(40) % 32
    buf = pack(codes, 5)
    corrupted = buf.copy()
    corrupted[0] ^= 0xFF  # element 0 and 1 live in byte 0 (bits 0..9 span bytes 0-1)
    assert element_at(corrupted, 5, 20) == codes[20]  # bits 100..104 are in byte 12 only
    assert element_at(corrupted, 5, 0) != codes[0]


@pytest.mark.parametrize("call", [
    lambda: pack(np.array([8]), 3),
    lambda: pack(np.array([-1]), 3),
    lambda: pack(np.array([1.5]), 3),
    lambda: pack(np.array([1]), 0),
    lambda: pack(np.array([1]), 17),
    lambda: unpack(np.zeros(1, np.uint8), 5, 2),
    lambda: unpack(np.zeros(4, np.int32), 5, 2),
    lambda: element_at(np.zeros(2, np.uint8), 5, 3),
    lambda: element_at(np.zeros(2, np.uint8), 5, -1),
    lambda: packed_bytes(-1, 4),
])
def test_user_errors(call) -> None:
    with pytest.raises(UserError):
        call()
