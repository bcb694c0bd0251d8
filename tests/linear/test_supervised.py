"""What the supervised linear learners share, each test run over several of them
(NCA, LFDA, MCML, MLKR, LDA, KISSME): beating Euclidean kNN, awkward but legal input, bad
input that leaves a fitted learner as it was."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from skdml import KISSME, LDA
from skdml.linear.lfda import LFDA
from skdml.linear.mcml import MCML
from skdml.linear.mlkr import MLKR
from skdml.linear.nca import NCA

from .conftest import _knn_score, _noisy_classes, _noisy_iris


CLASSIFIERS = [
    lambda: NCA(random_state=0),
    lambda: LFDA(),
    lambda: MCML(random_state=0),
]
CLASSIFIER_IDS = ["NCA", "LFDA", "MCML"]


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


@pytest.mark.parametrize("cls", [LDA, KISSME])
def test_supervised_learners_beat_euclidean_on_noisy_features(cls):
    X_train, X_test, y_train, y_test = _noisy_iris()
    base = _knn_score(X_train, y_train, X_test, y_test)
    est = cls().fit(X_train, y_train)
    learned = _knn_score(est.transform(X_train), y_train, est.transform(X_test), y_test)
    assert learned >= base + 0.1, (base, learned)
