"""Fuzzing the public functions (kernels, metrics, constraints, datasets, plotting).

The estimators are fuzzed in tests/test_reliability.py; here the same input space (shapes,
dtypes, NaN/inf, label kinds) goes to every public function. The only outcomes allowed: a
finite result, or a ValueError / TypeError with a message; and the input is never modified.
"""

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings

from skdml import LDA, constraints, datasets, kernels, metrics, plotting

from .test_reliability import fuzz_case_strategy, make_fuzz_input

matplotlib.use("Agg")


def _codes(X):
    return kernels.pack_codes(X)


def _plot(X, y):
    import matplotlib.pyplot as plt

    try:
        return plotting.plot_embedding(X, y).get_title()
    finally:
        plt.close("all")


FUNCTIONS = {
    "kernels.pairwise_distances": lambda X, y: kernels.pairwise_distances(X, X),
    "kernels.pairwise_distances(cosine)": lambda X, y: kernels.pairwise_distances(
        X, metric="cosine"),
    "kernels.pairwise_distances(manhattan)": lambda X, y: kernels.pairwise_distances(
        X, metric="manhattan"),
    "kernels.knn": lambda X, y: kernels.knn(X, k=1, exclude_self=True),
    "kernels.paired_distances": lambda X, y: kernels.paired_distances(X, X[::-1]),
    "kernels.pack_codes": lambda X, y: kernels.pack_codes(X),
    "kernels.hamming_distances": lambda X, y: kernels.hamming_distances(_codes(X), _codes(X)),
    "kernels.hamming_knn": lambda X, y: kernels.hamming_knn(_codes(X), _codes(X), k=1),
    "metrics.precision_at_k": lambda X, y: metrics.precision_at_k(X, y, 1),
    "metrics.recall_at_k": lambda X, y: metrics.recall_at_k(X, y, 1),
    "metrics.r_precision": lambda X, y: metrics.r_precision(X, y),
    "metrics.map_at_r": lambda X, y: metrics.map_at_r(X, y),
    "metrics.nmi_kmeans": lambda X, y: metrics.nmi_kmeans(X, y, random_state=0),
    "metrics.verification_accuracy": lambda X, y: metrics.verification_accuracy(y, X[:, 0]),
    "metrics.verification_roc_auc": lambda X, y: metrics.verification_roc_auc(y, X[:, 0]),
    "metrics.equal_error_rate": lambda X, y: metrics.equal_error_rate(y, X[:, 0]),
    "metrics.hamming_map": lambda X, y: metrics.hamming_map(X, X, y, y),
    "metrics.precision_at_n": lambda X, y: metrics.precision_at_n(X, X, y, y, n=2),
    "constraints.pairs_from_labels": lambda X, y: constraints.pairs_from_labels(
        y, 10, random_state=0),
    "constraints.triplets_from_labels": lambda X, y: constraints.triplets_from_labels(
        y, 10, random_state=0),
    "constraints.neighbor_pairs_from_labels": lambda X, y: (
        constraints.neighbor_pairs_from_labels(X, y, 2)),
    "datasets.make_pairs": lambda X, y: datasets.make_pairs(X, y, 10, random_state=0),
    "datasets.make_triplets": lambda X, y: datasets.make_triplets(X, y, 10, random_state=0),
    "plotting.plot_embedding": _plot,
}


def _assert_finite(value, name):
    if isinstance(value, (tuple, list)):
        for item in value:
            _assert_finite(item, name)
        return
    if hasattr(value, "toarray"):  # sparse results (radius search)
        value = value.toarray()
    arr = np.asarray(value) if not isinstance(value, str) else None
    if arr is not None and arr.dtype.kind in "fc":
        assert np.all(np.isfinite(arr)), f"{name} returned a non-finite value"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@settings(max_examples=20, deadline=None, derandomize=True)
@given(case=fuzz_case_strategy())
def test_public_function_fuzz(name, case):
    X, y = make_fuzz_input(LDA, case)
    X_before = np.array(X, copy=True)
    try:
        result = FUNCTIONS[name](X, y)
    except (ValueError, TypeError) as exc:
        assert str(exc).strip(), f"{name} raised {type(exc).__name__} with no message"
    else:
        _assert_finite(result, name)
    # The input is untouched (compared as text, so NaN equals NaN whatever the dtype).
    assert repr(X.tolist()) == repr(X_before.tolist()), f"{name} modified its input"
