"""One ``n_jobs`` governs BLAS/OpenMP, numba and torch threads for the length of a call.

The process's thread counts are the same before and after ``fit``, ``transform`` and the
other computing methods, also when ``fit`` raises; inside, every library runs on
``joblib.effective_n_jobs(n_jobs)`` threads (numba capped at ``NUMBA_NUM_THREADS``).
The conftest pins every library to one thread, so a learner with ``n_jobs=2`` changes
something that has to come back.
"""

import os
import re
import subprocess
import sys
import threading

import numba
import numpy as np
import pytest
import torch
from joblib import effective_n_jobs, parallel_config
from numpy.testing import assert_array_equal
from skorch.callbacks import Callback
from sklearn.base import clone
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_info, threadpool_limits

import skdml.hashing._neighbors as neighbors_module
import skdml.linear.nca as nca_module
from skdml._threads import effective_threads, limit_threads
from skdml.deep import DDML, DeepMetricLearner
from skdml.hashing import ITQ, HammingNeighbors
from skdml.linear import ITML, LDA, NCA

from .conftest import public_estimators

two_cores = pytest.mark.skipif(
    (os.cpu_count() or 1) < 2, reason="needs two cores to see two threads"
)


def thread_counts():
    """What every thread pool of the process is set to now."""
    counts = {"numba": numba.get_num_threads()}  # first: it may load an OpenMP library
    counts["torch"] = torch.get_num_threads()
    counts["pools"] = sorted((p["filepath"], p["num_threads"]) for p in threadpool_info())
    return counts


def expected_inside(n_jobs):
    """The counts a call with ``n_jobs`` runs under: for BLAS and OpenMP, what
    threadpoolctl itself sets in this process (a library may refuse more threads than it
    was built or started with -- cvxpy's SCS ships an OpenBLAS that stays at the count the
    test session started it with)."""
    n = effective_n_jobs(n_jobs)
    with threadpool_limits(limits=n):
        pools = {p["num_threads"] for p in threadpool_info()}
    return {"torch": n, "numba": min(n, numba.config.NUMBA_NUM_THREADS),
            "blas_openmp": pools}


def observed(counts):
    return {"torch": counts["torch"], "numba": counts["numba"],
            "blas_openmp": {threads for _, threads in counts["pools"]}}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16, y[:300]


class _Record(Callback):
    """Records the thread counts at the end of every epoch; raises there if asked."""

    def __init__(self, fail=False):
        self.fail = fail

    def initialize(self):
        self.seen_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.seen_.append(thread_counts())
        if self.fail:
            raise RuntimeError("stop")


@pytest.fixture
def record_nca(monkeypatch):
    """NCA's optimizer, recording the thread counts it runs under (and raising if asked)."""
    seen, original = [], nca_module.minimize_lbfgs

    def recording(*args, **kwargs):
        seen.append(thread_counts())
        if recording.fail:
            raise RuntimeError("stop")
        return original(*args, **kwargs)

    recording.fail = False
    monkeypatch.setattr(nca_module, "minimize_lbfgs", recording)
    return seen, recording


@pytest.fixture
def record_knn(monkeypatch):
    seen, original = [], neighbors_module._knn_words

    def recording(*args, **kwargs):
        seen.append(thread_counts())
        return original(*args, **kwargs)

    monkeypatch.setattr(neighbors_module, "_knn_words", recording)
    return seen


# -- the parameter --------------------------------------------------------------------------

@pytest.mark.parametrize("cls", public_estimators(), ids=lambda c: c.__name__)
def test_every_estimator_has_n_jobs_none_and_clones_it(cls):
    est = cls()
    assert est.get_params()["n_jobs"] is None
    assert clone(est.set_params(n_jobs=2)).get_params()["n_jobs"] == 2
    # its own entry, or named among those documented "as in" the class it derives from
    assert re.search(r"^    (n_jobs : int or None, default=None|.*, n_jobs(,|$))", cls.__doc__,
                     re.MULTILINE)


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2", True])
def test_bad_n_jobs_is_a_value_error_naming_it(digits, n_jobs):
    X, y = digits
    with pytest.raises(ValueError, match="n_jobs"):
        NCA(max_iter=2, n_jobs=n_jobs).fit(X, y)
    with pytest.raises(ValueError, match="n_jobs"):
        effective_threads(n_jobs)


def test_effective_threads_follows_joblib():
    assert effective_threads(None) == 1
    assert effective_threads(3) == 3
    assert effective_threads(-1) == effective_n_jobs(-1)
    with parallel_config(n_jobs=2):
        assert effective_threads(None) == 2
        assert effective_threads(1) == 1


# -- inside a call: the limits; after it: the settings before ---------------------------------

@two_cores
@pytest.mark.parametrize("n_jobs", [2, -1])
def test_classical_fit_runs_on_n_jobs_threads_and_restores(digits, record_nca, n_jobs):
    X, y = digits
    seen, _ = record_nca
    before = thread_counts()
    NCA(max_iter=3, n_jobs=n_jobs).fit(X, y)
    assert thread_counts() == before
    assert observed(seen[0]) == expected_inside(n_jobs)
    assert observed(seen[0]) != observed(before)


@two_cores
def test_parallel_config_is_honoured_when_n_jobs_is_none(digits, record_nca):
    X, y = digits
    seen, _ = record_nca
    before = thread_counts()
    with parallel_config(n_jobs=2):
        NCA(max_iter=3).fit(X, y)
    assert thread_counts() == before
    assert observed(seen[0]) == expected_inside(2)


def test_n_jobs_none_is_one_thread_on_a_machine_set_to_more(digits, record_nca):
    X, y = digits
    seen, _ = record_nca
    n = min(2, numba.config.NUMBA_NUM_THREADS)
    saved = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(2)
    numba.set_num_threads(n)
    try:
        with threadpool_limits(limits=2):
            before = thread_counts()
            NCA(max_iter=3).fit(X, y)
            assert thread_counts() == before
    finally:
        torch.set_num_threads(saved[0])
        numba.set_num_threads(saved[1])
    assert observed(seen[0]) == expected_inside(None)


@two_cores
def test_failed_fit_restores_the_threads(digits, record_nca):
    X, y = digits
    seen, recording = record_nca
    recording.fail = True
    before = thread_counts()
    with pytest.raises(RuntimeError, match="stop"):
        NCA(max_iter=3, n_jobs=2).fit(X, y)
    assert observed(seen[0]) == expected_inside(2)
    assert thread_counts() == before


@two_cores
def test_transform_and_pair_methods_restore_the_threads(digits):
    X, y = digits
    before = thread_counts()
    X = X[:, 16:32]
    itml = ITML(max_iter=20, random_state=0, n_jobs=2).fit(X[:60], y[:60])
    itml.transform(X)
    by_class = np.argsort(y, kind="stable")
    first = np.r_[by_class[:20:2], np.arange(10)]
    second = np.r_[by_class[1:20:2], np.arange(11, 21)]
    pairs = np.stack([X[first], X[second]], axis=1)
    itml.set_params(n_jobs=-1).pair_distance(pairs)
    itml.calibrate_threshold(pairs, np.where(y[first] == y[second], 1, -1))
    itml.decision_function(pairs)
    assert thread_counts() == before


@two_cores
def test_hashing_search_runs_on_n_jobs_threads(digits, record_knn):
    X, _ = digits
    codes = ITQ(n_bits=16, random_state=0, n_jobs=2).fit(X).transform(X)
    before = thread_counts()
    nn = HammingNeighbors(n_neighbors=3, n_jobs=2).fit(codes)
    nn.kneighbors(codes[:5])
    nn.radius_neighbors(codes[:5], radius=1)
    assert thread_counts() == before
    assert observed(record_knn[0]) == expected_inside(2)


@two_cores
def test_deep_fit_and_transform_run_on_n_jobs_threads_and_restore(digits):
    X, y = digits
    record = _Record()
    before = thread_counts()
    net = DDML(hidden_sizes=(16,), max_epochs=2, random_state=0, callbacks=[record],
               n_jobs=2).fit(X, y)
    assert thread_counts() == before
    assert [observed(c) for c in record.seen_] == [expected_inside(2)] * 2
    net.set_params(n_jobs=1).transform(X)
    net.partial_fit(X, y)
    assert thread_counts() == before
    assert observed(record.seen_[-1]) == expected_inside(1)


@two_cores
def test_failed_deep_fit_restores_the_threads(digits):
    X, y = digits
    record = _Record(fail=True)
    before = thread_counts()
    with pytest.raises(RuntimeError, match="stop"):
        DeepMetricLearner(module__hidden_sizes=(8,), max_epochs=2, callbacks=[record],
                          n_jobs=2).fit(X, y)
    assert observed(record.seen_[0]) == expected_inside(2)
    assert thread_counts() == before


def test_limit_threads_nests_and_restores_on_error():
    before = thread_counts()
    with pytest.raises(KeyError):
        with limit_threads(2) as n:
            assert n == 2 and torch.get_num_threads() == 2
            with limit_threads(1):
                assert observed(thread_counts()) == expected_inside(1)
            assert torch.get_num_threads() == 2
            raise KeyError
    assert thread_counts() == before


class _ProcessWideCount:
    """Stands in for torch, whose thread count is one for the whole process (how torch's own
    count reads from several threads depends on its parallel backend)."""

    def __init__(self, n):
        self.n = n

    def get_num_threads(self):
        return self.n

    def set_num_threads(self, n):
        self.n = n


def test_overlapping_calls_in_two_threads_restore_torch_when_the_last_ends(monkeypatch):
    """A enters, B enters, A leaves, B leaves: torch's count is B's while B runs, and the
    count from before both once B leaves."""
    fake = _ProcessWideCount(2)
    monkeypatch.setitem(sys.modules, "torch", fake)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def call_a():
        with limit_threads(1):
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def call_b():
        a_in.wait(10)
        with limit_threads(3):
            b_in.set()
            a_out.wait(10)
            seen["b after a left"] = fake.get_num_threads()

    threads = [threading.Thread(target=call_a), threading.Thread(target=call_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert seen == {"b after a left": 3}
    assert fake.get_num_threads() == 2


# -- results --------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda n_jobs: LDA(n_jobs=n_jobs),
    lambda n_jobs: ITML(max_iter=50, random_state=0, n_jobs=n_jobs),
    lambda n_jobs: ITQ(n_bits=16, random_state=0, n_jobs=n_jobs),
], ids=["LDA", "ITML", "ITQ"])
def test_one_or_two_threads_give_identical_results(digits, make):
    """Matrix products split their output over threads, not their sums, and these
    learners reduce nothing across threads: the result is the same bit for bit."""
    X, y = digits
    one, two = make(1).fit(X, y), make(2).fit(X, y)
    assert_array_equal(one.transform(X), two.transform(X))


def test_one_or_two_threads_give_the_same_metric_to_rounding(digits):
    """NCA's gradient sums over samples inside BLAS, whose threads split the sums: the
    learned metric agrees to rounding, not bit for bit (so do MLKR, MCML, SCML, KISSME)."""
    X, y = digits
    one, two = (NCA(max_iter=20, random_state=0, n_jobs=n).fit(X, y) for n in (1, 2))
    M1, M2 = one.get_mahalanobis_matrix(), two.get_mahalanobis_matrix()
    np.testing.assert_allclose(M1, M2, rtol=0, atol=1e-9 * np.abs(M1).max())


def test_hamming_search_is_identical_on_one_or_two_threads(digits):
    X, _ = digits
    codes = ITQ(n_bits=32, random_state=0).fit(X).transform(X)
    one, two = (HammingNeighbors(n_neighbors=5, n_jobs=n).fit(codes).kneighbors(codes)
                for n in (1, 2))
    assert_array_equal(one[0], two[0])
    assert_array_equal(one[1], two[1])


def test_classical_learners_do_not_import_torch():
    code = (
        "import sys; import numpy as np; from skdml.linear import NCA; "
        "X = np.random.default_rng(0).normal(size=(40, 3)); y = np.arange(40) % 2; "
        "NCA(max_iter=2, n_jobs=2).fit(X, y).transform(X); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
