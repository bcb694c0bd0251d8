"""What the weakly supervised learners share, each test run over several of them (MMC, SDML,
RCA, LSML, SCML): beating Euclidean kNN from labels or from their own constraints, pair
classification, priors, awkward but legal data, bad tuples that leave the state as it was."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from skdml.constraints import pairs_from_labels, triplets_from_labels
from skdml.linear.lsml import LSML
from skdml.linear.mmc import MMC
from skdml.linear.rca import RCA
from skdml.linear.scml import SCML
from skdml.linear.sdml import SDML

from .conftest import _fitted, _knn


LEARNERS = [MMC, SDML, RCA, LSML, SCML]
PAIR_LEARNERS = [MMC, SDML]


def _constraint_fit(cls, X, y, seed=0):
    """Fit ``cls`` from its native constraints (not from labels)."""
    if cls in PAIR_LEARNERS:
        idx, labels = pairs_from_labels(y, 600, random_state=seed)
        return cls().fit(X[idx], labels)
    if cls is RCA:
        chunks = np.full(len(y), -1)
        rng = np.random.default_rng(seed)
        for c in np.unique(y):  # two chunklets of 5 per class
            members = rng.permutation(np.flatnonzero(y == c))[:10]
            chunks[members] = 2 * c + np.arange(10) // 5
        return cls().fit(X, chunks=chunks)
    t = triplets_from_labels(y, 600, random_state=seed)
    if cls is LSML:
        return cls().fit(X[t[:, [0, 1, 0, 2]]])  # quadruplets
    return cls(random_state=seed).fit(X[t])


@pytest.mark.parametrize("cls", LEARNERS)
@pytest.mark.parametrize("source", ["labels", "constraints"])
def test_learner_beats_euclidean_on_noise_dimensions(noisy, cls, source):
    X_train, X_test, y_train, y_test, base = noisy
    assert base < 0.8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # RCA: 106 samples, < 100 chunklets
        if source == "labels":
            est = cls(random_state=0).fit(X_train, y_train)
        else:
            est = _constraint_fit(cls, X_train, y_train)
    score = _knn(est.transform(X_train), y_train, est.transform(X_test), y_test)
    assert score >= base + 0.15, (base, score)


@pytest.mark.parametrize("cls", PAIR_LEARNERS)
def test_pair_fit_gives_a_verification_classifier(noisy, cls):
    X_train, X_test, y_train, y_test, _ = noisy
    idx, labels = pairs_from_labels(y_train, 500, random_state=0)
    est = cls().fit(X_train[idx], labels)
    assert np.isfinite(est.threshold_)
    idx_t, labels_t = pairs_from_labels(y_test, 400, random_state=1)
    pairs_t = X_test[idx_t]
    pred = est.predict(pairs_t)
    assert set(np.unique(pred)) <= {-1, 1}
    np.testing.assert_array_equal(pred, np.where(est.decision_function(pairs_t) >= 0, 1, -1))
    assert est.score(pairs_t, labels_t) >= 0.8
    # The same fit from integer index pairs and a preprocessor.
    est_idx = cls().fit(idx, labels, preprocessor=X_train)
    np.testing.assert_allclose(est_idx.components_, est.components_, atol=1e-8)
    np.testing.assert_allclose(est_idx.predict(idx_t, preprocessor=X_test), pred)


@pytest.mark.parametrize("cls", PAIR_LEARNERS)
def test_label_fit_leaves_the_threshold_to_calibration(noisy, cls):
    X_train, _, y_train, _, _ = noisy
    est = cls(random_state=0).fit(X_train, y_train)
    assert not hasattr(est, "predict")
    idx, labels = pairs_from_labels(y_train, 200, random_state=3)
    assert est.calibrate_threshold(X_train[idx], labels).score(X_train[idx], labels) > 0.8


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", [SDML, LSML])
def test_array_prior_is_the_prior_metric_in_input_units(cls):
    X, y = load_iris(return_X_y=True)
    X = X * [1.0, 10.0, 0.1, 3.0]
    params = {"random_state": 0, **({"max_iter": 50} if cls is LSML else {})}
    named = cls(prior="identity", **params).fit(X, y)
    # 'identity' is the identity on standardized features: diag(1 / std^2) in input units.
    array = cls(prior=np.diag(1.0 / X.std(axis=0) ** 2), **params).fit(X, y)
    np.testing.assert_allclose(array.get_mahalanobis_matrix(), named.get_mahalanobis_matrix(),
                               rtol=1e-6, atol=1e-9 * np.abs(named.get_mahalanobis_matrix()).max())
    other = cls(prior=np.diag([1.0, 1e-2, 1e2, 0.1]), **params).fit(X, y)
    assert not np.allclose(other.get_mahalanobis_matrix(), named.get_mahalanobis_matrix())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", [SDML, LSML])
def test_random_prior_is_seeded_by_random_state(cls):
    X, y = load_iris(return_X_y=True)
    fit = lambda seed: cls(prior="random", random_state=seed).fit(X, y)  # noqa: E731
    first, again, other = fit(0), fit(0), fit(1)
    np.testing.assert_array_equal(first.components_, again.components_)
    assert not np.allclose(first.get_mahalanobis_matrix(), other.get_mahalanobis_matrix())
    identity = cls(prior="identity", random_state=0).fit(X, y)
    assert not np.allclose(first.get_mahalanobis_matrix(), identity.get_mahalanobis_matrix())
    assert np.all(np.isfinite(first.components_))


@pytest.mark.parametrize("cls", [SDML, LSML])
@pytest.mark.parametrize("prior, match", [
    (np.outer([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]), "positive definite"),
    (np.diag([1.0, 1.0, 1.0, 1e-12]), "positive definite"),
    (-np.eye(4), "positive definite"),
    (np.eye(3), r"of shape \(4, 4\), got \(3, 3\)"),
    (np.triu(np.ones((4, 4))), "finite symmetric"),
    (np.full((4, 4), np.nan), "finite symmetric"),
])
def test_bad_priors_are_refused_and_keep_the_state(cls, prior, match):
    X, y = load_iris(return_X_y=True)
    est = cls(random_state=0).fit(X, y)
    before = est.components_.copy()
    with pytest.raises(ValueError, match=f"{cls.__name__}: prior must be .*{match}"):
        est.set_params(prior=prior).fit(X, y)
    np.testing.assert_array_equal(est.components_, before)


def _awkward(kind):
    X, y = load_iris(return_X_y=True)
    if kind == "strings":
        return X, np.array(["setosa", "versicolor", "virginica"])[y]
    if kind == "two_per_class":
        idx = np.r_[0:2, 50:52, 100:102]
        return X[idx], y[idx]
    if kind == "constant_duplicated":
        return np.column_stack([X, X[:, 0], np.full(len(X), 3.0)]), y
    if kind == "d_gt_n":
        rng = np.random.default_rng(0)
        Xs = rng.normal(size=(12, 40))
        return Xs, np.repeat([0, 1, 2], 4)
    if kind == "scales":
        return X * [1e-4, 1.0, 1e4, 1e2], y
    raise AssertionError(kind)


@pytest.mark.parametrize("cls", LEARNERS)
@pytest.mark.parametrize(
    "kind", ["strings", "two_per_class", "constant_duplicated", "d_gt_n", "scales"]
)
def test_awkward_but_legal_data(cls, kind):
    X, y = _awkward(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # RCA: fewer chunklets than asked
        est = cls(random_state=0).fit(X, y)
    Z = est.transform(X)
    assert np.all(np.isfinite(est.components_)) and np.all(np.isfinite(Z))
    assert np.any(est.components_ != 0)
    if kind == "constant_duplicated":
        np.testing.assert_array_equal(est.components_[:, -1], 0)


@pytest.mark.parametrize("cls", PAIR_LEARNERS)
@pytest.mark.parametrize(
    "case, match",
    [
        ("triplets", "pairs as an array of shape"),
        ("labels_01", "pair labels in"),
        ("all_similar", "needs both similar"),
        ("wrong_n_labels", "one label per pair"),
        ("bad_index", "integer indices"),
    ],
)
def test_pair_learners_reject_bad_pairs_and_keep_their_state(cls, case, match):
    est, X, y = _fitted(cls)
    before = est.components_.copy()
    idx, labels = pairs_from_labels(y, 50, random_state=0)
    args, kwargs = (X[idx], labels), {}
    if case == "triplets":
        args = (X[triplets_from_labels(y, 50, random_state=0)], labels)
    elif case == "labels_01":
        args = (X[idx], (labels > 0).astype(int))
    elif case == "all_similar":
        args = (X[idx], np.ones(50))
    elif case == "wrong_n_labels":
        args = (X[idx], labels[:-1])
    elif case == "bad_index":
        args, kwargs = (idx.astype(float), labels), {"preprocessor": X}
    with pytest.raises(ValueError, match=match):
        est.fit(*args, **kwargs)
    np.testing.assert_array_equal(est.components_, before)
    assert not hasattr(est, "threshold_")


@pytest.mark.parametrize("cls", [LSML, SCML])
def test_tuple_learners_reject_bad_tuples_and_keep_their_state(cls):
    est, X, y = _fitted(cls)
    before = est.components_.copy()
    t = triplets_from_labels(y, 30, random_state=0)
    with pytest.raises(ValueError, match="shape"):
        est.fit(X[t[:, :2]])  # pairs
    with pytest.raises(ValueError, match="carry no labels"):
        est.fit(X[t], np.ones(30))
    with pytest.raises(ValueError, match="indices"):
        est.fit(t[:, :2], preprocessor=X)
    if cls is SCML:
        with pytest.raises(ValueError, match="needs class labels"):
            SCML(basis="lda").fit(X[t])
        with pytest.raises(ValueError, match="basis of shape"):
            SCML(basis=np.eye(3)).fit(X, y)
    np.testing.assert_array_equal(est.components_, before)


@pytest.mark.parametrize("cls", [MMC, LSML, SCML])
def test_verbose_prints_progress(cls, capsys):
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = cls(verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert f"[{cls.__name__}] iteration" in out and "objective" in out
    assert est.n_iter_ >= 1
