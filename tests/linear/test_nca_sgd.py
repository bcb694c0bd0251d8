"""NCA's minibatch solver: the same objective estimated on minibatches, bounded memory."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdml import NCA
from skdml.linear import nca as nca_module


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _cv_accuracy(learner, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cross_val_score(make_pipeline(learner, KNeighborsClassifier(3)), X, y,
                               cv=3).mean()


def test_sgd_reaches_the_full_batch_accuracy(wine):
    X, y = wine
    full = _cv_accuracy(NCA(random_state=0), X, y)
    sgd = _cv_accuracy(NCA(solver="sgd", batch_size=32, random_state=0), X, y)
    euclidean = cross_val_score(KNeighborsClassifier(3), X, y, cv=3).mean()
    assert sgd >= full - 0.02
    assert sgd > euclidean


def test_sgd_is_deterministic_under_random_state(wine):
    X, y = wine
    a = NCA(solver="sgd", batch_size=40, random_state=3).fit(X, y).components_
    b = NCA(solver="sgd", batch_size=40, random_state=3).fit(X, y).components_
    c = NCA(solver="sgd", batch_size=40, random_state=4).fit(X, y).components_
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_sgd_never_builds_more_than_a_batch(wine, monkeypatch):
    X, y = wine
    seen = []
    real = nca_module._NCALoss

    def spy(Xb, yb):
        seen.append(len(Xb))
        return real(Xb, yb)

    monkeypatch.setattr(nca_module, "_NCALoss", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        NCA(solver="sgd", batch_size=50, max_iter=3, tol=0.0).fit(X, y)
    assert max(seen) == 50 and len(seen) == 3 * -(-len(X) // 50)


def test_sgd_warns_when_it_stops_on_the_cap(wine):
    X, y = wine
    with pytest.warns(ConvergenceWarning, match="max_iter=2 epochs"):
        NCA(solver="sgd", batch_size=50, max_iter=2, tol=0.0).fit(X, y)


@pytest.mark.parametrize("params, message", [
    (dict(solver="sgd", batch_size=500), "batch_size=500 is larger than the number of "
                                         "samples, 178"),
    (dict(batch_size=50), "applies to solver='sgd' only"),
    (dict(solver="sgd", batch_size=1), "batch_size"),
    (dict(solver="sgd", learning_rate=0.0), "learning_rate"),
])
def test_bad_batch_settings_raise_before_fitting(wine, params, message):
    X, y = wine
    learner = NCA(**params)
    with pytest.raises(ValueError, match=message):
        learner.fit(X, y)
    assert not hasattr(learner, "components_")


def test_full_batch_out_of_memory_names_the_way_out(monkeypatch):
    """At 3 x 10^4 samples the full objective's n x n softmax does not fit in 12 GB
    (bench_scale_up --learner nca): the error says to use solver='sgd'."""

    def no_memory(fun, x0, **kwargs):
        raise MemoryError("Unable to allocate 6.71 GiB")

    monkeypatch.setattr(nca_module, "minimize_lbfgs", no_memory)
    X, y = load_wine(return_X_y=True)
    learner = NCA()
    with pytest.raises(MemoryError, match="solver='sgd'"):
        learner.fit(X, y)
    assert not hasattr(learner, "components_")
