"""skdml.compat.metric_learn: metric-learn 0.7's names and signatures on skdml's learners.

Each adapter is checked to be a renaming, nothing more: fitted with metric-learn's
parameters it gives exactly the ``components_`` of the skdml learner it maps onto, fitted
with the renamed parameters on the same data.
"""

import inspect
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression

import skdml
import skdml.compat.metric_learn as ml
from skdml.metrics import verification_roc_auc


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def tuples(iris):
    """Pairs (labeled), triplets and quadruplets of iris, built as metric-learn users do."""
    X, y = iris
    constraints = ml.Constraints(y)
    a, b, c, d = constraints.positive_negative_pairs(40, random_state=0)
    pairs, pair_labels = ml.wrap_pairs(X, (a, b, c, d))
    triplets = constraints.generate_knntriplets(X, k_genuine=2, k_impostor=2)
    quadruplets = np.column_stack([a, b, c, d])
    return X, y, pairs, pair_labels, triplets, quadruplets


# metric-learn 0.7.0's constructor signatures: parameter names in order.
SIGNATURES = {
    "Covariance": "preprocessor",
    "ITML": "gamma max_iter tol prior verbose preprocessor random_state convergence_threshold",
    "ITML_Supervised": "gamma max_iter tol n_constraints prior verbose preprocessor "
                       "random_state num_constraints convergence_threshold",
    "LFDA": "n_components k embedding_type preprocessor",
    "LMNN": "init n_neighbors min_iter max_iter learn_rate regularization convergence_tol "
            "verbose preprocessor n_components random_state k",
    "LSML": "tol max_iter prior verbose preprocessor random_state",
    "LSML_Supervised": "tol max_iter prior n_constraints weights verbose preprocessor "
                       "random_state num_constraints",
    "MLKR": "n_components init tol max_iter verbose preprocessor random_state",
    "MMC": "max_iter max_proj tol init diagonal diagonal_c verbose preprocessor random_state "
           "convergence_threshold",
    "MMC_Supervised": "max_iter max_proj tol n_constraints init diagonal diagonal_c verbose "
                      "preprocessor random_state num_constraints convergence_threshold",
    "NCA": "init n_components max_iter tol verbose preprocessor random_state",
    "RCA": "n_components preprocessor",
    "RCA_Supervised": "n_components n_chunks chunk_size preprocessor random_state num_chunks",
    "SCML": "beta basis n_basis gamma max_iter output_iter batch_size verbose preprocessor "
            "random_state",
    "SCML_Supervised": "k_genuine k_impostor beta basis n_basis gamma max_iter output_iter "
                       "batch_size verbose preprocessor random_state",
    "SDML": "balance_param sparsity_param prior verbose preprocessor random_state",
    "SDML_Supervised": "balance_param sparsity_param prior n_constraints verbose preprocessor "
                       "random_state num_constraints",
}


def test_import_is_light():
    code = "import sys, skdml.compat.metric_learn; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_names_and_signatures():
    learners = sorted(n for n in ml.__all__ if n not in ("Constraints", "wrap_pairs"))
    assert learners == sorted(SIGNATURES)
    for name, expected in SIGNATURES.items():
        cls = getattr(ml, name)
        assert list(inspect.signature(cls).parameters) == expected.split(), name
        assert clone(cls()).get_params() == cls().get_params()


# --- supervised adapters: metric-learn's parameters -> skdml's ---------------------------
SUPERVISED = [
    (ml.Covariance(), skdml.Covariance()),
    (ml.LFDA(n_components=2, k=5, embedding_type="orthonormalized"),
     skdml.LFDA(n_components=2, k=5, embedding_type="orthonormalized")),
    (ml.LMNN(n_neighbors=4, max_iter=30, convergence_tol=1e-4, n_components=3,
             regularization=0.3, random_state=0),
     skdml.LMNN(n_neighbors=4, max_iter=30, tol=1e-4, n_components=3, regularization=0.3,
                random_state=0)),
    (ml.LMNN(max_iter=20), skdml.LMNN(max_iter=20, tol=1e-3, init="auto")),
    (ml.NCA(n_components=2, max_iter=20, tol=1e-4, init="pca", random_state=0),
     skdml.NCA(n_components=2, max_iter=20, tol=1e-4, init="pca", random_state=0)),
    (ml.ITML_Supervised(n_constraints=30, max_iter=50, gamma=0.5, random_state=0),
     skdml.ITML(constraints="random", n_constraints=60, max_iter=50, gamma=0.5,
                random_state=0)),
    (ml.SDML_Supervised(n_constraints=30, balance_param=0.1, prior="covariance",
                        random_state=0),
     skdml.SDML(n_constraints=30, balance_param=0.1, prior="covariance", random_state=0)),
    (ml.MMC_Supervised(n_constraints=30, diagonal=True, max_iter=50, tol=1e-4,
                       random_state=0),
     skdml.MMC(n_constraints=30, diagonal=True, max_iter=50, tol=1e-4, random_state=0)),
    (ml.LSML_Supervised(n_constraints=50, max_iter=50, random_state=0),
     skdml.LSML(n_constraints=50, max_iter=50, tol=1e-3, random_state=0)),
    (ml.RCA_Supervised(n_chunks=20, chunk_size=3, n_components=3, random_state=0),
     skdml.RCA(num_chunks=20, chunk_size=3, n_components=3, random_state=0)),
    (ml.SCML_Supervised(k_genuine=2, k_impostor=3, n_basis=40, max_iter=300, random_state=0),
     skdml.SCML(k_genuine=2, k_impostor=3, n_basis=40, max_iter=300, random_state=0)),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("adapter, native", SUPERVISED, ids=lambda e: repr(e)[:40])
def test_supervised_adapter_is_the_skdml_learner(adapter, native, iris):
    X, y = iris
    adapter = clone(adapter).fit(X, y)
    native = clone(native).fit(X, y)
    assert type(adapter.skdml_estimator_) is type(native)
    assert_array_equal(adapter.components_, native.components_)
    assert_array_equal(adapter.transform(X), native.transform(X))
    assert_array_equal(adapter.get_mahalanobis_matrix(), native.get_mahalanobis_matrix())
    assert adapter.n_features_in_ == 4


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_components, rule", [(2, "lda"), (3, "pca"), (None, "identity")])
def test_lmnn_init_auto_is_metric_learn_s_rule(n_components, rule, iris):
    # iris: 4 features, 3 classes, 150 samples. 'lda' when n_components <= min(4, 3 - 1),
    # else 'pca' when n_components < min(4, 150), else 'identity'.
    X, y = iris
    auto = skdml.LMNN(init="auto", n_components=n_components, max_iter=5).fit(X, y)
    chosen = skdml.LMNN(init=rule, n_components=n_components, max_iter=5).fit(X, y)
    assert_array_equal(auto.components_, chosen.components_)
    others = [r for r in ("lda", "pca", "identity") if r != rule and not (
        r == "lda" and (n_components or 4) > 2)]
    for other in others:
        different = skdml.LMNN(init=other, n_components=n_components, max_iter=5).fit(X, y)
        assert not np.array_equal(auto.components_, different.components_)


def test_mlkr_adapter_is_the_skdml_learner():
    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    adapter = ml.MLKR(n_components=2, init="pca", max_iter=20).fit(X, y)
    native = skdml.MLKR(n_components=2, init="pca", max_iter=20).fit(X, y)
    assert_array_equal(adapter.components_, native.components_)


@pytest.mark.parametrize("adapter, old, new", [
    (ml.LMNN, {"k": 4}, {"n_neighbors": 4}),
    (ml.RCA_Supervised, {"num_chunks": 20}, {"n_chunks": 20}),
    (ml.ITML_Supervised, {"num_constraints": 20}, {"n_constraints": 20}),
    (ml.ITML_Supervised, {"convergence_threshold": 1e-2}, {"tol": 1e-2}),
])
def test_deprecated_spellings_of_metric_learn_0_6(adapter, old, new, iris):
    X, y = iris
    params = {"random_state": 0, "max_iter": 20} if adapter is not ml.RCA_Supervised else {
        "random_state": 0}
    with pytest.warns(FutureWarning, match=f'"{next(iter(old))}" parameter has been renamed'):
        renamed = adapter(**params, **old).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # none with the current spelling
        current = adapter(**params, **new).fit(X, y)
    assert_array_equal(renamed.components_, current.components_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_partial_labels_of_constraint_samplers(iris):
    """metric-learn's *_Supervised learners that sample constraints take -1 as unlabeled."""
    X, y = iris
    partial = y.copy()
    partial[::4] = -1
    labeled = partial >= 0
    for adapter in (ml.RCA_Supervised(n_chunks=20, random_state=0),
                    ml.ITML_Supervised(max_iter=20, random_state=0)):
        with_unlabeled = clone(adapter).fit(X, partial)
        without = clone(adapter).fit(X[labeled], partial[labeled])
        assert_array_equal(with_unlabeled.components_, without.components_)
    # LMNN has no unlabeled samples, in metric-learn either: -1 is a class
    lmnn = ml.LMNN(max_iter=5).fit(X, partial)
    assert lmnn.skdml_estimator_.classes_.tolist() == [-1, 0, 1, 2]


# --- weakly supervised adapters ------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("adapter, native", [
    (ml.ITML(max_iter=50, gamma=2.0, random_state=0),
     skdml.ITML(max_iter=50, gamma=2.0, random_state=0)),
    (ml.SDML(balance_param=0.1, prior="covariance"),
     skdml.SDML(balance_param=0.1, prior="covariance")),
    (ml.MMC(max_iter=50, diagonal=True), skdml.MMC(max_iter=50, diagonal=True, tol=1e-3)),
], ids=lambda e: type(e).__name__)
def test_pair_adapter_is_the_skdml_learner(adapter, native, tuples):
    X, _, pairs, labels, _, _ = tuples
    adapter = clone(adapter).fit(pairs, labels)
    native = clone(native).fit(pairs, labels)
    assert_array_equal(adapter.components_, native.components_)
    assert adapter.threshold_ == native.threshold_
    assert_array_equal(adapter.predict(pairs), native.predict(pairs))
    # metric-learn's conventions: decision_function is -distance, score is ROC AUC
    assert_array_equal(adapter.decision_function(pairs), -native.pair_distance(pairs))
    assert adapter.score(pairs, labels) == verification_roc_auc(labels,
                                                                native.decision_function(pairs))


def test_itml_bounds_at_fit_are_skdml_bounds(tuples):
    X, y, pairs, labels, _, _ = tuples
    adapter = ml.ITML(max_iter=30, random_state=0).fit(pairs, labels, bounds=[0.5, 8.0])
    native = skdml.ITML(max_iter=30, random_state=0, bounds=(0.5, 8.0)).fit(pairs, labels)
    assert_array_equal(adapter.components_, native.components_)
    assert adapter.bounds_ == (0.5, 8.0)
    supervised = ml.ITML_Supervised(max_iter=30, random_state=0).fit(X, y, bounds=(0.5, 8.0))
    assert supervised.bounds_ == (0.5, 8.0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_tuple_adapters_are_the_skdml_learners(tuples):
    X, y, _, _, triplets, quadruplets = tuples
    adapter = ml.LSML(max_iter=30).fit(X[quadruplets])
    native = skdml.LSML(max_iter=30, tol=1e-3).fit(X[quadruplets])
    assert_array_equal(adapter.components_, native.components_)
    adapter = ml.SCML(n_basis=20, max_iter=300, random_state=0).fit(X[triplets])
    native = skdml.SCML(basis="triplet_diffs", n_basis=20, max_iter=300,
                        random_state=0).fit(X[triplets])
    assert_array_equal(adapter.components_, native.components_)
    chunks = ml.Constraints(y).chunks(n_chunks=15, chunk_size=3, random_state=0)
    adapter = ml.RCA(n_components=2).fit(X, chunks)
    native = skdml.RCA(n_components=2).fit(X, chunks=chunks)
    assert_array_equal(adapter.components_, native.components_)


# --- metric-learn's preprocessor -------------------------------------------------------------
@pytest.mark.parametrize("as_callable", [False, True])
def test_preprocessor_array_or_callable(as_callable, tuples):
    X, y, pairs, labels, _, _ = tuples
    a, b, c, d = ml.Constraints(y).positive_negative_pairs(40, random_state=0)
    index_pairs = np.vstack([np.column_stack([a, b]), np.column_stack([c, d])])
    preprocessor = (lambda idx: X[idx]) if as_callable else X
    indexed = ml.ITML(max_iter=30, random_state=0, preprocessor=preprocessor)
    indexed.fit(index_pairs, labels)
    formed = ml.ITML(max_iter=30, random_state=0).fit(pairs, labels)
    assert_array_equal(indexed.components_, formed.components_)
    assert_array_equal(indexed.pair_distance(index_pairs), formed.pair_distance(pairs))
    assert_array_equal(indexed.predict(index_pairs), formed.predict(pairs))
    rows = np.array([3, 70, 140])
    assert_array_equal(indexed.transform(rows), formed.transform(X[rows]))
    nca = ml.NCA(max_iter=10, random_state=0, preprocessor=preprocessor)
    nca.fit(np.arange(len(X)), y)
    assert_array_equal(nca.components_,
                       ml.NCA(max_iter=10, random_state=0).fit(X, y).components_)


def test_preprocessor_of_another_type_is_refused(iris):
    X, y = iris
    with pytest.raises(ValueError, match="preprocessor must be None, an array-like"):
        ml.NCA(preprocessor="X").fit(X, y)


def test_pair_learner_refuses_samples(iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"ITML is fitted on pairs .*ITML_Supervised"):
        ml.ITML().fit(X, y)


# --- pair classifier methods ---------------------------------------------------------------
def test_thresholds(tuples):
    X, _, pairs, labels, _, _ = tuples
    itml = ml.ITML(max_iter=30, random_state=0).fit(pairs, labels)
    native = skdml.ITML(max_iter=30, random_state=0).fit(pairs, labels)
    for strategy in ("max_tpr", "max_tnr"):
        itml.calibrate_threshold(pairs, labels, strategy=strategy, min_rate=0.9)
        native.calibrate_threshold(pairs, labels, strategy=strategy, min_rate=0.9)
        assert itml.threshold_ == native.threshold_
    itml.calibrate_threshold(pairs, labels, strategy="f_beta", beta=0)  # precision
    native.calibrate_threshold(pairs, labels, strategy="f_beta", beta=0.0)
    assert itml.threshold_ == native.threshold_
    itml.calibrate_threshold(pairs, labels, strategy="f_beta", beta=2.0)
    native.calibrate_threshold(pairs, labels, strategy="f_beta", beta=2.0)
    assert itml.threshold_ == native.threshold_
    calibrated = ml.ITML(max_iter=30, random_state=0).fit(
        pairs, labels, calibration_params={"strategy": "f_beta", "beta": 2.0})
    assert calibrated.threshold_ == native.threshold_
    assert itml.set_threshold(0.0).threshold_ == 0.0
    assert set(itml.predict(pairs)) == {-1}
    with pytest.raises(ValueError, match="must be a real number"):
        itml.set_threshold("high")


@pytest.mark.parametrize("params, error, match", [
    ({"strategy": "max_tnr"}, ValueError, "min_rate must be a number in"),
    ({"strategy": "max_tpr", "min_rate": 1.5}, ValueError, "min_rate must be a number in"),
    ({"strategy": "f_beta", "beta": -1.0}, ValueError, "beta must be a real number"),
    ({"strategy": "f_beta", "beta": "2"}, ValueError, "beta must be a real number"),
    ({"strategy": "roc"}, ValueError, "strategy must be one of"),
])
def test_calibration_errors_leave_the_learner_unchanged(params, error, match, tuples):
    _, _, pairs, labels, _, _ = tuples
    itml = ml.ITML(max_iter=30, random_state=0).fit(pairs, labels)
    threshold, components = itml.threshold_, itml.components_
    with pytest.raises(error, match=match):
        itml.calibrate_threshold(pairs, labels, **params)
    with pytest.raises(error, match=match):
        itml.fit(pairs, labels, calibration_params=params)
    assert itml.threshold_ == threshold and itml.components_ is components


# --- metric-learn's methods on every learner ------------------------------------------------
def test_get_metric_pair_score_and_score_pairs(iris):
    X, y = iris
    nca = ml.NCA(max_iter=10, random_state=0).fit(X, y)
    metric = nca.get_metric()
    d = metric(X[0], X[1])
    assert metric(X[0], X[1], squared=True) == pytest.approx(d * d)
    assert pickle.loads(pickle.dumps(metric))(X[0], X[1]) == d
    pairs = np.stack([X[:5], X[1:6]], axis=1)
    assert_allclose(nca.pair_distance(pairs)[0], d)
    assert_array_equal(nca.pair_score(pairs), -nca.pair_distance(pairs))
    with pytest.warns(FutureWarning, match="score_pairs"):
        assert_array_equal(nca.score_pairs(pairs), nca.pair_distance(pairs))


def test_components_set_by_hand_are_used(iris):
    X, y = iris
    lfda = ml.LFDA().fit(X, y)
    lfda.components_ = np.eye(4)[:2]
    assert_array_equal(lfda.transform(X), X[:, :2])
    assert lfda.get_metric()(X[0], X[1]) == pytest.approx(np.linalg.norm(X[0, :2] - X[1, :2]))


def test_unfitted_adapter():
    from sklearn.exceptions import NotFittedError

    itml = ml.ITML()
    assert not hasattr(itml, "components_") and not hasattr(itml, "threshold_")
    with pytest.raises(NotFittedError):
        itml.transform(np.zeros((2, 4)))


# --- what skdml does not have: a clear error, and the fitted state kept ---------------------
@pytest.mark.parametrize("adapter, params, match", [
    (ml.MMC_Supervised, {"diagonal_c": 2.0}, "diagonal_c=2.0"),
    (ml.SCML_Supervised, {"gamma": 0.1}, "gamma=0.1.*skdml.SCML"),
    (ml.LSML_Supervised, {"weights": np.ones(10)}, "weights"),
], ids=lambda p: repr(p)[-40:])
def test_gaps_raise_not_implemented(adapter, params, match, iris):
    X, y = iris
    learner = adapter(**({"max_iter": 20} if "max_iter" in adapter().get_params() else {}))
    before = learner.fit(X, y).skdml_estimator_
    with pytest.raises(NotImplementedError, match=match):
        learner.set_params(**params).fit(X, y)
    assert learner.skdml_estimator_ is before


# --- parameters that only steer metric-learn's optimizer: ignored, with a warning -----------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("adapter, params, match", [
    (ml.LMNN, {"learn_rate": 1e-3}, r"learn_rate=0.001\) is ignored.*no learning rate"),
    (ml.LMNN, {"min_iter": 5}, r"min_iter=5\) is ignored"),
    (ml.MMC_Supervised, {"max_proj": 50}, r"max_proj=50\) is ignored"),
    (ml.MMC_Supervised, {"init": "covariance"}, r"init='covariance'\) is ignored"),
], ids=lambda p: repr(p)[-40:])
def test_optimizer_parameters_are_ignored_with_a_warning(adapter, params, match, iris):
    X, y = iris
    base = {"max_iter": 20, "random_state": 0}
    expected = adapter(**base).fit(X, y).components_
    with pytest.warns(UserWarning, match=match):
        learner = adapter(**base, **params).fit(X, y)
    np.testing.assert_allclose(learner.components_, expected)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("adapter", [ml.ITML_Supervised, ml.SDML_Supervised, ml.LSML_Supervised])
@pytest.mark.parametrize("prior", ["random", "array"])
def test_random_and_array_priors_pass_through(adapter, prior, iris):
    X, y = iris
    prior = np.diag([1.0, 2.0, 3.0, 4.0]) if prior == "array" else prior
    fitted = adapter(prior=prior, max_iter=30, random_state=0) if "max_iter" in \
        adapter().get_params() else adapter(prior=prior, random_state=0)
    fitted.fit(X, y)
    native = fitted._new_skdml().fit(X, y)
    assert_array_equal(fitted.components_, native.components_)
    if isinstance(prior, np.ndarray):
        assert_array_equal(fitted.skdml_estimator_.prior, prior)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("as_indices", [False, True])
def test_tuple_classifiers_are_skdml_s(as_indices, tuples):
    X, _, _, _, triplets, quadruplets = tuples
    preprocessor = X if as_indices else None

    def given(idx):  # index tuples with a preprocessor, or the tuples themselves
        return idx if as_indices else X[idx]

    scml = ml.SCML(n_basis=10, max_iter=100, random_state=0, preprocessor=preprocessor)
    scml.fit(given(triplets))
    lsml = ml.LSML(max_iter=20, preprocessor=preprocessor).fit(given(quadruplets))
    for adapter, idx in ((scml, triplets), (lsml, quadruplets)):
        native = adapter.skdml_estimator_
        margins = adapter.decision_function(given(idx))
        assert_array_equal(margins, native.decision_function(X[idx]))
        assert_array_equal(adapter.predict(given(idx)), np.where(margins > 0, 1, -1))
        assert adapter.score(given(idx)) == np.mean(margins > 0)
    # metric-learn's sign convention: d(a, n) - d(a, p), d(c, d) - d(a, b)
    t, q = X[triplets], X[quadruplets]
    assert_allclose(scml.decision_function(given(triplets)),
                    scml.pair_distance(t[:, [0, 2]]) - scml.pair_distance(t[:, [0, 1]]))
    assert_allclose(lsml.decision_function(given(quadruplets)),
                    lsml.pair_distance(q[:, [2, 3]]) - lsml.pair_distance(q[:, [0, 1]]))
    with pytest.raises(NotImplementedError, match="weights"):
        ml.LSML().fit(X[quadruplets], weights=np.ones(len(quadruplets)))


# --- Constraints -------------------------------------------------------------------------------
def test_constraints_skip_unlabeled_samples(iris):
    X, y = iris
    partial = y.copy()
    partial[::3] = -1
    constraints = ml.Constraints(partial)
    a, b, c, d = constraints.positive_negative_pairs(30, random_state=0)
    assert len(a) == len(c) == 30
    for first, second, same in ((a, b, True), (c, d, False)):
        assert np.all(partial[first] >= 0) and np.all(partial[second] >= 0)
        assert np.all((partial[first] == partial[second]) == same)
    chunks = constraints.chunks(n_chunks=10, chunk_size=4, random_state=0)
    assert np.all(chunks[partial < 0] == -1)
    ids = np.unique(chunks[chunks >= 0])
    assert len(ids) == 10
    for i in ids:
        members = partial[chunks == i]
        assert len(members) == 4 and len(set(members)) == 1
    triplets = constraints.generate_knntriplets(X, k_genuine=2, k_impostor=3)
    anchor, positive, negative = triplets.T
    assert np.all(partial[triplets] >= 0)
    assert np.all(partial[anchor] == partial[positive])
    assert np.all(partial[anchor] != partial[negative])
    pairs, labels = ml.wrap_pairs(X, (a, b, c, d))
    assert pairs.shape == (60, 2, 4) and labels.tolist() == [1] * 30 + [-1] * 30


def test_knn_triplets_warn_when_classes_are_too_small():
    """metric-learn warns when a class is too small for k_genuine (or the other classes for
    k_impostor) and takes every neighbour there is; so does the adapter."""
    X = np.arange(14, dtype=float).reshape(7, 2) ** 2
    y = np.array([1, 1, 1, 2, 2, 2, -1])  # the unlabeled sample takes no part
    constraints = ml.Constraints(y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # enough neighbours: no warning
        assert len(constraints.generate_knntriplets(X, k_genuine=2, k_impostor=3)) == 36
    with pytest.warns(UserWarning) as record:
        triplets = constraints.generate_knntriplets(X, k_genuine=3, k_impostor=3)
    assert [str(w.message).split(": ", 1)[1] for w in record] == [
        f"class {c} has 3 samples, too few for k_genuine=3 genuine neighbours each; each of "
        f"its samples gets 2." for c in (1, 2)]
    assert len(triplets) == 36  # 6 anchors x 2 genuine x 3 impostors
    with pytest.warns(UserWarning) as record:
        constraints.generate_knntriplets(X, k_genuine=1, k_impostor=4)
    assert [str(w.message).split(": ", 1)[1] for w in record] == [
        f"the classes other than {c} have 3 samples, too few for k_impostor=4 impostors "
        f"each; each sample of class {c} gets 3." for c in (1, 2)]


@pytest.mark.parametrize("name", ["ITML", "MMC", "SDML"])
def test_pair_adapters_are_classifiers_that_cross_validate(name):
    """As metric-learn's: a binary classifier of pairs, so CV stratifies and roc_auc
    reads classes_ = [-1, 1]."""
    from sklearn.base import is_classifier
    from sklearn.model_selection import StratifiedKFold, check_cv, cross_val_score

    from skdml.datasets import make_pairs

    X, y = load_iris(return_X_y=True)
    pairs, y_pairs = make_pairs(X, y, 300, random_state=0)
    est = getattr(ml, name)()
    assert is_classifier(est)
    assert isinstance(check_cv(3, y_pairs, classifier=is_classifier(est)), StratifiedKFold)
    scores = cross_val_score(est, pairs, y_pairs, cv=3, scoring="roc_auc")
    assert np.all(scores > 0.8)
    np.testing.assert_array_equal(est.fit(pairs, y_pairs).classes_, [-1, 1])
