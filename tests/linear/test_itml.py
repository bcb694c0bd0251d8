"""ITML: both solvers, the constraints it promises, bad input; and skdml.datasets."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from skdml import ITML
from skdml.constraints import neighbor_pairs_from_labels, pairs_from_labels
from skdml.datasets import make_pairs, make_triplets
from skdml.linear.itml import itml_objective
from skdml.metrics import verification_accuracy

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


def _noisy_iris(seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([X_IRIS, 3.0 * rng.normal(size=(len(X_IRIS), 8))])
    return train_test_split(X, Y_IRIS, test_size=0.4, random_state=seed, stratify=Y_IRIS)


def _knn(Z_train, y_train, Z_test, y_test):
    return KNeighborsClassifier(3).fit(Z_train, y_train).score(Z_test, y_test)


@pytest.mark.parametrize("constraints", ["neighbors", "random"])
def test_itml_from_labels_beats_euclidean_on_noisy_features(constraints):
    X_train, X_test, y_train, y_test = _noisy_iris()
    base = _knn(X_train, y_train, X_test, y_test)
    itml = ITML(constraints=constraints, random_state=0).fit(X_train, y_train)
    learned = _knn(itml.transform(X_train), y_train, itml.transform(X_test), y_test)
    assert learned >= base + 0.1, (base, learned)
    assert itml.n_iter_ >= 1
    assert not hasattr(itml, "threshold_")  # a label fit leaves calibration to the user


def test_itml_from_pairs_verifies_better_than_euclidean():
    X_train, X_test, y_train, y_test = _noisy_iris(1)
    idx, labels = pairs_from_labels(y_train, 400, random_state=0)
    itml = ITML(random_state=0).fit(idx, labels, preprocessor=X_train)
    test_idx, test_labels = pairs_from_labels(y_test, 400, random_state=1)
    euclid = np.linalg.norm(X_test[test_idx[:, 0]] - X_test[test_idx[:, 1]], axis=1)
    learned = itml.score(test_idx, test_labels, preprocessor=X_test)
    assert learned > verification_accuracy(test_labels, -euclid) + 0.1  # scores: -distance
    assert learned > 0.85
    # The same pairs as arrays give the same metric.
    again = ITML(random_state=0).fit(X_train[idx], labels)
    np.testing.assert_allclose(again.components_, itml.components_)


@pytest.mark.parametrize("gamma", [0.3, 1.0, 5.0])
def test_bregman_and_cvxpy_agree_on_the_objective(gamma):
    idx, labels = pairs_from_labels(Y_IRIS, 60, random_state=0)
    bregman = ITML(gamma=gamma, tol=1e-10, max_iter=100_000)
    bregman.fit(idx, labels, preprocessor=X_IRIS)
    cvx = ITML(gamma=gamma, solver="cvxpy").fit(idx, labels, preprocessor=X_IRIS)
    assert bregman.objective_ == pytest.approx(cvx.objective_, rel=1e-3)
    np.testing.assert_allclose(
        bregman.get_mahalanobis_matrix(), cvx.get_mahalanobis_matrix(), rtol=1e-2, atol=1e-3
    )
    assert bregman.bounds_ == cvx.bounds_


def test_hard_constraints_hold_at_convergence():
    """With a huge slack weight the bounds become hard constraints (feasible by design:
    similar pairs differ along the first axis, dissimilar ones along the second)."""
    rng = np.random.default_rng(0)
    n = 10
    similar = np.column_stack([rng.normal(size=n), 0.1 * rng.normal(size=n)])
    dissimilar = np.column_stack([rng.normal(size=n), rng.choice([-1, 1], n) * (2 + rng.random(n))])
    diff = np.vstack([similar, dissimilar])
    first = rng.normal(size=(2 * n, 2))
    pairs = np.stack([first, first - diff], axis=1)
    labels = np.r_[np.ones(n), -np.ones(n)]
    itml = ITML(gamma=1e8, bounds=(0.5, 4.0), tol=1e-12, max_iter=100_000)
    itml.fit(pairs, labels)
    # Bounds live on standardized features, which is exactly what pair_distance measures
    # (the learned map absorbs the standardization).
    d2 = itml.pair_distance(pairs) ** 2
    assert np.all(d2[labels == 1] <= 0.5 * (1 + 1e-4)), d2
    assert np.all(d2[labels == -1] >= 4.0 * (1 - 1e-4)), d2


def test_objective_decreases_from_the_prior_to_the_solution():
    idx, labels = neighbor_pairs_from_labels(X_IRIS, Y_IRIS, 2)
    itml = ITML(max_iter=10_000, tol=1e-8).fit(idx, labels, preprocessor=X_IRIS)
    # At A = A0 with slacks at their targets the objective is 0 but constraints are
    # violated; the solution trades divergence for feasibility, and stays finite.
    assert 0 < itml.objective_ < np.inf
    d = 4
    assert itml_objective(np.eye(d), np.ones(3), np.eye(d), np.ones(3), 1.0) == 0.0


def test_itml_is_scale_invariant():
    X_train, _, y_train, _ = _noisy_iris()
    scale = np.logspace(-5, 5, X_train.shape[1])
    a = ITML(random_state=0).fit(X_train, y_train).transform(X_train)
    b = ITML(random_state=0).fit(X_train * scale, y_train).transform(X_train * scale)
    da = np.linalg.norm(a[:, None] - a[None], axis=-1)
    db = np.linalg.norm(b[:, None] - b[None], axis=-1)
    np.testing.assert_allclose(da, db, rtol=1e-6, atol=1e-8 * da.max())


@pytest.mark.parametrize("prior", ["identity", "covariance", "array"])
def test_priors(prior):
    if prior == "array":
        prior = np.diag([1.0, 2.0, 3.0, 4.0])
    itml = ITML(prior=prior, random_state=0).fit(X_IRIS, Y_IRIS)
    assert np.all(np.isfinite(itml.components_))


def test_array_prior_in_input_units_and_random_prior():
    X = X_IRIS * [1.0, 10.0, 0.1, 3.0]
    named = ITML(random_state=0).fit(X, Y_IRIS)
    # 'identity' is the identity on standardized features: diag(1 / std^2) in input units.
    array = ITML(prior=np.diag(1.0 / X.std(axis=0) ** 2), random_state=0).fit(X, Y_IRIS)
    M = named.get_mahalanobis_matrix()
    np.testing.assert_allclose(array.get_mahalanobis_matrix(), M, rtol=1e-6,
                               atol=1e-9 * np.abs(M).max())
    fit = lambda seed: ITML(prior="random", random_state=seed).fit(X, Y_IRIS)  # noqa: E731
    first, again, other = fit(0), fit(0), fit(1)
    np.testing.assert_array_equal(first.components_, again.components_)
    assert not np.allclose(first.get_mahalanobis_matrix(), other.get_mahalanobis_matrix())
    assert not np.allclose(first.get_mahalanobis_matrix(), M)


@pytest.mark.parametrize("a", [[1.0, 2.0], [1.0, 1.0], [3.0, -0.5]])
def test_singular_prior_is_refused_whatever_the_round_off(a):
    # eigvalsh(np.outer(a, a)) gives a smallest eigenvalue of round-off size, positive for
    # some a and zero or negative for others: every one of them is singular.
    X, y = X_IRIS[:, :2], Y_IRIS
    with pytest.raises(ValueError, match="positive definite"):
        ITML(prior=np.outer(a, a), random_state=0).fit(X, y)
    # A nearly singular but genuinely definite prior is accepted.
    prior = np.outer(a, a) + 1e-6 * np.eye(2)
    itml = ITML(prior=prior, random_state=0).fit(X, y)
    assert np.linalg.eigvalsh(itml.get_mahalanobis_matrix()).min() > 0


def test_convergence_warning_and_verbose(capsys):
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        itml = ITML(max_iter=1, verbose=1, random_state=0).fit(X_IRIS, Y_IRIS)
    assert itml.n_iter_ == 1
    assert "[ITML] sweep    1" in capsys.readouterr().out


def test_pairs_of_identical_points_are_handled():
    pairs = np.stack([X_IRIS[[0, 1, 2, 50, 60]], X_IRIS[[0, 3, 100, 50, 110]]], axis=1)
    labels = np.array([1, 1, -1, -1, -1])
    with pytest.warns(UserWarning, match="1 dissimilar pairs join identical points"):
        itml = ITML().fit(pairs.copy(), labels)
    # The similar pair of identical points is trivially satisfied: no warning for it.
    itml.fit(pairs[[0, 1, 2]], labels[[0, 1, 2]])
    assert np.all(np.isfinite(itml.components_))


def test_bad_input():
    pairs, labels = make_pairs(X_IRIS, Y_IRIS, 40, random_state=0)
    itml = ITML().fit(pairs, labels)
    before = itml.components_.copy()
    with pytest.raises(ValueError, match="u < l"):
        itml.set_params(bounds=(5.0, 1.0)).fit(pairs, labels)
    with pytest.raises(ValueError, match=r"bounds must be \(u, l\)"):
        itml.set_params(bounds=(1.0, 2.0, 3.0)).fit(pairs, labels)
    with pytest.raises(ValueError, match="positive definite"):
        itml.set_params(bounds=None, prior=-np.eye(4)).fit(pairs, labels)
    with pytest.raises(ValueError, match=r"prior must be of shape \(4, 4\)"):
        itml.set_params(prior=np.eye(3)).fit(pairs, labels)
    with pytest.raises(ValueError, match=r"pair labels in \{-1, \+1\}"):
        itml.set_params(prior="identity").fit(pairs, (labels + 1) // 2)
    with pytest.raises(ValueError, match="both similar"):
        itml.fit(pairs, np.ones(len(pairs)))
    with pytest.raises(ValueError, match="status"):
        ITML(solver="cvxpy", max_iter=1).fit(pairs, labels)
    np.testing.assert_array_equal(itml.components_, before)


# ----------------------------------------------------------------------------- datasets
def test_make_pairs_folds_are_disjoint_balanced_and_reproducible():
    idx, labels, folds = make_pairs(
        X_IRIS, Y_IRIS, 600, n_folds=5, return_indices=True, random_state=0
    )
    assert idx.shape == (600, 2) and np.sum(labels == 1) == 300
    members = [set(idx[folds == f].ravel()) for f in range(5)]
    for a in range(5):
        assert np.sum(folds == a) == 120
        for b in range(a + 1, 5):
            assert not members[a] & members[b]
    np.testing.assert_array_equal(labels == 1, Y_IRIS[idx[:, 0]] == Y_IRIS[idx[:, 1]])
    again = make_pairs(X_IRIS, Y_IRIS, 600, n_folds=5, return_indices=True, random_state=0)
    np.testing.assert_array_equal(idx, again[0])


def test_make_pairs_and_triplets_errors():
    with pytest.raises(ValueError, match="n_folds must be >= 2"):
        make_pairs(X_IRIS, Y_IRIS, 10, n_folds=1)
    with pytest.raises(ValueError, match="inconsistent"):
        make_pairs(X_IRIS, Y_IRIS[:-1], 10)
    with pytest.raises(ValueError, match="at least 2 distinct classes"):
        make_triplets(X_IRIS[:50], Y_IRIS[:50], 10)
    t = make_triplets(X_IRIS, Y_IRIS, 50, return_indices=True, random_state=0)
    assert np.all(Y_IRIS[t[:, 0]] == Y_IRIS[t[:, 1]])
    assert np.all(Y_IRIS[t[:, 0]] != Y_IRIS[t[:, 2]])


def test_neighbor_pairs_are_the_nearest():
    idx, labels = neighbor_pairs_from_labels(X_IRIS, Y_IRIS, 2)
    assert np.sum(labels == 1) == np.sum(labels == -1) == 300
    D = np.linalg.norm(X_IRIS[:, None] - X_IRIS[None], axis=-1)
    for (i, j), lab in zip(idx[::37], labels[::37]):
        same = Y_IRIS == Y_IRIS[i]
        pool = np.flatnonzero(same & (np.arange(150) != i)) if lab == 1 else np.flatnonzero(~same)
        assert D[i, j] <= np.sort(D[i, pool])[1] + 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        neighbor_pairs_from_labels(X_IRIS[[0, 1, 50]], [0, 0, 1], 3)  # small classes: fine


def test_anchor_pairs_are_the_anchors_rows_of_the_full_pairs():
    full, full_labels = neighbor_pairs_from_labels(X_IRIS, Y_IRIS, 2)
    anchors = np.array([0, 7, 51, 99, 120, 149])
    idx, labels = neighbor_pairs_from_labels(X_IRIS, Y_IRIS, 2, anchors=anchors)
    assert len(idx) == 2 * 2 * len(anchors)
    assert set(idx[:, 0]) == set(anchors)
    rows = {(tuple(p), lab) for p, lab in zip(full.tolist(), full_labels)}
    assert {(tuple(p), lab) for p, lab in zip(idx.tolist(), labels)} <= rows
    with pytest.raises(ValueError, match="anchors must index the 150 samples"):
        neighbor_pairs_from_labels(X_IRIS, Y_IRIS, 2, anchors=[0, 150])
    with pytest.raises(ValueError, match="non-empty 1-D array of sample indices"):
        neighbor_pairs_from_labels(X_IRIS, Y_IRIS, 2, anchors=[0.5])


def test_n_constraints_bounds_the_neighbor_pairs():
    """n_constraints with constraints='neighbors': about that many pairs from random anchors
    (the large-n path); as many as every sample gives changes nothing."""
    X, y = X_IRIS, Y_IRIS
    full = ITML(random_state=0).fit(X, y)
    same = ITML(n_constraints=6 * len(X), random_state=0).fit(X, y)
    np.testing.assert_array_equal(full.components_, same.components_)
    few = ITML(n_constraints=120, random_state=0).fit(X, y)
    assert not np.allclose(few.components_, full.components_)
    again = ITML(n_constraints=120, random_state=0).fit(X, y)
    np.testing.assert_array_equal(few.components_, again.components_)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    acc = KNeighborsClassifier(3).fit(few.fit(Xtr, ytr).transform(Xtr), ytr).score(
        few.transform(Xte), yte)
    assert acc >= 0.9
