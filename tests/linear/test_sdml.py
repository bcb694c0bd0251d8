"""SDML (skdml/linear/sdml.py), and a pair classifier's threshold calibration through it."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine, make_blobs
from sklearn.exceptions import ConvergenceWarning

from skdml.constraints import pairs_from_labels
from skdml.linear.sdml import SDML


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
