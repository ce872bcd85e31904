import numpy as np
import pytest

from imsim.modeleval.metrics import (average_ranks, embedding_metrics, pairwise_similarities, perplexity,
                                     row_cosines, spearman)


def test_average_ranks_share_ties():
    assert average_ranks(np.array([10.0, 20.0, 10.0, 5.0])).tolist() == [2.5, 4.0, 2.5, 1.0]


def test_spearman_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    # ranks (1,2,3,4,5) vs (2,1,4,3,5): 1 - 6*sum(d^2)/(n(n^2-1)) = 1 - 6*4/120 = 0.8
    assert spearman(x, np.array([2.0, 1.0, 4.0, 3.0, 5.0])) == pytest.approx(0.8)


def test_cosines_and_pairs():
    X = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    assert row_cosines(X, 3 * X) == pytest.approx([1.0, 1.0, 1.0])
    assert row_cosines(X, -X) == pytest.approx([-1.0, -1.0, -1.0])
    assert pairwise_similarities(X) == pytest.approx([0.0, 2**-0.5, 2**-0.5])
    m = embedding_metrics(X, X)
    assert m["cos_mean"] == pytest.approx(1.0) and m["cos_min"] == pytest.approx(1.0)


def test_perplexity_of_uniform_and_certain_predictions():
    ids = np.array([0, 1, 2, 3])
    assert perplexity(np.zeros((4, 7)), ids) == pytest.approx(7.0)
    sure = np.full((4, 7), -1e9)
    sure[np.arange(3), ids[1:]] = 0.0
    assert perplexity(sure, ids) == pytest.approx(1.0)
