"""NCA, MLKR, LFDA and MCML: quality, gradients, awkward input, bad input."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline

import skdml.linear._softmax as softmax_module
from skdml.linear._psd import components_from_psd
from skdml.linear.lda import LDA
from skdml.linear.lfda import LFDA
from skdml.linear.mcml import MCML, _MCMLObjective
from skdml.linear.mlkr import MLKR, _MLKRLoss
from skdml.linear._softmax import neighbor_softmax
from skdml.linear.nca import NCA, _NCALoss

CLASSIFIERS = [
    lambda: NCA(random_state=0),
    lambda: LFDA(),
    lambda: MCML(random_state=0),
]
CLASSIFIER_IDS = ["NCA", "LFDA", "MCML"]


def _noisy_classes(seed=0, n=240, n_noise=20):
    """3 classes that are well apart in 2 features, drowned by 20 loud noise features."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    angles = 2 * np.pi * y / 3
    signal = np.column_stack([np.cos(angles), np.sin(angles)]) * 2 + rng.normal(0, 0.4, (n, 2))
    noise = rng.normal(0, 2.0, (n, n_noise))
    return np.hstack([signal, noise]), y


def _knn_score(Z_train, y_train, Z_test, y_test):
    return KNeighborsClassifier(3).fit(Z_train, y_train).score(Z_test, y_test)


# --------------------------------------------------------------------------- quality


@pytest.mark.parametrize("make", CLASSIFIERS, ids=CLASSIFIER_IDS)
def test_beats_euclidean_knn_on_noisy_features(make):
    X, y = _noisy_classes()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    euclidean = _knn_score(X_tr, y_tr, X_te, y_te)
    learner = make().fit(X_tr, y_tr)
    learned = _knn_score(learner.transform(X_tr), y_tr, learner.transform(X_te), y_te)
    # The raw metric is dominated by the noise (about 0.5); the learned one must find the
    # two informative features: at least 25 points of accuracy better, and above 0.9.
    assert euclidean < 0.7
    assert learned >= euclidean + 0.25
    assert learned >= 0.9


def test_mlkr_beats_euclidean_knn_regression():
    rng = np.random.default_rng(0)
    X = np.hstack([rng.uniform(-2, 2, (400, 2)), rng.normal(0, 1.0, (400, 6))])
    y = np.sin(2 * X[:, 0]) + X[:, 1] + rng.normal(0, 0.05, 400)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, random_state=0)

    def mse(Z_tr, Z_te):
        pred = KNeighborsRegressor(5).fit(Z_tr, y_tr).predict(Z_te)
        return np.mean((pred - y_te) ** 2)

    euclidean = mse(X_tr, X_te)
    mlkr = MLKR(random_state=0).fit(X_tr, y_tr)
    learned = mse(mlkr.transform(X_tr), mlkr.transform(X_te))
    # The noise features dominate raw distances (Euclidean MSE about 0.58); the learned
    # metric must cut the kNN regression error at least threefold.
    assert learned <= euclidean / 3
    # and the learned weights sit on the two relevant features
    weights = np.linalg.norm(mlkr.components_, axis=0)
    assert weights[:2].min() > 3 * weights[2:].max()


def test_mlkr_multioutput_target():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 4))
    Y = np.column_stack([X[:, 0], X[:, 0] ** 2])
    mlkr = MLKR(n_components=2, random_state=0).fit(X, Y)
    weights = np.linalg.norm(mlkr.components_, axis=0)
    assert weights[0] > 3 * weights[1:].max()
    assert 0 <= mlkr.objective_ < 0.5


def test_nca_on_digits_beats_euclidean():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X[:400], y[:400], test_size=0.5,
                                              random_state=0, stratify=y[:400])
    nca = NCA(n_components=16, random_state=0).fit(X_tr, y_tr)
    learned = _knn_score(nca.transform(X_tr), y_tr, nca.transform(X_te), y_te)
    assert learned >= _knn_score(X_tr, y_tr, X_te, y_te) - 0.01
    assert learned >= 0.95


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("dense_fraction", [-1.0, 2.0], ids=["dense", "sparse"])
@pytest.mark.parametrize("scale", [0.3, 2.0])
@pytest.mark.parametrize("target", ["nca", "mlkr", "mlkr2"])
def test_gradient_matches_finite_differences(monkeypatch, dense_fraction, scale, target):
    monkeypatch.setattr(softmax_module, "_DENSE_FRACTION", dense_fraction)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(25, 5))
    if target == "nca":
        loss = _NCALoss(X, rng.integers(0, 3, 25))
    else:
        loss = _MLKRLoss(X, rng.normal(size=(25,) if target == "mlkr" else (25, 2)))
    L0 = scale * rng.normal(size=(3, 5))
    numeric = approx_fprime(L0.ravel(), lambda w: loss(w.reshape(3, 5))[0], 1e-7)
    analytic = loss(L0)[1].ravel()
    np.testing.assert_allclose(analytic, numeric, rtol=0, atol=1e-5 * np.abs(numeric).max())


def test_mcml_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(30, 4))
    y = rng.integers(0, 3, 30)
    y[0] = 3  # a lone sample: its row has no p_0 and must drop out of the objective
    objective = _MCMLObjective(Z, y)
    A = rng.normal(size=(4, 4))
    M = A @ A.T + np.eye(4)
    analytic = objective(components_from_psd(M))[1]
    numeric = np.zeros((4, 4))
    h = 1e-6
    for i in range(4):
        for j in range(4):
            E = np.zeros((4, 4))
            E[i, j] += h / 2
            E[j, i] += h / 2
            f_plus = objective(components_from_psd(M + E))[0]
            f_minus = objective(components_from_psd(M - E))[0]
            numeric[i, j] = (f_plus - f_minus) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=0, atol=1e-6 * np.abs(numeric).max())


def test_sparse_softmax_equals_dense(monkeypatch):
    rng = np.random.default_rng(0)
    Z = 4 * rng.normal(size=(80, 3))  # far apart: most softmax terms below the cutoff
    monkeypatch.setattr(softmax_module, "_DENSE_FRACTION", 2.0)
    P_sparse, lse_sparse = neighbor_softmax(Z)
    assert P_sparse.nnz < 0.5 * 80 * 80
    monkeypatch.setattr(softmax_module, "_DENSE_FRACTION", -1.0)
    P_dense, lse_dense = neighbor_softmax(Z)
    np.testing.assert_allclose(P_sparse.toarray(), P_dense, atol=1e-15)
    np.testing.assert_allclose(lse_sparse, lse_dense, rtol=1e-13)
    np.testing.assert_allclose(P_dense.sum(axis=1), 1.0)
    assert np.all(np.diag(P_dense) == 0)


def test_softmax_is_stable_for_huge_distances():
    Z = np.array([[0.0], [1e3], [2e3], [1e4]])
    P, lse = neighbor_softmax(Z)
    P = P.toarray() if hasattr(P, "toarray") else P
    assert np.all(np.isfinite(P)) and np.all(np.isfinite(lse))
    np.testing.assert_allclose(P.sum(axis=1), 1.0)


# --------------------------------------------------------------------------- LFDA


@pytest.mark.parametrize("embedding_type", ["weighted", "orthonormalized", "plain"])
def test_lfda_on_digits_is_real_and_finite(embedding_type):
    # metric-learn's LFDA raises "Complex data not supported" here (constant pixels make
    # the local within-class scatter singular).
    X, y = load_digits(return_X_y=True)
    lfda = LFDA(embedding_type=embedding_type).fit(X, y)
    assert np.isrealobj(lfda.components_)
    assert np.all(np.isfinite(lfda.components_))
    assert lfda.components_.shape == (lfda.n_components_, 64)
    assert np.all(np.diff(lfda.eigenvalues_) <= 1e-9)
    if embedding_type == "orthonormalized":
        L = lfda.components_
        np.testing.assert_allclose(L @ L.T, np.eye(L.shape[0]), atol=1e-10)


@pytest.mark.parametrize("k", [1, 3, 7, 50])
def test_lfda_on_features_with_few_distinct_values(k):
    # Three columns drawn from {0..3}, {0, 1}, {0, 1}: every sample has hundreds of
    # duplicates, so its k-th nearest neighbor is at distance 0. A zero local scale cut every
    # edge to the other points and left a zero within-class scatter (LinAlgError in eigh).
    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(0, 4, 1760), rng.integers(0, 2, 1760), rng.integers(0, 2, 1760)]
    y = (X[:, 0] + rng.normal(0, 1, 1760) > 1.5).astype(int)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    lfda = LFDA(k=k).fit(X, y)
    assert np.all(np.isfinite(lfda.components_)) and np.all(np.isfinite(lfda.eigenvalues_))
    assert np.linalg.matrix_rank(lfda.components_) == 3


def test_lfda_classes_of_repeated_points():
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 5, axis=0)
    lfda = LFDA().fit(X, [0] * 5 + [1] * 5)
    Z = lfda.transform(X)
    assert np.all(np.isfinite(Z)) and np.ptp(Z[:5], axis=0).max() == 0
    assert np.linalg.norm(Z[0] - Z[5]) > 0


def test_lfda_keeps_multimodal_classes_apart():
    # Class 0 has two far-apart modes around class 1, with the same mean: LDA's global
    # criterion sees no between-class direction, LFDA's local one finds the axis of modes.
    rng = np.random.default_rng(0)
    modes = [rng.normal([-6, 0], 0.5, (60, 2)), rng.normal([6, 0], 0.5, (60, 2)),
             rng.normal([0, 0], 0.5, (60, 2))]
    X = np.hstack([np.vstack(modes), rng.normal(0, 3, (180, 3))])
    y = np.r_[np.zeros(120), np.ones(60)].astype(int)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    lfda = LFDA(n_components=1).fit(X_tr, y_tr)
    lda = LDA(n_components=1).fit(X_tr, y_tr)
    local = _knn_score(lfda.transform(X_tr), y_tr, lfda.transform(X_te), y_te)
    global_ = _knn_score(lda.transform(X_tr), y_tr, lda.transform(X_te), y_te)
    assert local >= 0.97
    assert local >= global_ + 0.15
    assert np.argmax(np.abs(lfda.components_[0])) == 0


# --------------------------------------------------------------------------- convergence


@pytest.mark.parametrize("cls", [NCA, MLKR, MCML])
def test_convergence_warning_and_n_iter(cls):
    X, y = _noisy_classes(n=90, n_noise=3)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        est = cls(max_iter=1).fit(X, y)
    assert est.n_iter_ == 1
    est = cls(max_iter=500).fit(X, y)
    assert 1 <= est.n_iter_ < 500


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", [NCA, MLKR, MCML])
def test_verbose_prints_progress(cls, capsys):
    X, y = _noisy_classes(n=60, n_noise=2)
    cls(max_iter=3, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert f"[{cls.__name__}] iteration" in out
    assert "objective" in out


def test_mcml_is_convex_two_starts_agree():
    X, y = load_iris(return_X_y=True)
    a = MCML(init="auto", max_iter=1000, tol=1e-9).fit(X, y)
    b = MCML(init="random", random_state=3, max_iter=1000, tol=1e-9).fit(X, y)
    assert abs(a.objective_ - b.objective_) < 1e-3 * abs(a.objective_)


# --------------------------------------------------------------------------- init


@pytest.mark.parametrize("init", ["auto", "pca", "lda", "identity", "random"])
def test_nca_inits(init):
    X, y = load_iris(return_X_y=True)
    nca = NCA(n_components=2, init=init, random_state=0).fit(X, y)
    assert nca.components_.shape == (2, 4)
    assert _knn_score(nca.transform(X), y, nca.transform(X), y) > 0.9


def test_init_array_and_random_state():
    X, y = load_iris(return_X_y=True)
    L0 = np.eye(3, 4)
    assert NCA(init=L0).fit(X, y).components_.shape == (3, 4)
    assert MLKR(init=L0).fit(X, y.astype(float)).components_.shape == (3, 4)
    assert MCML(init=L0).fit(X, y).components_.shape[1] == 4
    a = NCA(init="random", random_state=1).fit(X, y).components_
    b = NCA(init="random", random_state=1).fit(X, y).components_
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: NCA(init=np.eye(2, 3)), "init must have shape"),
        (lambda: NCA(n_components=2, init=np.eye(3, 4)), "init must have shape"),
        (lambda: NCA(n_components=3, init="lda"), "n_classes - 1"),
        (lambda: MCML(init=np.eye(2, 3)), "init must have shape"),
        (lambda: NCA(init=np.full((4, 4), np.nan)), "NaN"),
    ],
)
def test_bad_init(make, message):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=message):
        make().fit(X, y)


# --------------------------------------------------------------------------- awkward input


@pytest.mark.parametrize("make", CLASSIFIERS, ids=CLASSIFIER_IDS)
def test_string_labels_and_pipeline(make):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = make().fit(X, names)
    assert list(est.classes_) == list(names[[0, 50, 100]])
    pipe = make_pipeline(make(), KNeighborsClassifier(3))
    assert pipe.fit(X, names).score(X, names) > 0.9


@pytest.mark.parametrize("make", CLASSIFIERS, ids=CLASSIFIER_IDS)
def test_classes_with_two_members(make):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3))
    y = np.array([0, 0, 1, 1, 2, 2])
    est = make().fit(X, y)
    assert np.all(np.isfinite(est.components_))


@pytest.mark.parametrize("make", CLASSIFIERS, ids=CLASSIFIER_IDS)
def test_constant_duplicated_features_and_scales(make):
    X, y = load_iris(return_X_y=True)
    X = np.column_stack([X, np.full(len(X), 7.0), X[:, 0], 1e4 * X[:, 1]])
    est = make().fit(X, y)
    Z = est.transform(X)
    assert np.all(np.isfinite(Z))
    assert _knn_score(Z, y, Z, y) > 0.9


@pytest.mark.parametrize(
    "make", CLASSIFIERS + [lambda: MLKR(random_state=0)], ids=CLASSIFIER_IDS + ["MLKR"]
)
def test_more_features_than_samples(make):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 50))
    y = np.repeat([0, 1], 10)
    X[y == 1, 0] += 3
    est = make()
    est.fit(X, y.astype(float) if isinstance(est, MLKR) else y)
    Z = est.transform(X)
    assert np.all(np.isfinite(Z)) and Z.shape[0] == 20


def test_mlkr_integer_target_is_a_number():
    X, y = load_iris(return_X_y=True)
    # integers are a legitimate numeric target (documented); no error
    assert MLKR(n_components=2).fit(X, y).components_.shape == (2, 4)


def test_mlkr_constant_target_is_harmless():
    X, _ = load_iris(return_X_y=True)
    mlkr = MLKR().fit(X, np.ones(len(X)))
    assert mlkr.objective_ < 1e-12
    assert np.all(np.isfinite(mlkr.components_))


# --------------------------------------------------------------------------- bad input


def _bad_fits():
    X, y = load_iris(return_X_y=True)
    continuous = np.linspace(0, 1, len(X))
    return [
        ("NCA", NCA, X, continuous, "classification"),
        ("LFDA", LFDA, X, continuous, "classification"),
        ("MCML", MCML, X, continuous, "classification"),
        ("MLKR-strings", MLKR, X, np.array(["a", "b", "c"])[y], "real-valued target"),
        ("MLKR-objects", MLKR, X, np.array([None, 1, 2], dtype=object)[y], "real-valued"),
        ("NCA-single", NCA, X, np.zeros(len(X), int), "at least 2 distinct classes"),
        ("LFDA-single", LFDA, X, np.zeros(len(X), int), "at least 2 distinct classes"),
        ("MCML-single", MCML, X, np.zeros(len(X), int), "at least 2 distinct classes"),
        ("MCML-lone", MCML, X[:5], np.arange(5), "two or more samples"),
        ("NCA-ncomp", lambda: NCA(n_components=3), X[:, :2], y, "n_components=3"),
        ("MLKR-ncomp", lambda: MLKR(n_components=3), X[:, :2], continuous, "n_components=3"),
        ("LFDA-ncomp", lambda: LFDA(n_components=3), X[:, :2], y, "n_components=3"),
        ("MCML-ncomp", lambda: MCML(n_components=3), X[:, :2], y, "n_components=3"),
        ("MLKR-length", MLKR, X, continuous[:-1], "samples"),
        ("NCA-nan", NCA, np.where(X > 7, np.nan, X), y, "NaN"),
    ]


@pytest.mark.parametrize("case", _bad_fits(), ids=lambda c: c[0])
def test_bad_input_raises_and_keeps_fitted_state(case):
    _, make, X_bad, y_bad, message = case
    X, y = load_iris(return_X_y=True)
    est = make()
    est.fit(X, y.astype(float) if isinstance(est, MLKR) else y)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(est).items()}
    with pytest.raises(ValueError, match=message):
        est.fit(X_bad, y_bad)
    after = vars(est)
    assert before.keys() == after.keys()
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[key], value)
        else:
            assert after[key] == value


def test_grid_search_over_nca_pipeline():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(NCA(random_state=0, max_iter=30), KNeighborsClassifier(3))
    search = GridSearchCV(pipe, {"nca__n_components": [1, 2]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.9


# --------------------------------------------------------------------------- shared L-BFGS


def test_lbfgs_driver_calls_back_once_per_iteration():
    from skdml.linear._optim import minimize_lbfgs

    target = np.arange(6.0).reshape(2, 3)
    seen = []
    L, n_iter, value = minimize_lbfgs(
        lambda L: (np.sum((L - target) ** 2), 2 * (L - target)), np.zeros((2, 3)),
        max_iter=50, tol=1e-10, name="Test", callback=lambda L, k: seen.append((L.shape, k)),
    )
    np.testing.assert_allclose(L, target, atol=1e-6)
    assert seen == [((2, 3), k) for k in range(1, n_iter + 1)]


@pytest.mark.parametrize("make", [lambda: NCA(max_iter=3, verbose=1),
                                  lambda: MCML(max_iter=3, verbose=1)], ids=["NCA", "MCML"])
def test_verbose_prints_one_line_per_iteration_in_one_format(make, capsys):
    X, y = load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning):
        model = make().fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    name = type(model).__name__
    assert len(lines) == model.n_iter_
    assert all(line.startswith(f"[{name}] iteration ") and " objective " in line
               and line.endswith("s") for line in lines)
