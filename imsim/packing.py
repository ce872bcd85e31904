"""Dense bit-packing of tensors whose elements are 1..16 bits wide (memory footprint).

Layout (see docs/formats.md): the tensor is flattened in C order and written as one bit
stream, element i occupying stream bits [i*W, (i+1)*W), least significant bit first; stream
bit j is bit (j % 8) of byte j // 8 (little-endian bit order within bytes). No padding
between elements, so n elements of width W take exactly ceil(n*W/8) bytes and only the
last byte may hold unused (zero) high bits. Element i is found at bit offset i*W, so it is
read from at most 3 consecutive bytes without decoding its neighbours.
"""
from __future__ import annotations

import numpy as np

from imsim.errors import bad_value

MIN_WIDTH, MAX_WIDTH = 1, 16


def _check_width(width: int) -> int:
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not MIN_WIDTH <= width <= MAX_WIDTH:
        raise bad_value(None, "width", width, f"an element width in bits, integer {MIN_WIDTH}..{MAX_WIDTH}")
    return int(width)


def _check_count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise bad_value(None, "count", count, "a number of elements, integer >= 0")
    return int(count)


def packed_bytes(count: int, width: int) -> int:
    """Bytes needed to store `count` elements of `width` bits densely: ceil(count*width/8)."""
    return (_check_count(count) * _check_width(width) + 7) // 8


def pack(codes: np.ndarray, width: int) -> np.ndarray:
    """Pack unsigned codes (any integer array, each in 0..2^width-1) into a uint8 stream.

    Returns a 1-D uint8 array of `packed_bytes(codes.size, width)` bytes (C order flattening).
    """
    w = _check_width(width)
    c = np.asarray(codes)
    if c.size and not np.issubdtype(c.dtype, np.integer):
        raise bad_value(None, "codes dtype", str(c.dtype), "an integer array")
    flat = c.reshape(-1).astype(np.int64, copy=False)
    if flat.size and (flat.min() < 0 or flat.max() >= (1 << w)):
        bad = flat[(flat < 0) | (flat >= (1 << w))][0]
        raise bad_value(None, "code", int(bad), f"codes of width {w} must be in 0..{(1 << w) - 1}")
    bits = ((flat[:, None] >> np.arange(w, dtype=np.int64)) & 1).astype(np.uint8)
    return np.packbits(bits.reshape(-1), bitorder="little")


def _check_buffer(buf: np.ndarray, need: int) -> np.ndarray:
    b = np.asarray(buf)
    if b.dtype != np.uint8 or b.ndim != 1:
        raise bad_value(None, "buffer", f"{b.dtype}{list(b.shape)}", "a 1-D uint8 array from pack()")
    if b.size < need:
        raise bad_value(None, "buffer size", int(b.size), f"at least {need} bytes are needed")
    return b


def unpack(buf: np.ndarray, width: int, count: int) -> np.ndarray:
    """Inverse of `pack`: the first `count` codes of `width` bits, as a 1-D uint16 array."""
    w, n = _check_width(width), _check_count(count)
    b = _check_buffer(buf, packed_bytes(n, w))
    bits = np.unpackbits(b, count=n * w, bitorder="little").reshape(n, w).astype(np.uint32)
    return (bits << np.arange(w, dtype=np.uint32)).sum(axis=1).astype(np.uint16)


def element_at(buf: np.ndarray, width: int, index) -> np.ndarray | int:
    """Code(s) at element index (int or integer array) read straight from the packed bytes.

    Only the <= 3 bytes holding each element are read. Returns an int for a scalar index,
    else a uint16 array of the index's shape.
    """
    w = _check_width(width)
    idx = np.asarray(index)
    if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0):
        raise bad_value(None, "index", index, "element indices, integers >= 0")
    idx = idx.astype(np.int64)
    b = np.asarray(buf)
    n_max = (b.size * 8) // w
    if idx.size and idx.max() >= n_max:
        raise bad_value(None, "index", int(idx.max()), f"the buffer holds at most {n_max} elements of width {w}")
    b = _check_buffer(b, 0)
    start = idx * w
    byte0 = start >> 3
    word = np.zeros(idx.shape, dtype=np.int64)
    for j in range(3):  # at most 3 bytes per element (offset <= 7, width <= 16)
        pos = byte0 + j
        ok = pos < b.size
        word |= np.where(ok, b[np.minimum(pos, b.size - 1)].astype(np.int64), 0) << (8 * j)
    out = ((word >> (start & 7)) & ((1 << w) - 1)).astype(np.uint16)
    return int(out) if out.ndim == 0 else out

