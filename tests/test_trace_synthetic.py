"""Synthetic traces: the documented heavy-hitter distribution, determinism, files."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.errors import UserError
from imsim.trace import synthetic_trace
from imsim.trace.synthetic import heavy_matrix


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.floats(0.0, 0.3), st.integers(0, 10_000))
def test_exact_outlier_count_and_magnitudes(rows, cols, frac, seed):
    X = heavy_matrix(np.random.default_rng(seed), rows, cols, frac, outlier_scale=20.0)
    outliers = np.abs(X) >= 20.0
    assert np.count_nonzero(outliers) == int(round(frac * rows * cols))
    assert X.dtype == np.float32 and X.shape == (rows, cols)


def test_channel_concentration_puts_outliers_in_few_columns():
    rng = np.random.default_rng(0)
    X = heavy_matrix(rng, 256, 128, 0.01, outlier_scale=30.0, channel_concentration=3)
    cols = np.flatnonzero((np.abs(X) >= 30.0).any(axis=0))
    assert len(cols) == 3
    assert np.count_nonzero(np.abs(X) >= 30.0) == round(0.01 * 256 * 128)
    spread = heavy_matrix(np.random.default_rng(0), 256, 128, 0.01, outlier_scale=30.0)
    assert np.count_nonzero((np.abs(spread) >= 30.0).any(axis=0)) > 50


def test_concentrated_count_is_capped_by_channel_cells():
    X = heavy_matrix(np.random.default_rng(1), 10, 50, 0.5, channel_concentration=2)
    assert np.count_nonzero(np.abs(X) >= 20.0) == 20


def test_body_is_standard_gaussian():
    X = heavy_matrix(np.random.default_rng(2), 400, 400, 0.0)
    assert abs(X.mean()) < 0.01 and abs(X.std() - 1.0) < 0.01


def test_trace_shapes_determinism_and_weights():
    shapes = [(8, 16, 4), (3, 5, 7)]
    t1 = synthetic_trace(shapes, 0.05, seed=3, b_heavy_fraction=0.1)
    t2 = synthetic_trace(shapes, 0.05, seed=3, b_heavy_fraction=0.1)
    t3 = synthetic_trace(shapes, 0.05, seed=4, b_heavy_fraction=0.1)
    assert [r.shape for r in t1] == shapes and [r.name for r in t1] == ["synthetic0", "synthetic1"]
    assert all(np.array_equal(a.A, b.A) and np.array_equal(a.B, b.B) for a, b in zip(t1, t2))
    assert not np.array_equal(t1[0].A, t3[0].A)
    B = t1[0].B
    assert np.count_nonzero(np.abs(B) >= 20.0 / np.sqrt(16)) >= round(0.1 * 16 * 4)
    assert t1[0].meta["heavy_fraction"] == 0.05 and t1.path is None


def test_trace_written_to_file_reopens_lazily(tmp_path):
    tr = synthetic_trace([(4, 6, 2)], 0.1, seed=5, path=tmp_path / "s.npz")
    assert tr.path == tmp_path / "s.npz" and tr.path.is_file()
    mem = synthetic_trace([(4, 6, 2)], 0.1, seed=5)
    np.testing.assert_allclose(tr[0].A, mem[0].A, rtol=2**-10)


@pytest.mark.parametrize("kwargs", [dict(heavy_fraction=1.5), dict(outlier_scale=0.0),
                                    dict(channel_concentration=0), dict(shapes=[(0, 2, 2)])])
def test_bad_arguments_are_user_errors(kwargs):
    args = dict(shapes=[(2, 2, 2)], heavy_fraction=0.1)
    args.update(kwargs)
    with pytest.raises(UserError):
        synthetic_trace(**args)
