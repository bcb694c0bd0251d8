"""The shared optimizer and progress line (skdml/linear/_optim.py), directly and through the
learners that use them."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from skdml.linear.mcml import MCML
from skdml.linear.mlkr import MLKR
from skdml.linear.mmc import MMC
from skdml.linear.nca import NCA

from .conftest import _noisy_classes


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


def test_lbfgs_driver_warns_with_the_failure_hint_only():
    from skdml.linear._optim import minimize_lbfgs

    def uphill(L):  # a gradient of the wrong sign: no step along it decreases the objective
        return np.sum(L**2), -2 * L

    with pytest.warns(ConvergenceWarning, match="Test stopped after 0 iterations without "
                      r"converging \(.*\); the last iterate is returned\. Try this\."):
        minimize_lbfgs(uphill, np.ones((2, 2)), max_iter=50, tol=1e-8, name="Test",
                       failure_hint="Try this.")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no hint, no warning: NCA's, MLKR's, LSML's behaviour
        L, n_iter, _ = minimize_lbfgs(uphill, np.ones((2, 2)), max_iter=50, tol=1e-8,
                                      name="Test")
    assert n_iter == 0
    np.testing.assert_array_equal(L, np.ones((2, 2)))


def test_mmc_verbose_prints_one_line_per_iteration_in_the_same_format(capsys):
    X, y = load_iris(return_X_y=True)
    for barrier in [1.0, 0.0]:  # L-BFGS, projected gradient
        with pytest.warns(ConvergenceWarning):
            model = MMC(barrier=barrier, max_iter=3, verbose=1, random_state=0).fit(X, y)
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == model.n_iter_ == 3
        assert all(line.startswith("[MMC] iteration ") and " objective " in line
                   and line.endswith("s") for line in lines)
