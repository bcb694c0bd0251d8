"""LMNN on larger data: target-neighbor passes, the minibatch solver, and what stops a fit."""

import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skdml.linear import lmnn as lmnn_module
from skdml.linear.lmnn import LMNN, _Objective, _target_neighbors


def knn_score(model, X_train, y_train, X_test, y_test):
    return KNeighborsClassifier(n_neighbors=3).fit(
        model.transform(X_train), y_train).score(model.transform(X_test), y_test)


def random_problem(seed, n_samples, n_features, n_classes, n_components, scale=1.0):
    """Gaussian samples of random classes, their 3 target neighbors, and a random ``L``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    y = rng.integers(0, n_classes, n_samples)
    targets = _target_neighbors(X, y, 3, np.arange(n_classes))
    return X, y, targets, scale * rng.standard_normal((n_components, n_features))


@pytest.fixture(scope="module")
def noisy_classes():
    """Four classes in 4 informative dimensions plus 12 of noise: the Euclidean target
    neighbors are poor (3-NN 0.74), a learned metric much better (0.80 in one pass)."""
    X, y = make_classification(n_samples=1500, n_features=16, n_informative=4, n_redundant=0,
                               n_classes=4, n_clusters_per_class=1, class_sep=1.2,
                               random_state=0)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=500, random_state=0, stratify=y)


def test_sgd_reaches_lbfgs_accuracy(noisy_classes):
    X_train, X_test, y_train, y_test = noisy_classes
    euclidean = KNeighborsClassifier(n_neighbors=3).fit(X_train, y_train).score(X_test, y_test)
    full = LMNN(n_passes=1).fit(X_train, y_train)
    sgd = LMNN(solver="sgd", batch_size=200, n_passes=1, random_state=0).fit(X_train, y_train)
    full_score = knn_score(full, X_train, y_train, X_test, y_test)
    sgd_score = knn_score(sgd, X_train, y_train, X_test, y_test)
    assert full_score >= euclidean + 0.05  # there is something to learn ...
    assert sgd_score >= full_score - 0.01  # ... and the minibatches learn it as well
    assert sgd.n_iter_ < sgd.max_iter  # it converged


@pytest.mark.parametrize("n_impostors", [None, 1, 2])
def test_minibatch_of_all_samples_is_the_exact_objective(n_impostors):
    # With batch_size = n_samples a step's anchors and reference samples are all samples:
    # the estimate and its gradient are then the objective and gradient of the full solver,
    # with every impostor (scaled by 1) or with each anchor's nearest ones.
    X, y, targets, L = random_problem(0, 40, 5, 3, 4, scale=0.7)
    exact = _Objective(X, y, targets, 0.3, n_impostors)
    exact.refresh(L)
    value, grad = exact.evaluate(L)
    minibatch = lmnn_module._StochasticObjective(X, y, targets, 0.3, 40, 0.01, 0, n_impostors)
    estimate, estimate_grad = minibatch.step(L)
    assert estimate == pytest.approx(value, rel=1e-10)
    np.testing.assert_allclose(estimate_grad, grad, rtol=1e-8, atol=1e-10)
    assert minibatch.n_impostors == exact.n_impostors


def test_minibatch_counts_each_anchors_nearest_impostors():
    # n_impostors=2: each anchor's hinge terms are over its two nearest other-class
    # reference samples inside the margin, found among the step's reference samples.
    X, y, targets, L = random_problem(2, 80, 3, 4, 3)
    nearest = lmnn_module._StochasticObjective(X, y, targets, 0.5, 50, 0.01, 0, 2)
    every = lmnn_module._StochasticObjective(X, y, targets, 0.5, 50, 0.01, 0)
    nearest.step(L)
    every.step(L)  # the same random_state: the same anchors and reference samples
    rows, cols = nearest.rows[:nearest.n_impostors], nearest.cols[:nearest.n_impostors]
    assert np.bincount(rows).max() == 2 < np.bincount(every.rows[:every.n_impostors]).max()
    A, R = every.anchors.order[:50], every.reference.order[:50]
    Z = X @ L.T
    for i in np.unique(rows):
        others = R[y[R] != y[A[i]]]
        d = np.sum((Z[others] - Z[A[i]]) ** 2, axis=1)
        np.testing.assert_array_equal(np.sort(R[cols[rows == i]]),
                                      np.sort(others[np.argsort(d)[:2]]))


def test_nearest_impostors_beat_every_impostor_on_overlapping_classes():
    # Ten classes of two clusters in 10 informative and 10 noise dimensions overlap: every
    # sample has many impostors inside the margin, and counting them all lets the push term
    # outweigh the pull term (the paper's objective, n_impostors=None). The minibatch
    # solver's default counts each sample's 3 nearest ones among its reference samples.
    X, y = make_classification(n_samples=5000, n_features=20, n_informative=10,
                               n_redundant=0, n_classes=10, n_clusters_per_class=2,
                               class_sep=2.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=1000,
                                                        random_state=0, stratify=y)
    euclidean = KNeighborsClassifier(n_neighbors=3).fit(X_train, y_train).score(X_test, y_test)
    score = {}
    for n_impostors in ["auto", None]:
        lmnn = LMNN(solver="sgd", n_impostors=n_impostors, n_passes=1, random_state=0)
        score[n_impostors] = knn_score(lmnn.fit(X_train, y_train), X_train, y_train, X_test,
                                       y_test)
    assert score["auto"] >= euclidean + 0.08  # measured: 0.906 against 0.792
    assert score["auto"] >= score[None] + 0.04  # measured: 0.842


def test_collapse_to_zero_warns():
    # Labels drawn independently of the features: no direction holds the nearest impostors
    # off, so with a bounded push (n_impostors) the objective is lowest near L = 0. The fit
    # says so, and names the fix; every impostor counted keeps L at its scale, silently.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5))
    y = rng.integers(0, 3, 300)
    with pytest.warns(UserWarning, match=r"shrank to .* n_impostors=None \(here 3\)"):
        lmnn = LMNN(solver="sgd", random_state=0).fit(X, y)
    assert np.linalg.norm(lmnn.components_) < 0.01 * np.sqrt(5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        lmnn = LMNN(solver="sgd", n_impostors=None, random_state=0).fit(X, y)
    assert np.linalg.norm(lmnn.components_) > 1.0


@pytest.mark.parametrize("solver, expected", [("lbfgs", None), ("gd", None), ("sgd", 3)])
def test_auto_impostors(solver, expected):
    assert LMNN(solver=solver)._n_impostors() == expected
    assert LMNN(solver=solver, n_impostors=5)._n_impostors() == 5
    assert LMNN(solver=solver, n_impostors=None)._n_impostors() is None


def test_minibatch_impostor_buffers_grow():
    # The scan writes the impostor pairs into preallocated buffers and is rerun with larger
    # ones when they overflow: a one-pair buffer gives the same estimate and gradient.
    X, y, targets, L = random_problem(1, 60, 4, 3, 4)
    roomy = lmnn_module._StochasticObjective(X, y, targets, 0.5, 30, 0.01, 0)
    tight = lmnn_module._StochasticObjective(X, y, targets, 0.5, 30, 0.01, 0)
    tight._pairs_buffers(1)
    value, grad = roomy.step(L)
    tight_value, tight_grad = tight.step(L)
    assert tight.n_impostors > 1
    assert len(tight.rows) >= tight.n_impostors
    assert tight_value == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(tight_grad, grad, rtol=1e-12)


def test_targets_from_a_pool_of_every_classmate_are_exact():
    # solver='sgd' re-chooses target neighbors among each sample's pool of candidates; a
    # pool holding every same-class sample gives exactly the nearest same-class samples.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 5))
    y = np.repeat([0, 1, 2], 30)
    pool = _target_neighbors(X, y, 3, np.arange(3), n_search=29)
    assert pool.shape == (90, 29)
    np.testing.assert_array_equal(pool[:, :3], _target_neighbors(X, y, 3, np.arange(3)))
    Z = X @ rng.standard_normal((5, 5))
    targets = np.empty((90, 3), dtype=np.intp)
    lmnn_module._nearest_in_pool(Z, pool, targets)
    np.testing.assert_array_equal(targets, _target_neighbors(Z, y, 3, np.arange(3)))


def test_targets_from_a_small_pool_stay_in_it():
    # A pool smaller than the class: the targets are the pool's nearest members in the
    # metric, -1 where the pool has fewer members than n_neighbors.
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((6, 2))
    pool = np.array([[1, 2, -1], [0, 2, 3], [0, 1, -1], [1, 0, 2], [5, -1, -1],
                     [4, -1, -1]])
    targets = np.empty((6, 2), dtype=np.intp)
    lmnn_module._nearest_in_pool(Z, pool, targets)
    for i in range(6):
        members = pool[i][pool[i] >= 0]
        nearest = members[np.argsort(((Z[members] - Z[i]) ** 2).sum(axis=1), kind="stable")]
        expected = np.full(2, -1)
        expected[:min(2, len(nearest))] = nearest[:2]
        np.testing.assert_array_equal(targets[i], expected)


def test_sgd_is_deterministic_under_random_state(noisy_classes):
    X_train, _, y_train, _ = noisy_classes
    fit = lambda seed: LMNN(solver="sgd", batch_size=100, n_passes=1, max_iter=4,
                            random_state=seed).fit(X_train, y_train).components_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a, b, c = fit(3), fit(3), fit(4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)  # the seed drives the minibatches


def test_sgd_memory_is_bounded_by_batch_size():
    # 16000 samples: a distance matrix would take n^2 * 8 = 2 GB, one row block of
    # n * batch_size * 8 = 25.6 MB. The minibatch solver allocates a few batch_size^2 arrays
    # (320 kB here) besides copies of the data (1 MB each) and the target search, whose
    # tiles take 2 MiB at most and whose result, each sample's pool of candidate targets
    # (n * 10 * n_neighbors of them) with their distances, takes 16 bytes per candidate.
    n, batch_size = 16000, 200
    X, y = make_classification(n_samples=n, n_features=8, n_informative=4, n_classes=4,
                               random_state=0)
    lmnn = LMNN(solver="sgd", batch_size=batch_size, n_passes=1, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        LMNN(solver="sgd", batch_size=10, n_passes=1, max_iter=1).fit(X[:200], y[:200])  # JIT
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            lmnn.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    pool = n * lmnn_module._POOL * 3 * 16
    assert peak < 0.4 * n * batch_size * 8 + pool
    # The full-batch solver on the same data keeps candidate impostor pairs: far more.
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            LMNN(n_passes=1, max_iter=3).fit(X, y)
        _, full_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert full_peak > 2 * peak


@pytest.mark.parametrize(
    "params, match",
    [
        ({"solver": "sgd", "batch_size": 151}, r"batch_size=151 is larger than the number "
                                               r"of samples, 150"),
        ({"batch_size": 50}, r"batch_size=50 applies to solver='sgd' only"),
        ({"solver": "gd", "batch_size": 50}, r"solver='gd'"),
        ({"solver": "sgd", "batch_size": 0}, "batch_size"),
        ({"solver": "sgd", "learning_rate": 0.0}, "learning_rate"),
        ({"n_passes": 0}, "n_passes"),
        ({"n_passes": "many"}, "n_passes"),
        ({"n_impostors": 0}, "n_impostors"),
        ({"n_impostors": "many"}, "n_impostors"),
    ],
)
def test_bad_minibatch_and_pass_parameters(params, match):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=match):
        LMNN(**params).fit(X, y)


def test_batch_size_equal_to_n_samples_is_full():
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lmnn = LMNN(solver="sgd", batch_size=150, max_iter=2, random_state=0).fit(X, y)
    assert np.all(np.isfinite(lmnn.components_))


def test_passes_lower_the_objective(noisy_classes):
    # Each pass re-chooses the target neighbors as the nearest same-class samples under the
    # metric learned so far: the objective with those targets only goes down.
    X_train, _, y_train, _ = noisy_classes
    classes = np.unique(y_train)

    def objective_after(n_passes):
        L = LMNN(n_passes=n_passes).fit(X_train, y_train).components_
        targets = _target_neighbors(X_train @ L.T, y_train, 3, classes)
        objective = _Objective(X_train, y_train, targets, 0.5)
        objective.refresh(L)
        return objective.evaluate(L)[0]

    one, three = objective_after(1), objective_after(3)
    assert three < 0.95 * one


def test_passes_stop_at_a_fixed_point():
    # One feature: every metric LMNN can learn scales the line, so the nearest same-class
    # samples stay the same; the second pass finds nothing to change and the fit stops.
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, 30), rng.normal(3, 1, 30)])[:, None]
    y = np.repeat([0, 1], 30)
    lmnn = LMNN(n_passes=10).fit(X, y)
    assert lmnn.n_passes_ == 1
    assert lmnn.validation_scores_.shape == (0,)


def test_auto_passes_hold_out_a_validation_split(monkeypatch, noisy_classes):
    # Above the threshold, n_passes='auto' holds samples out and keeps the best pass.
    X_train, X_test, y_train, y_test = noisy_classes
    monkeypatch.setattr(lmnn_module, "_AUTO_PASSES_ABOVE", 500)
    lmnn = LMNN(random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        lmnn.fit(X_train, y_train)
    scores = lmnn.validation_scores_
    assert len(scores) == lmnn.n_passes_ > 1
    assert np.all((0 <= scores) & (scores <= 1))
    # It stopped on two passes in a row without a better score (or on a fixed point).
    assert lmnn.n_passes_ < lmnn_module._AUTO_MAX_PASSES
    single = LMNN(n_passes=1).fit(X_train, y_train)
    assert knn_score(lmnn, X_train, y_train, X_test, y_test) >= (
        knn_score(single, X_train, y_train, X_test, y_test) - 0.01)
    # Same seed, same split, same metric.
    again = LMNN(random_state=0).fit(X_train, y_train)
    np.testing.assert_array_equal(again.components_, lmnn.components_)


# ------------------------------------------------------------------------------------------
# Every way a fit can stop on a cap warns; converged fits do not.
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["lbfgs", "gd", "sgd"])
def test_max_iter_cap_warns_for_every_solver(solver):
    X, y = load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="max_iter=1 "):
        lmnn = LMNN(solver=solver, max_iter=1, random_state=0).fit(X, y)
    assert lmnn.n_iter_ == 1


def test_max_iter_cap_in_a_later_pass_warns(noisy_classes):
    X_train, _, y_train, _ = noisy_classes
    with pytest.warns(ConvergenceWarning, match=r"in \d+ of its 2 passes"):
        LMNN(n_passes=2, max_iter=2).fit(X_train, y_train)


def test_auto_passes_keep_the_start_when_no_pass_beats_it(monkeypatch, noisy_classes):
    # The validation split scores the starting metric first; passes that all score below it
    # are discarded: the start is kept, and a warning names the cause and the fix.
    X_train, _, y_train, _ = noisy_classes
    monkeypatch.setattr(lmnn_module, "_AUTO_PASSES_ABOVE", 500)
    scores = iter([0.9, 0.8, 0.85, 0.7, 0.6])
    monkeypatch.setattr(lmnn_module._Passes, "_validation_score", lambda self, L: next(scores))
    lmnn = LMNN(solver="sgd", init="identity", random_state=0)
    with pytest.warns(UserWarning, match=r"no pass beat the starting metric.*0\.9000.*"
                                         r"0\.8500.*smaller regularization"):
        lmnn.fit(X_train, y_train)
    np.testing.assert_array_equal(lmnn.components_, np.eye(X_train.shape[1]))
    np.testing.assert_allclose(lmnn.validation_scores_, [0.8, 0.85, 0.7, 0.6])


def test_kept_start_is_not_also_called_still_improving(monkeypatch, noisy_classes):
    # Ten passes that keep improving but never reach the start: the start is kept, and the
    # fit does not also claim that the validation accuracy was still improving.
    X_train, _, y_train, _ = noisy_classes
    monkeypatch.setattr(lmnn_module, "_AUTO_PASSES_ABOVE", 500)
    scores = iter([0.95] + [0.5 + 0.04 * p for p in range(10)])
    monkeypatch.setattr(lmnn_module._Passes, "_validation_score", lambda self, L: next(scores))
    monkeypatch.setattr(lmnn_module, "_n_changed", lambda old, new: 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lmnn = LMNN(solver="sgd", init="identity", max_iter=2, random_state=0).fit(
            X_train, y_train)
    messages = [str(w.message) for w in caught]
    assert lmnn.n_passes_ == 10
    assert any("no pass beat the starting metric" in m for m in messages)
    assert not any("still improving" in m for m in messages)


def test_auto_passes_cap_warns(monkeypatch, noisy_classes):
    X_train, _, y_train, _ = noisy_classes
    monkeypatch.setattr(lmnn_module, "_AUTO_PASSES_ABOVE", 500)
    monkeypatch.setattr(lmnn_module, "_AUTO_MAX_PASSES", 2)
    # Two passes can neither reach the patience of two passes without improvement nor,
    # here, a fixed point: the fit stops on the cap.
    with pytest.warns(ConvergenceWarning, match="ran all 2 passes of n_passes='auto'"):
        lmnn = LMNN(random_state=0).fit(X_train, y_train)
    assert lmnn.n_passes_ == 2


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_no_warning_when_converged(solver, noisy_classes):
    X_train, _, y_train, _ = noisy_classes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        lmnn = LMNN(solver=solver, n_passes=2, random_state=0).fit(X_train, y_train)
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert lmnn.n_passes_ <= 2


def test_full_batch_out_of_memory_names_the_way_out(monkeypatch):
    # a machine without the memory for the active set: the error says to use solver='sgd'
    def no_memory(self, L, max_passes):
        raise MemoryError("Unable to allocate 1.42 GiB")

    monkeypatch.setattr(lmnn_module._Passes, "__call__", no_memory)
    X, y = load_iris(return_X_y=True)
    learner = LMNN()
    with pytest.raises(MemoryError, match="solver='sgd'"):
        learner.fit(X, y)
    assert not hasattr(learner, "components_")
