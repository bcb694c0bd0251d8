"""MMC, SDML, RCA, LSML, SCML: learned from pairs, chunklets, triplets, quadruplets or labels."""

import warnings

import numpy as np
import pytest
from scipy.optimize import check_grad, minimize
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_blobs,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skdml.constraints import pairs_from_labels, triplets_from_labels
from skdml.linear.lsml import LSML, _lsml_objective
from skdml.linear.mmc import MMC, _MMCObjective, _solve_mmc
from skdml.linear.rca import RCA
from skdml.linear.scml import SCML
from skdml.linear.sdml import SDML

LEARNERS = [MMC, SDML, RCA, LSML, SCML]
PAIR_LEARNERS = [MMC, SDML]


def _knn(Z_train, y_train, Z_test, y_test):
    return KNeighborsClassifier(3).fit(Z_train, y_train).score(Z_test, y_test)


@pytest.fixture(scope="module")
def noisy():
    """Wine with 10 noise features of large variance: Euclidean 3-NN is poor (about 0.65)."""
    X, y = load_wine(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    rng = np.random.default_rng(0)
    X = np.column_stack([X, 4.0 * rng.normal(size=(len(X), 10))])
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, random_state=0, stratify=y
    )
    base = _knn(X_train, y_train, X_test, y_test)
    return X_train, X_test, y_train, y_test, base


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


# ------------------------------------------------------------------- beats Euclidean
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


# ------------------------------------------------------------------- pair classifiers
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


def _rates(distances, y, threshold):
    pred = distances <= threshold
    tp, fp = np.sum(pred & (y == 1)), np.sum(pred & (y == -1))
    tpr, tnr = tp / np.sum(y == 1), 1 - fp / np.sum(y == -1)
    return tpr, tnr, tp / (tp + fp) if tp + fp else 0.0


@pytest.mark.parametrize("strategy, min_rate", [("max_tpr", 0.9), ("max_tnr", 0.9),
                                                ("max_tnr", 0.5), ("f_beta", None)])
def test_calibration_strategies_are_optimal_among_all_thresholds(noisy, strategy, min_rate):
    X_train, X_test, y_train, y_test, _ = noisy
    idx, labels = pairs_from_labels(y_train, 300, random_state=0)
    est = SDML().fit(X_train[idx], labels)
    idx_t, y = pairs_from_labels(y_test, 300, random_state=1)
    pairs = X_test[idx_t]
    d = est.pair_distance(pairs)
    kwargs = {"beta": 0.0} if strategy == "f_beta" else {"min_rate": min_rate}
    est.calibrate_threshold(pairs, y, strategy=strategy, **kwargs)
    chosen = _rates(d, y, est.threshold_)
    every = [_rates(d, y, t) for t in np.r_[d.min() - 1.0, np.unique(d)]]
    if strategy == "max_tpr":  # highest TPR where TNR >= min_rate
        assert chosen[1] >= min_rate
        assert chosen[0] == max(r[0] for r in every if r[1] >= min_rate)
    elif strategy == "max_tnr":  # highest TNR where TPR >= min_rate; ties: highest TPR
        assert chosen[0] >= min_rate
        assert chosen[:2] == max(r[:2][::-1] for r in every if r[0] >= min_rate)[::-1]
    else:  # beta = 0: the precision
        assert chosen[2] == max(r[2] for r in every)
        assert chosen[2] > 0.9


@pytest.mark.parametrize("params, match", [
    ({"strategy": "f_beta", "beta": -1.0}, r"beta must be a real number in \[0, inf\)"),
    ({"strategy": "f_beta", "beta": np.inf}, "beta must be"),
    ({"strategy": "f_beta", "beta": np.nan}, "beta must be"),
    ({"strategy": "f_beta", "beta": "1"}, "beta must be"),
    ({"strategy": "max_tnr"}, r"min_rate must be a number in \[0, 1\].*got None"),
    ({"strategy": "max_tpr", "min_rate": 1.5}, "min_rate must be"),
    ({"strategy": "max_tnr", "min_rate": -0.1}, "min_rate must be"),
    ({"strategy": "max_tnr", "min_rate": True}, "min_rate must be"),
    ({"strategy": "tpr_at_fpr", "max_fpr": 2.0}, r"max_fpr must be a number in \[0, 1\]"),
    ({"strategy": "roc"}, "strategy must be one of"),
])
def test_bad_calibration_parameters_leave_the_threshold(noisy, params, match):
    X_train, _, y_train, _, _ = noisy
    idx, labels = pairs_from_labels(y_train, 200, random_state=0)
    est = SDML().fit(X_train[idx], labels)
    before = est.threshold_
    with pytest.raises(ValueError, match=match):
        est.calibrate_threshold(X_train[idx], labels, **params)
    assert est.threshold_ == before


# ------------------------------------------------------------------- MMC
def _tiny_pairs(seed=0, n=40, d=4):
    rng = np.random.default_rng(seed)
    similar = rng.normal(size=(n, d)) * [1.0, 0.1, 1.0, 0.3][:d]
    dissimilar = rng.normal(size=(n, d)) * [0.2, 2.0, 1.0, 1.0][:d]
    return similar, dissimilar


@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize(("barrier", "shrinkage"), [(0.0, 0.0), (0.7, 0.3)])
def test_mmc_gradient_matches_finite_differences(diagonal, barrier, shrinkage):
    similar, dissimilar = _tiny_pairs()
    obj = _MMCObjective(similar, dissimilar, diagonal, barrier=barrier, shrinkage=shrinkage)
    rng = np.random.default_rng(1)
    if diagonal:
        M0 = rng.uniform(0.5, 2.0, size=4)
        err = check_grad(obj.value, obj.gradient, M0)
    else:
        A = rng.normal(size=(4, 4))
        M0 = A @ A.T + np.eye(4)
        # Symmetric perturbations: compare directional derivatives along random E.
        errs = []
        for _ in range(5):
            E = rng.normal(size=(4, 4))
            E = E + E.T
            h = 1e-6
            fd = (obj.value(M0 + h * E) - obj.value(M0 - h * E)) / (2 * h)
            errs.append(abs(fd - np.sum(obj.gradient(M0) * E)))
        err = max(errs)
    assert err < 1e-5


def test_mmc_diagonal_reaches_the_optimum_of_a_bounded_solver():
    similar, dissimilar = _tiny_pairs()
    w, n_iter, value = _solve_mmc(similar, dissimilar, True, 5000, 1e-10, 0)
    obj = _MMCObjective(similar, dissimilar, True)
    ref = minimize(
        lambda a: (obj.value(a), obj.gradient(a)), obj.start(), jac=True,
        method="L-BFGS-B", bounds=[(0, None)] * 4, options={"ftol": 1e-14, "gtol": 1e-12},
    )
    assert value <= ref.fun + 1e-7
    assert value < obj.value(obj.start())


def test_mmc_full_solution_is_a_fixed_point_of_the_projected_gradient():
    similar, dissimilar = _tiny_pairs()
    M, _, value = _solve_mmc(similar, dissimilar, False, 5000, 1e-10, 0)
    obj = _MMCObjective(similar, dissimilar, False)
    assert value < obj.value(obj.start())
    step = 1e-2
    moved = obj.project(M - step * obj.gradient(M))
    assert np.linalg.norm(moved - M) < 1e-6 * max(1.0, np.linalg.norm(M))
    # Convex: no random PSD perturbation does better.
    rng = np.random.default_rng(0)
    for _ in range(20):
        E = rng.normal(size=(4, 4))
        assert obj.value(obj.project(M + 1e-3 * (E + E.T))) >= value - 1e-10


@pytest.mark.parametrize("diagonal", [False, True])
def test_mmc_barrier_is_full_rank_and_within_its_weight_of_the_optimum(diagonal):
    # The log-det barrier's duality gap: the barrier solution's value of the objective it
    # regularizes is at most `barrier` above the optimum; and large barriers tend to the
    # inverse of the similar-pair scatter.
    similar, dissimilar = _tiny_pairs()
    exact = _MMCObjective(similar, dissimilar, diagonal)
    _, _, optimum = _solve_mmc(similar, dissimilar, diagonal, 5000, 1e-10, 0)
    gaps = []
    for barrier in [0.01, 0.1, 1.0]:
        M, _, _ = _solve_mmc(similar, dissimilar, diagonal, 5000, 1e-10, 0, barrier=barrier)
        eigenvalues = M if diagonal else np.linalg.eigvalsh(M)
        assert eigenvalues.min() > 1e-6 * eigenvalues.max()
        gaps.append(exact.value(M) - optimum)
        assert -1e-9 <= gaps[-1] <= barrier, (barrier, gaps[-1])
    assert gaps == sorted(gaps)
    M, _, _ = _solve_mmc(similar, dissimilar, diagonal, 5000, 1e-10, 0, barrier=1e4)
    inverse = 1.0 / exact.S if diagonal else np.linalg.inv(exact.S)
    cosine = np.sum(M * inverse) / (np.linalg.norm(M) * np.linalg.norm(inverse))
    assert cosine > 0.999


def _standardized_splits(load, seeds):
    X, y = load(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    for seed in seeds:
        yield train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)


def test_mmc_defaults_give_a_useful_knn_metric_where_the_exact_optimum_does_not():
    # Xing et al.'s exact optimum is of low rank and a poor kNN metric on real tables; the
    # default barrier keeps the metric full rank: on digits within 0.01 of the Euclidean
    # 3-NN accuracy (the exact optimum: 0.81 against 0.98), on wine above it.
    X_train, X_test, y_train, y_test = next(_standardized_splits(load_digits, [0]))
    base = _knn(X_train, y_train, X_test, y_test)
    default, exact = MMC(random_state=0), MMC(barrier=0, random_state=0)
    scores = {}
    for name, mmc in [("default", default), ("exact", exact)]:
        mmc.fit(X_train, y_train)
        scores[name] = _knn(mmc.transform(X_train), y_train, mmc.transform(X_test), y_test)
    assert default.n_components_ > 50 and exact.n_components_ < 10
    assert scores["default"] >= base - 0.01 and scores["exact"] <= base - 0.1, (base, scores)

    base, default, exact = [], [], []
    for X_train, X_test, y_train, y_test in _standardized_splits(load_wine, range(5)):
        base.append(_knn(X_train, y_train, X_test, y_test))
        for params, result in [({}, default), ({"barrier": 0}, exact)]:
            mmc = MMC(random_state=0, **params).fit(X_train, y_train)
            result.append(_knn(mmc.transform(X_train), y_train, mmc.transform(X_test), y_test))
    assert np.mean(default) >= np.mean(base) + 0.01, (base, default)
    assert np.mean(exact) < np.mean(base), (base, exact)


def test_mmc_shrinkage_is_ledoit_wolf_with_the_barrier_and_none_without():
    X, y = load_iris(return_X_y=True)
    assert MMC(barrier=0, random_state=0).fit(X, y).shrinkage_ == 0.0
    auto = MMC(random_state=0).fit(X, y)
    assert 0.0 < auto.shrinkage_ < 1.0
    same = MMC(shrinkage=auto.shrinkage_, random_state=0).fit(X, y)
    np.testing.assert_allclose(same.components_, auto.components_)
    assert MMC(barrier=0, shrinkage=0.5, random_state=0).fit(X, y).shrinkage_ == 0.5
    for params in [{"barrier": -1.0}, {"shrinkage": 1.5}, {"shrinkage": "ledoit-wolf"}]:
        with pytest.raises(ValueError, match=next(iter(params))):
            MMC(**params).fit(X, y)


def test_mmc_diagonal_is_diagonal_and_warns_when_stopped_early(noisy):
    X_train, _, y_train, _, _ = noisy
    est = MMC(diagonal=True, random_state=0).fit(X_train, y_train)
    M = est.get_mahalanobis_matrix()
    np.testing.assert_allclose(M, np.diag(np.diag(M)), atol=1e-12)
    assert np.all(np.diag(M) >= 0)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        est = MMC(max_iter=2, random_state=0).fit(X_train, y_train)
    assert est.n_iter_ == 2


@pytest.mark.parametrize("barrier", [0.0, 1.0])
def test_mmc_diagonal_never_accepts_a_worse_step_on_tied_pairs(capsys, barrier):
    # Every iris pair (same class +1, different -1): many dissimilar pairs are tied on some
    # features, where the objective is not smooth. The objective must never increase, and the
    # result must match a multi-start bound-constrained L-BFGS on the same objective: Xing et
    # al.'s exactly (barrier=0), or with the default barrier.
    X, y = load_iris(return_X_y=True)
    i, j = np.triu_indices(len(X), 1)
    pairs = np.stack([X[i], X[j]], axis=1)
    labels = np.where(y[i] == y[j], 1, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mmc = MMC(diagonal=True, barrier=barrier, verbose=1).fit(pairs, labels)
    trace = [float(line.split("objective")[1].split()[0])
             for line in capsys.readouterr().out.splitlines() if "objective" in line]
    assert len(trace) == mmc.n_iter_ and np.all(np.diff(trace) <= 1e-12)

    Z = (pairs[:, 0] - pairs[:, 1]) / X.std(axis=0)
    obj = _MMCObjective(Z[labels == 1], Z[labels == -1], diagonal=True, barrier=barrier,
                        shrinkage=mmc.shrinkage_)

    def exact(w):  # the unsmoothed objective
        value = float(obj.S @ w) - np.log(np.mean(np.sqrt(np.maximum(obj.D @ w, 0.0))))
        return value - obj.weight * np.sum(np.log(w)) if barrier else value

    rng = np.random.default_rng(0)
    best = min(
        minimize(exact, rng.exponential(size=4) + 1e-3, method="L-BFGS-B",
                 bounds=[(1e-9 if barrier else 0, None)] * 4).fun
        for _ in range(20)
    )
    assert mmc.objective_ <= best + 1e-4


# ------------------------------------------------------------------- SDML
@pytest.mark.parametrize("load", [load_iris, load_wine, load_breast_cancer, load_digits])
def test_sdml_fits_the_standard_datasets_with_defaults(load):
    X, y = load(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback, no convergence warning
        est = SDML(random_state=0).fit(X, y)
    assert est.solver_ == "graphical_lasso"
    assert np.all(np.isfinite(est.components_))
    M = est.get_mahalanobis_matrix()
    assert np.linalg.eigvalsh(M).min() >= -1e-8 * np.abs(M).max()


@pytest.mark.parametrize("params", [{"prior": "covariance"}, {"balance_param": 1.5}])
def test_sdml_never_silently_returns_a_metric_that_ignores_the_pairs(params):
    # Well separated blobs: the dissimilar pairs spread more than the prior in every
    # direction, so P + balance_param * K has no positive eigenvalue.
    X, y = make_blobs(random_state=42)
    with pytest.warns(UserWarning, match="no positive eigenvalue"):
        est = SDML(random_state=0, **params).fit(X, y)
    assert 0 < est.balance_param_ < params.get("balance_param", 0.5)
    M = est.get_mahalanobis_matrix()
    assert np.linalg.eigvalsh(M).min() > 0
    assert np.abs(M).max() < 1e3  # not the floored identity scaled by ~1e13
    # The learned metric separates the classes at least as well as the Euclidean one.
    pairs, labels = pairs_from_labels(y, 400, random_state=1)
    diffs = X[pairs[:, 0]] - X[pairs[:, 1]]
    learned = np.sqrt(np.einsum("ij,jk,ik->i", diffs, M, diffs))
    euclid = np.linalg.norm(diffs, axis=1)
    assert (learned[labels == -1].mean() / learned[labels == 1].mean()
            > 0.8 * euclid[labels == -1].mean() / euclid[labels == 1].mean())


def test_sdml_keeps_balance_param_where_it_gives_a_metric():
    X, y = load_iris(return_X_y=True)
    est = SDML(random_state=0).fit(X, y)
    assert est.balance_param_ == est.balance_param


def test_sdml_sparsity_zero_is_the_inverse_and_more_sparsity_gives_sparser_metric():
    X, y = load_wine(return_X_y=True)
    dense = SDML(sparsity_param=0.0, random_state=0).fit(X, y)
    assert dense.solver_ == "inverse"
    sparse = SDML(sparsity_param=0.3, random_state=0).fit(X, y)
    s = X.std(0)

    def zeros(est):  # (near) zero off-diagonal entries of M in standardized units
        M = est.get_mahalanobis_matrix() * np.outer(s, s)
        off = np.abs(M[~np.eye(len(M), dtype=bool)])
        return np.sum(off < 1e-6 * np.abs(M).max())
    assert zeros(sparse) > zeros(dense)


# ------------------------------------------------------------------- RCA
def test_rca_on_digits_is_finite():
    X, y = load_digits(return_X_y=True)
    est = RCA(random_state=0).fit(X, y)
    assert np.all(np.isfinite(est.components_))
    assert np.all(np.isfinite(est.transform(X)))
    assert np.all(est.components_[:, X.std(0) == 0] == 0)  # constant pixels weigh nothing


def test_rca_whitens_the_within_chunklet_covariance():
    X, y = load_iris(return_X_y=True)
    est = RCA(regularization=1e-12).fit(X, chunks=y)  # each class is one chunklet
    W = np.vstack([X[y == c] - X[y == c].mean(0) for c in range(3)])
    C = W.T @ W / len(W)
    L = est.components_
    np.testing.assert_allclose(L @ C @ L.T, np.eye(4), atol=1e-6)
    assert est.n_chunks_ == 3
    est2 = RCA(n_components=2, regularization=1e-12).fit(X, chunks=y)
    np.testing.assert_allclose(est2.components_, L[:2])  # the most discriminative first


def test_rca_chunks_from_labels_are_reproducible_and_disjoint():
    X, y = load_iris(return_X_y=True)
    a = RCA(num_chunks=20, chunk_size=3, random_state=0).fit(X, y)
    b = RCA(num_chunks=20, chunk_size=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.n_chunks_ == 20
    with pytest.warns(UserWarning, match="fewer than num_chunks"):
        c = RCA(num_chunks=500, chunk_size=3, random_state=0).fit(X, y)
    assert c.n_chunks_ == 3 * (50 // 3)


# ------------------------------------------------------------------- LSML
def test_lsml_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    vab, vcd = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    A = rng.normal(size=(5, 5))
    P = A @ A.T + np.eye(5)
    L = rng.normal(size=(5, 5)) + 3 * np.eye(5)

    def f(x):
        return _lsml_objective(x.reshape(5, 5), vab, vcd, P, 0.7)[0]

    def g(x):
        return _lsml_objective(x.reshape(5, 5), vab, vcd, P, 0.7)[1].ravel()

    assert check_grad(f, g, L.ravel()) < 1e-5 * np.linalg.norm(g(L.ravel()))


def _satisfied(est, quads):
    d = lambda a, b: est.pair_distance(np.stack([a, b], axis=1))  # noqa: E731
    return np.mean(d(quads[:, 0], quads[:, 1]) < d(quads[:, 2], quads[:, 3]))


def test_lsml_satisfies_more_comparisons_and_triplets_equal_quadruplets(noisy):
    X_train, _, y_train, _, _ = noisy
    t = triplets_from_labels(y_train, 300, random_state=0)
    quads = X_train[t[:, [0, 1, 0, 2]]]
    est = LSML().fit(quads)
    before = np.mean(
        np.linalg.norm(quads[:, 0] - quads[:, 1], axis=1)
        < np.linalg.norm(quads[:, 2] - quads[:, 3], axis=1)
    )
    assert _satisfied(est, quads) > before + 0.1
    from_triplets = LSML().fit(X_train[t])
    np.testing.assert_allclose(from_triplets.components_, est.components_, atol=1e-8)
    from_index = LSML().fit(t, preprocessor=X_train)
    np.testing.assert_allclose(from_index.components_, est.components_, atol=1e-8)
    with pytest.warns(ConvergenceWarning):
        LSML(max_iter=1).fit(quads)


# ------------------------------------------------------------------- priors
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


# ------------------------------------------------------------------- get_metric
def test_get_metric_squared():
    from sklearn.decomposition import PCA

    from skdml.base import EmbeddingDistance

    X, y = load_iris(return_X_y=True)
    lsml = LSML(random_state=0).fit(X, y)
    metric = lsml.get_metric()
    diff = X[0] - X[60]
    assert metric(X[0], X[60], squared=True) == pytest.approx(
        diff @ lsml.get_mahalanobis_matrix() @ diff, rel=1e-10)
    assert metric(X[0], X[60], squared=True) == pytest.approx(metric(X[0], X[60]) ** 2,
                                                              rel=1e-12)
    assert metric(X[0], X[60], squared=False) == metric(X[0], X[60])
    embedding = EmbeddingDistance(PCA(n_components=2).fit(X))
    z = embedding.transformer.transform(X[[0, 60]])
    assert embedding(X[0], X[60], squared=True) == pytest.approx(np.sum((z[0] - z[1]) ** 2))
    with pytest.raises(ValueError, match="one sample of 4 features"):
        metric(X[0], X[0:2], squared=True)


# ------------------------------------------------------------------- SCML
def test_scml_weights_are_sparse_nonnegative_and_improve_the_objective(noisy):
    X_train, _, y_train, _, _ = noisy
    t = triplets_from_labels(y_train, 500, random_state=0)
    est = SCML(random_state=0).fit(X_train[t])
    assert np.all(est.weights_ >= 0)
    assert 0 < np.count_nonzero(est.weights_) < len(est.weights_)
    assert est.objective_ < 0.5  # w = 0 scores 1
    np.testing.assert_allclose(
        est.get_mahalanobis_matrix(), (est.basis_.T * est.weights_) @ est.basis_, atol=1e-8
    )
    again = SCML(random_state=0).fit(X_train[t])
    np.testing.assert_array_equal(again.weights_, est.weights_)
    with pytest.warns(ConvergenceWarning):
        SCML(max_iter=20, output_iter=10, random_state=0).fit(X_train[t])


def test_scml_accepts_a_given_basis():
    X, y = load_iris(return_X_y=True)
    basis = np.eye(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = SCML(basis=basis, random_state=0).fit(X, y)
    directions = est.basis_ / np.linalg.norm(est.basis_, axis=1, keepdims=True)
    np.testing.assert_allclose(directions, basis)  # the same directions, rescaled
    M = est.get_mahalanobis_matrix()
    np.testing.assert_allclose(M, np.diag(est.weights_ / X.std(0) ** 2), atol=1e-10)


# ------------------------------------------------------------------- awkward data
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


# ------------------------------------------------------------------- bad input
def _fitted(cls):
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # RCA: 150 samples, < 100 chunklets
        return cls(random_state=0).fit(X, y), X, y


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


@pytest.mark.parametrize(
    "chunks, match",
    [
        (np.zeros(149, dtype=int), "one chunk id per sample"),
        (np.arange(150), "two or more samples"),
        (np.full(150, -2), "chunk ids >= 0"),
        (np.full(150, 0.5), "integer chunk ids"),
    ],
)
def test_rca_rejects_bad_chunks_and_keeps_its_state(chunks, match):
    est, X, _ = _fitted(RCA)
    before = est.components_.copy()
    with pytest.raises(ValueError, match=match):
        est.fit(X, chunks=chunks)
    np.testing.assert_array_equal(est.components_, before)
    with pytest.raises(ValueError, match="chunk_size=3"):
        RCA(chunk_size=3).fit(X[:4], [0, 0, 1, 1])


def test_mmc_rejects_dissimilar_pairs_of_identical_points():
    X = np.array([[0.0, 1.0], [0.0, 1.0], [2.0, 0.0], [3.0, 0.0]])
    pairs = np.stack([X[[0, 2]], X[[1, 3]]], axis=1)
    with pytest.raises(ValueError, match="identical points"):
        MMC().fit(pairs, [-1, 1])


def test_sdml_falls_back_to_the_dense_solution_with_a_warning(monkeypatch):
    import skdml.linear.sdml as sdml_module

    calls = []

    def failing_graphical_lasso(*args, **kwargs):
        calls.append(1)
        raise FloatingPointError("Non SPD result: the system is too ill-conditioned")

    monkeypatch.setattr(sdml_module, "graphical_lasso", failing_graphical_lasso)
    X, y = load_wine(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="too ill-conditioned"):
        est = SDML(random_state=0).fit(X, y)
    assert len(calls) == 4  # the floor raised three times before giving up
    assert est.solver_ == "inverse" and np.all(np.isfinite(est.components_))


def test_scml_neighbor_triplets_join_near_samples():
    from skdml.linear.scml import _neighbor_triplets

    X, y = load_iris(return_X_y=True)
    X = np.vstack([X, X[:5]])  # duplicates
    y = np.r_[y, y[:5]]
    t = _neighbor_triplets(X, y, 3, 10)
    assert len(t) == len(X) * 30
    assert np.all(y[t[:, 0]] == y[t[:, 1]]) and np.all(y[t[:, 0]] != y[t[:, 2]])
    assert np.all(t[:, 0] != t[:, 1])
    Z = (X - X.mean(0)) / X.std(0)
    d = lambda a, b: np.linalg.norm(Z[a] - Z[b], axis=1)  # noqa: E731
    # A genuine neighbor is among the 3 nearest of its class.
    a = 7
    same = np.flatnonzero((y == y[a]) & (np.arange(len(y)) != a))
    nearest3 = np.sort(d(np.full(len(same), a), same))[2]
    assert np.all(d(t[t[:, 0] == a, 0], t[t[:, 0] == a, 1]) <= nearest3 + 1e-12)
    with pytest.raises(ValueError, match="at least two samples"):
        _neighbor_triplets(X[:3], np.arange(3), 3, 10)


def test_scml_random_triplets_from_labels(noisy):
    X_train, X_test, y_train, y_test, base = noisy
    est = SCML(triplets="random", n_constraints=2000, random_state=0).fit(X_train, y_train)
    score = _knn(est.transform(X_train), y_train, est.transform(X_test), y_test)
    assert score >= base + 0.15


@pytest.mark.parametrize("cls", [MMC, LSML, SCML])
def test_verbose_prints_progress(cls, capsys):
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = cls(verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert f"[{cls.__name__}] iteration" in out and "objective" in out
    assert est.n_iter_ >= 1


def test_scml_says_so_when_no_step_beats_the_zero_metric():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=100, n_classes=3, n_features=20, n_informative=20,
                               n_redundant=0, random_state=42)
    with pytest.warns(ConvergenceWarning, match="every learned distance is 0.*increase gamma"):
        scml = SCML(gamma=5e-3, random_state=42, max_iter=1000).fit(X, y)
    assert not np.any(scml.components_)
