"""MCML (skdml/linear/mcml.py): its gradient, and a convex objective."""

import numpy as np
from sklearn.datasets import load_iris

from skdml.linear._psd import components_from_psd
from skdml.linear.mcml import MCML, _MCMLObjective


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


def test_mcml_is_convex_two_starts_agree():
    X, y = load_iris(return_X_y=True)
    a = MCML(init="auto", max_iter=1000, tol=1e-9).fit(X, y)
    b = MCML(init="random", random_state=3, max_iter=1000, tol=1e-9).fit(X, y)
    assert abs(a.objective_ - b.objective_) < 1e-3 * abs(a.objective_)
