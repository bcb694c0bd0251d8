"""Covariance, PCA, LDA and KISSME: the right answer, not only a finite one."""

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.decomposition import PCA as SkPCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from skdml import KISSME, LDA, PCA, Covariance
from skdml.constraints import pairs_from_labels
from skdml.metrics import verification_accuracy


def _pdist(Z):
    return np.linalg.norm(Z[:, None] - Z[None], axis=-1)


def _knn_score(Z_train, y_train, Z_test, y_test):
    return KNeighborsClassifier(3).fit(Z_train, y_train).score(Z_test, y_test)


def _noisy_iris(n_noise=8, noise_scale=3.0, seed=0):
    """Iris with high-variance irrelevant features: Euclidean kNN suffers."""
    X, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(seed)
    X = np.column_stack([X, noise_scale * rng.normal(size=(len(X), n_noise))])
    return train_test_split(X, y, test_size=0.4, random_state=seed, stratify=y)


# ----------------------------------------------------------------------------- Covariance
def test_covariance_is_the_inverse_covariance():
    X, _ = load_wine(return_X_y=True)
    cov = Covariance().fit(X)
    expected = np.cov(X, rowvar=False, bias=True)
    np.testing.assert_allclose(cov.covariance_, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        cov.get_mahalanobis_matrix(), np.linalg.inv(expected), rtol=1e-6
    )
    assert cov.n_components_ == X.shape[1]


def test_covariance_singular_gives_the_pseudo_inverse():
    X, _ = load_iris(return_X_y=True)
    X = np.column_stack([X, X[:, 0], np.full(len(X), 7.0)])  # duplicated + constant
    cov = Covariance().fit(X)
    M, S = cov.get_mahalanobis_matrix(), cov.covariance_
    assert cov.n_components_ == 4  # rank of the data
    np.testing.assert_allclose(M @ S @ M, M, atol=1e-8)
    np.testing.assert_allclose(S @ M @ S, S, atol=1e-8)
    np.testing.assert_allclose(M, np.linalg.pinv(np.cov(X, rowvar=False, bias=True)), atol=1e-6)


@pytest.mark.parametrize("shrinkage", ["ledoit_wolf", "oas", 0.3])
def test_covariance_shrinkage_is_between_empirical_and_identity(shrinkage):
    X = np.random.default_rng(0).normal(size=(15, 30))  # d > n: empirical is singular
    cov = Covariance(shrinkage=shrinkage).fit(X)
    assert cov.n_components_ == 30  # shrinkage makes it invertible
    assert np.all(np.isfinite(cov.components_))


def test_covariance_rescues_kNN_from_a_dominating_feature():
    X_train, X_test, y_train, y_test = _noisy_iris(n_noise=1, noise_scale=1e4)
    base = _knn_score(X_train, y_train, X_test, y_test)
    cov = Covariance().fit(X_train)
    learned = _knn_score(cov.transform(X_train), y_train, cov.transform(X_test), y_test)
    assert learned >= base + 0.3, (base, learned)


# ---------------------------------------------------------------------------------- PCA
@pytest.mark.parametrize("whiten", [False, True])
def test_pca_distances_match_sklearn(whiten):
    X, _ = load_wine(return_X_y=True)
    ours = PCA(n_components=5, whiten=whiten).fit(X)
    theirs = SkPCA(n_components=5, whiten=whiten).fit(X)
    np.testing.assert_allclose(
        _pdist(ours.transform(X)), _pdist(theirs.transform(X)), rtol=1e-6, atol=1e-8
    )
    np.testing.assert_allclose(ours.explained_variance_ratio_, theirs.explained_variance_ratio_)


def test_pca_whiten_zero_variance_directions_get_zero_weight():
    X = np.random.default_rng(0).normal(size=(5, 12))  # rank 4 after centering
    pca = PCA(whiten=True).fit(X)
    assert pca.n_components_ == 5
    assert np.all(np.isfinite(pca.components_))
    np.testing.assert_allclose(pca.components_[-1], 0.0)
    Z = pca.transform(X)
    np.testing.assert_allclose(np.var(Z[:, :4], axis=0, ddof=1), 1.0, rtol=1e-8)


# ---------------------------------------------------------------------------------- LDA
def test_lda_distances_match_sklearn_and_ignore_label_type():
    X, y = load_wine(return_X_y=True)
    ours = LDA().fit(X, np.array(["a", "b", "c"])[y])
    theirs = LinearDiscriminantAnalysis().fit(X, y)
    np.testing.assert_allclose(
        _pdist(ours.transform(X)), _pdist(theirs.transform(X)), rtol=1e-6, atol=1e-8
    )
    assert list(ours.classes_) == ["a", "b", "c"]
    assert ours.n_components_ == 2


def test_lda_eigen_with_shrinkage_handles_d_greater_than_n():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 50))
    y = np.repeat([0, 1], 10)
    X[y == 1, 0] += 5.0
    lda = LDA(solver="eigen", shrinkage="auto").fit(X, y)
    Z = lda.transform(X)
    assert Z.shape == (20, 1)
    assert abs(Z[y == 0].mean() - Z[y == 1].mean()) > 2 * Z[y == 0].std()


def test_lda_shrinkage_needs_eigen():
    with pytest.raises(ValueError, match="shrinkage needs solver='eigen'"):
        LDA(shrinkage=0.5).fit(*load_iris(return_X_y=True))


@pytest.mark.parametrize("cls", [LDA, KISSME])
def test_supervised_learners_beat_euclidean_on_noisy_features(cls):
    X_train, X_test, y_train, y_test = _noisy_iris()
    base = _knn_score(X_train, y_train, X_test, y_test)
    est = cls().fit(X_train, y_train)
    learned = _knn_score(est.transform(X_train), y_train, est.transform(X_test), y_test)
    assert learned >= base + 0.1, (base, learned)


# -------------------------------------------------------------------------------- KISSME
def _verification_data(seed=0, n=600):
    """Pairs whose similarity lives in 2 of 10 dims; the other 8 are loud noise."""
    rng = np.random.default_rng(seed)
    identity = rng.normal(size=(n, 2))
    same = rng.random(n) < 0.5
    partner = np.where(same[:, None], identity + 0.1 * rng.normal(size=(n, 2)),
                       rng.normal(size=(n, 2)))
    noise_a, noise_b = 3 * rng.normal(size=(2, n, 8))
    pairs = np.stack(
        [np.column_stack([identity, noise_a]), np.column_stack([partner, noise_b])], axis=1
    )
    return pairs, np.where(same, 1, -1)


def test_kissme_from_pairs_verifies_better_than_euclidean():
    pairs, y = _verification_data(0)
    test_pairs, test_y = _verification_data(1)
    kissme = KISSME().fit(pairs, y)
    assert kissme.score(test_pairs, test_y) > 0.9
    euclid = np.linalg.norm(test_pairs[:, 0] - test_pairs[:, 1], axis=1)
    assert verification_accuracy(test_y, -euclid) < 0.75  # scores: -distance
    # predict agrees with the sign of decision_function, and with threshold_.
    d = kissme.pair_distance(test_pairs)
    np.testing.assert_array_equal(kissme.predict(test_pairs), np.where(d <= kissme.threshold_, 1, -1))
    np.testing.assert_array_equal(kissme.decision_function(test_pairs) >= 0, d <= kissme.threshold_)


def test_kissme_label_fit_equals_the_fit_on_all_pairs():
    X, y = load_iris(return_X_y=True)
    X, y = X[::5], y[::5]
    i, j = np.where(~np.eye(len(X), dtype=bool))
    pairs = np.stack([X[i], X[j]], axis=1)
    labels = np.where(y[i] == y[j], 1, -1)
    from_labels = KISSME().fit(X, y).get_mahalanobis_matrix()
    from_pairs = KISSME().fit(pairs, labels).get_mahalanobis_matrix()
    np.testing.assert_allclose(from_labels, from_pairs, rtol=1e-6, atol=1e-8)


def test_kissme_threshold_only_after_pairs_or_calibration():
    X, y = load_iris(return_X_y=True)
    kissme = KISSME().fit(X, y)
    assert not hasattr(kissme, "predict")
    with pytest.raises(AttributeError) as excinfo:
        kissme.predict(np.stack([X[:2], X[2:4]], axis=1))
    assert "calibrate_threshold" in str(excinfo.value.__cause__)
    idx, labels = pairs_from_labels(y, 400, random_state=0)
    kissme.calibrate_threshold(X[idx], labels)
    assert hasattr(kissme, "predict")
    assert kissme.score(X[idx], labels) > 0.9
    # A new fit on labels forgets the old threshold (it belonged to the old metric).
    kissme.fit(X, y)
    assert not hasattr(kissme, "threshold_")


def _criterion(strategy, pred, y, beta=1.0, max_fpr=0.01):
    tp = np.sum((pred == 1) & (y == 1))
    fp = np.sum((pred == 1) & (y == -1))
    fn = np.sum((pred == -1) & (y == 1))
    if strategy == "accuracy":
        return np.mean(pred == y)
    if strategy == "f_beta":
        b2 = beta**2
        return (1 + b2) * tp / max((1 + b2) * tp + b2 * fn + fp, 1)
    fpr = fp / np.sum(y == -1)
    return tp / np.sum(y == 1) if fpr <= max_fpr else -1.0


@pytest.mark.parametrize("strategy, kwargs", [
    ("accuracy", {}), ("f_beta", {"beta": 2.0}), ("tpr_at_fpr", {"max_fpr": 0.05}),
])
def test_calibrate_threshold_is_optimal_among_all_thresholds(strategy, kwargs):
    pairs, y = _verification_data(2, n=300)
    kissme = KISSME().fit(pairs, y).calibrate_threshold(pairs, y, strategy=strategy, **kwargs)
    d = kissme.pair_distance(pairs)
    chosen = _criterion(strategy, kissme.predict(pairs), y, **kwargs)
    candidates = np.r_[-1.0, np.unique(d)]
    brute = max(_criterion(strategy, np.where(d <= t, 1, -1), y, **kwargs) for t in candidates)
    assert chosen == pytest.approx(brute)
    assert chosen > 0.5


def test_calibrate_threshold_bad_input_keeps_the_threshold():
    pairs, y = _verification_data(3)
    kissme = KISSME().fit(pairs, y)
    before = kissme.threshold_
    with pytest.raises(ValueError, match="strategy must be one of"):
        kissme.calibrate_threshold(pairs, y, strategy="auc")
    with pytest.raises(ValueError, match="both similar"):
        kissme.calibrate_threshold(pairs, np.ones_like(y))
    with pytest.raises(ValueError, match=r"pair labels in \{-1, \+1\}"):
        kissme.calibrate_threshold(pairs, (y + 1) // 2)
    assert kissme.threshold_ == before


def test_kissme_pairs_bad_input():
    pairs, y = _verification_data(4)
    with pytest.raises(ValueError, match=r"pair labels in \{-1, \+1\}.*\[0\]"):
        KISSME().fit(pairs, np.where(y == 1, 1, 0))
    with pytest.raises(ValueError, match="both similar"):
        KISSME().fit(pairs, np.ones(len(pairs)))
    with pytest.raises(ValueError, match=r"one label per pair"):
        KISSME().fit(pairs, y[:-1])


# ----------------------------------------------------------------------------- constraints
def test_pairs_from_labels_are_what_they_claim():
    y = np.array(["a"] * 5 + ["b"] * 2 + ["c"])  # 'c' has one member: never in a similar pair
    pairs, labels = pairs_from_labels(y, 500, similar_fraction=0.3, random_state=0)
    assert pairs.shape == (500, 2) and labels.shape == (500,)
    assert np.sum(labels == 1) == 150
    same = y[pairs[:, 0]] == y[pairs[:, 1]]
    np.testing.assert_array_equal(same, labels == 1)
    assert np.all(pairs[labels == 1, 0] != pairs[labels == 1, 1])
    assert not np.any(y[pairs[labels == 1, 0]] == "c")
    # Every eligible similar partner is reachable.
    sim = {tuple(p) for p in pairs[labels == 1]}
    assert (5, 6) in sim or (6, 5) in sim
    again, _ = pairs_from_labels(y, 500, similar_fraction=0.3, random_state=0)
    np.testing.assert_array_equal(pairs, again)


def test_pairs_from_labels_errors():
    with pytest.raises(ValueError, match="at least 2 members"):
        pairs_from_labels([0, 1, 2], 10)
    with pytest.raises(ValueError, match="n_pairs must be an integer"):
        pairs_from_labels([0, 0, 1], 0)
    with pytest.raises(ValueError, match="at least 2 distinct classes"):
        pairs_from_labels([0, 0, 0], 10)


def test_triplets_from_labels_are_what_they_claim():
    from skdml.constraints import triplets_from_labels

    y = np.array(["a"] * 4 + ["b"] * 3 + ["c"])
    t = triplets_from_labels(y, 300, random_state=0)
    assert t.shape == (300, 3)
    assert np.all(y[t[:, 0]] == y[t[:, 1]]) and np.all(t[:, 0] != t[:, 1])
    assert np.all(y[t[:, 0]] != y[t[:, 2]])
    assert "c" in set(y[t[:, 2]])  # singletons still serve as negatives
    np.testing.assert_array_equal(t, triplets_from_labels(y, 300, random_state=0))


def test_standardize_then_unstandardize_keeps_the_embedding():
    from skdml.linear._psd import standardize, unstandardize_components

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4)) * [1e-3, 1.0, 1e3, 0.0] + [0.0, 5.0, -2.0, 7.0]
    Z, scales, varying = standardize(X)
    assert varying.tolist() == [True, True, True, False] and scales[3] == 0
    np.testing.assert_allclose(Z.std(axis=0), 1.0)
    L = rng.normal(size=(2, 3))
    components = unstandardize_components(L, scales, varying)
    assert components.shape == (2, 4) and np.all(components[:, 3] == 0)
    np.testing.assert_allclose(X @ components.T, Z @ L.T, rtol=1e-10)
    Zc = standardize(X, center=True)[0]
    np.testing.assert_allclose(Zc.mean(axis=0), 0.0, atol=1e-12)
