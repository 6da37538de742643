"""Which rows of two arrays of grains hold the same bytes: the C library's memcmp first, numpy only where
they differ.

Verification compares most grains with bytes it kept (the digest memo), and most of them are equal. numpy's
``(a == b).all(axis=1)`` reads both arrays, writes a boolean per word and reduces it; memcmp reads both arrays
once and stops at the first difference. Measured on the 2-core development machine for 8 MiB of equal
grains, caches flushed: 1.27 ms for numpy, 0.65 ms for memcmp. Rows are compared a block at a time, and only a
block that differs is compared row by row with numpy.
"""

import ctypes

import numpy as np

BLOCK_ROWS = 64
"""Rows per memcmp call (256 KiB of 4 KiB grains): few calls, and a difference costs one block's numpy pass."""


def _libc_memcmp():
    try:
        fn = ctypes.CDLL(None).memcmp
    except (OSError, AttributeError):  # no C library to call: numpy alone
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    return fn


_MEMCMP = _libc_memcmp()


def same_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a == b).all(axis=1)`` for two 2-D arrays of one shape and dtype: whether each row of ``a`` holds the
    same bytes as that row of ``b``."""
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError(f"rows of {a.shape} {a.dtype} and {b.shape} {b.dtype} cannot be compared")
    if _MEMCMP is None or not (a.flags.c_contiguous and b.flags.c_contiguous) or not a.size:
        return (a == b).all(axis=1)
    n, row = len(a), a.strides[0]
    pa, pb = a.ctypes.data, b.ctypes.data
    out = np.ones(n, dtype=bool)
    for r0 in range(0, n, BLOCK_ROWS):
        r1 = min(n, r0 + BLOCK_ROWS)
        if _MEMCMP(pa + r0 * row, pb + r0 * row, (r1 - r0) * row):
            out[r0:r1] = (a[r0:r1] == b[r0:r1]).all(axis=1)
    return out
