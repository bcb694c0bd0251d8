import inspect

import numpy as np
import pytest
from sklearn.base import BaseEstimator

import skdml


def public_estimators():
    """Every public estimator class of skdml, discovered from its public names.

    Looks in ``skdml.__all__`` and in the ``__all__`` of the public submodules it names
    (``skdml.hashing.HammingNeighbors``, ...), so a new estimator cannot be forgotten.
    """
    found = []
    for name in skdml.__all__:
        obj = getattr(skdml, name)
        candidates = [obj]
        if inspect.ismodule(obj):
            candidates = [getattr(obj, n) for n in getattr(obj, "__all__", [])]
        for cand in candidates:
            if isinstance(cand, type) and issubclass(cand, BaseEstimator) and cand not in found:
                found.append(cand)
    return found


def make_instance(cls, **params):
    """A default instance, seeded where it takes a random_state.

    Deep learners train for a few epochs only: the checks test the estimator's behaviour,
    not the quality of its metric (tests/test_deep_learners.py does that).
    """
    est = cls(**params)
    defaults = est.get_params()
    if "random_state" in defaults:
        est.set_params(random_state=0)
    if "max_epochs" in defaults and "max_epochs" not in params:
        est.set_params(max_epochs=3)
    return est


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_worker():
    """torch, BLAS and OpenMP on one thread per test process: pytest-xdist already runs one
    process per core, and nested thread pools on a busy machine are slower than one thread
    by one to two orders of magnitude (t-SNE: 0.2 s against 2.6 s to 90 s)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(autouse=True)
def _torch_stays_on_one_thread():
    """Pin torch to one thread again before every test: numba's OpenMP layer, once started
    beside threadpoolctl's limits, resets torch's OpenMP thread count to the core count, and
    a float32 network trained on two threads is not bit-for-bit repeatable (the reduction
    order changes), which sklearn's idempotence checks see."""
    import torch

    torch.set_num_threads(1)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


#: Learners of an ordinal target: one real-valued or integer label per sample, ordered (not
#: a vector, and with at least two distinct values).
ORDINAL = {"LSDML", "ODL"}

#: Learners of a continuous target (a real-valued y is what they want).
REGRESSION = {"MLKR", "LogRatioLearner"} | ORDINAL


#: Transfer learners: labeled source samples plus unlabeled target samples (y == -1).
TRANSFER = {"DTML", "DSTML", "ECN"}


def target_for(cls, y):
    """``y`` as the learner wants it: class labels; their codes as a real target (regression
    learners); or, for transfer learners, codes with every third sample marked as an
    unlabeled target-domain sample (-1)."""
    if cls.__name__ in REGRESSION:
        return np.unique(np.asarray(y), return_inverse=True)[1].astype(np.float64)
    if cls.__name__ in TRANSFER:
        return with_target_domain(y)
    return y


def with_target_domain(y):
    """The codes of the class labels ``y``, every third sample marked as an unlabeled
    target-domain sample (-1): the input the transfer learners need."""
    codes = np.unique(np.asarray(y), return_inverse=True)[1].reshape(-1)
    codes[::3] = -1
    return codes
