"""Deep learners fitted on labelled pairs (issue 24): DDML's ``fit(pairs, y)``, as arrays and
as index pairs into a dataset, and the pair classifier it then is, as ITML is.

The pairs are digits pairs from :func:`skdml.datasets.make_pairs` with sample-disjoint folds:
the held-out pairs join samples that no training pair holds.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone, is_classifier
from sklearn.datasets import load_digits
from sklearn.metrics import roc_curve
from sklearn.model_selection import GridSearchCV, cross_val_score
from skorch.dataset import ValidSplit

from skdml import ITML, io
from skdml.datasets import make_pairs
from skdml.deep import DeepMetricLearner
from skdml.deep._pairs import DeepPairMixin, PairBatchSampler
from skdml.deep.ddml import DDML
from skdml.deep.losses import ContrastiveLoss, ProxyNCALoss
from skdml.deep.miners import PairMarginMiner
from skdml.metrics import verification_roc_auc

# a small network and few epochs; Adam's step 1e-2 (DDML's default is 1e-3) learns these
# 1200 pairs in 8 epochs (benchmarks/bench_deep_pairs.py --settings: lr on 5400 pairs)
SMALL = dict(hidden_sizes=(64, 32), max_epochs=8, batch_size=64, lr=1e-2, random_state=0)


@pytest.fixture(scope="module")
def digits_pairs():
    """Digits, 1500 index pairs in 5 sample-disjoint folds; fold 0 held out."""
    X, y = load_digits(return_X_y=True)
    idx, labels, folds = make_pairs(X, y, 1500, n_folds=5, return_indices=True,
                                    random_state=0)
    train, test = folds != 0, folds == 0
    return X, y, idx[train], labels[train], idx[test], labels[test]


@pytest.fixture(scope="module")
def fitted(digits_pairs):
    X, _, idx, labels, _, _ = digits_pairs
    return DDML(**SMALL).fit(idx, labels, preprocessor=X)


def _weights(est):
    return {k: v.clone() for k, v in est.module_.state_dict().items()}


def _same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------- it learns
def test_fit_on_index_pairs_learns(digits_pairs, fitted):
    X, _, _, _, test, y_test = digits_pairs
    accuracy = fitted.score(test, y_test, preprocessor=X)
    auc = verification_roc_auc(y_test, fitted.decision_function(test, preprocessor=X))
    # chance is 0.5 for both (half the pairs are similar)
    assert accuracy > 0.85 and auc > 0.93, (accuracy, auc)


def test_array_pairs_and_index_pairs_train_the_same_network(digits_pairs, fitted):
    X, _, idx, labels, test, _ = digits_pairs
    from_arrays = DDML(**SMALL).fit(X[idx], labels)
    assert _same_weights(_weights(from_arrays), _weights(fitted))
    assert from_arrays.threshold_ == fitted.threshold_
    np.testing.assert_array_equal(from_arrays.decision_function(X[test]),
                                  fitted.decision_function(test, preprocessor=X))


def test_ddml_from_pairs_beats_itml_from_the_same_pairs(digits_pairs, fitted):
    """The issue's benchmark in small (benchmarks/bench_deep_pairs.py has the 10 folds):
    fitted on the same training pairs, DDML verifies the held-out pairs better than ITML."""
    X, _, idx, labels, test, y_test = digits_pairs
    itml = ITML(random_state=0).fit(idx, labels, preprocessor=X)
    for metric in (lambda m: m.score(test, y_test, preprocessor=X),
                   lambda m: verification_roc_auc(
                       y_test, m.decision_function(test, preprocessor=X))):
        assert metric(fitted) > metric(itml)


def test_the_loss_of_a_batch_is_that_of_its_pairs_with_their_labels(fitted):
    """A batch of pairs is embedded as rows 2i, 2i + 1; the loss is DDML's on exactly these
    pairs, labelled as given: mean g(1 - l (tau - d^2)), g(z) = log(1 + exp(beta z)) / beta."""
    gen = torch.Generator().manual_seed(0)
    embeddings = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    y = torch.tensor([1, -1, -1, 1], dtype=torch.int8)
    loss = fitted._batch_loss(embeddings, y, None, training=True)
    d2 = ((embeddings[0::2] - embeddings[1::2]) ** 2).sum(dim=1)
    z = 1 - y.double() * (fitted.tau - d2)
    expected = torch.log1p(torch.exp(fitted.beta * z)) / fitted.beta
    torch.testing.assert_close(loss, expected.mean())


def test_pair_batch_sampler_covers_every_pair_once_per_epoch():
    sampler = PairBatchSampler(10, 4, random_state=0)
    batches = list(sampler)
    assert len(sampler) == len(batches) == 3
    assert sorted(len(b) for b in batches) == [3, 3, 4]  # no small remainder
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(10))
    assert not np.array_equal(np.concatenate(list(sampler)), np.concatenate(batches))


# ----------------------------------------------------------------- the pair classifier
def test_pair_api_after_a_fit_on_pairs(digits_pairs, fitted):
    X, _, idx, labels, test, y_test = digits_pairs
    assert is_classifier(fitted) and fitted.classes_.tolist() == [-1, 1]
    scores = fitted.decision_function(test, preprocessor=X)
    np.testing.assert_allclose(
        scores, fitted.threshold_ - fitted.pair_distance(test, preprocessor=X))
    pred = fitted.predict(test, preprocessor=X)
    np.testing.assert_array_equal(pred, np.where(scores >= 0, 1, -1))
    assert fitted.score(test, y_test, preprocessor=X) == np.mean(pred == y_test)
    # the threshold is the accuracy-optimal one on the training pairs
    train_accuracy = fitted.score(idx, labels, preprocessor=X)
    d = fitted.pair_distance(idx, preprocessor=X)
    best = max(np.mean(np.where(d <= t, 1, -1) == labels) for t in d)
    assert train_accuracy == pytest.approx(best)
    assert not hasattr(fitted, "predict_proba")


def test_calibrate_threshold_on_held_out_pairs(digits_pairs, fitted):
    X, _, _, _, test, y_test = digits_pairs
    est = pickle.loads(pickle.dumps(fitted))
    est.calibrate_threshold(test, y_test, strategy="tpr_at_fpr", max_fpr=0.02,
                            preprocessor=X)
    pred = est.predict(test, preprocessor=X)
    assert np.mean(pred[y_test == -1] == 1) <= 0.02
    # the most similar pairs called similar at that false positive rate, as roc_curve says
    fpr, tpr, _ = roc_curve(y_test, est.decision_function(test, preprocessor=X))
    assert np.mean(pred[y_test == 1] == 1) == pytest.approx(tpr[fpr <= 0.02].max())
    assert est.threshold_ != fitted.threshold_ and est.classes_.tolist() == [-1, 1]


@pytest.mark.parametrize("scoring, low", [(None, 0.8), ("roc_auc", 0.9)])
def test_cross_val_score_on_pairs(digits_pairs, scoring, low):
    X, _, idx, labels, _, _ = digits_pairs
    scores = cross_val_score(DDML(**SMALL), X[idx], labels, cv=3, scoring=scoring,
                             error_score="raise")
    assert scores.shape == (3,) and scores.min() > low, scores


def test_grid_search_on_pairs(digits_pairs):
    X, _, idx, labels, test, y_test = digits_pairs
    search = GridSearchCV(DDML(**SMALL), {"tau": [1.0, 3.0]}, cv=2, error_score="raise")
    search.fit(X[idx], labels)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.classes_.tolist() == [-1, 1]
    assert search.score(X[test], y_test) > 0.8


def test_partial_fit_on_pairs_trains_on_and_recalibrates(digits_pairs, fitted):
    X, _, idx, labels, _, _ = digits_pairs
    est = pickle.loads(pickle.dumps(fitted))
    est.partial_fit(idx[:300], labels[:300], preprocessor=X)
    assert est.n_iter_ == 2 * fitted.n_iter_
    assert not _same_weights(_weights(est), _weights(fitted))
    assert est.threshold_ != fitted.threshold_
    # pairs of one label say nothing of a threshold: it is kept
    threshold = est.threshold_
    similar = labels == 1
    est.partial_fit(idx[similar][:100], labels[similar][:100], preprocessor=X)
    assert est.threshold_ == threshold


def test_a_validation_split_holds_whole_pairs(digits_pairs):
    X, _, idx, labels, _, _ = digits_pairs
    est = DDML(**{**SMALL, "max_epochs": 2}, train_split=ValidSplit(5, stratified=True))
    est.fit(idx, labels, preprocessor=X)
    assert all(np.isfinite(row["valid_loss"]) for row in est.history_)
    assert len(est.history_[-1]["batches"]) > 0


def test_the_forms_switch_between_fits(digits_pairs, fitted):
    X, y, idx, labels, test, y_test = digits_pairs
    est = pickle.loads(pickle.dumps(fitted)).set_params(max_epochs=2)
    est.fit(X, y)  # class labels: a transformer again, with its classes
    assert est.classes_.tolist() == list(range(10)) and not hasattr(est, "threshold_")
    assert not hasattr(est, "predict") and est.transform(X[:3]).shape == (3, 32)
    est.calibrate_threshold(test, y_test, preprocessor=X)
    assert est.classes_.tolist() == [-1, 1] and est.predict(test, preprocessor=X).shape == (
        len(test),)
    est.partial_fit(X, y)  # more training on class labels: the threshold is stale
    assert est.classes_.tolist() == list(range(10)) and not hasattr(est, "threshold_")
    est.fit(idx, labels, preprocessor=X)
    assert est.classes_.tolist() == [-1, 1] and hasattr(est, "threshold_")


# ----------------------------------------------------------------------- bad input
def _bad_inputs(X, idx, labels):
    pairs = X[idx]
    return [
        ((pairs, np.where(labels == 1, 1, 0)), {}, r"pair labels in \{-1, \+1\}.*\[0\]"),
        ((pairs, np.ones(len(pairs))), {}, "needs both similar"),
        ((pairs, labels[:-1]), {}, r"one label per pair"),
        ((X[np.c_[idx, idx[:, :1]]], labels), {},
         r"\(n_pairs, 2, n_features\), pairs .* got an array of shape \(1200, 3, 64\)"),
        ((idx, labels), {"preprocessor": X[:, :10][:5]}, r"index rows 0\.\.4"),
        ((np.c_[idx, idx[:, :1]], labels), {"preprocessor": X},
         r"integer indices of shape \(n_pairs, 2\)"),
        ((pairs, labels), {"preprocessor": X}, r"integer indices of shape \(n_pairs, 2\)"),
        ((pairs[:, :, :0], labels), {}, "0 feature"),
        ((np.where(np.isnan(pairs), 0, np.nan), labels), {}, "NaN"),
    ]


def test_bad_pairs_raise_and_leave_the_fitted_state(digits_pairs, fitted):
    X, _, idx, labels, _, _ = digits_pairs
    est = pickle.loads(pickle.dumps(fitted))
    weights, state = _weights(est), dict(vars(est))
    for args, kwargs, match in _bad_inputs(X, idx, labels):
        with pytest.raises(ValueError, match=match):
            est.fit(*args, **kwargs)
        assert _same_weights(_weights(est), weights)
        assert est.threshold_ == state["threshold_"] and est.n_iter_ == state["n_iter_"]
        assert est.classes_.tolist() == [-1, 1]


def test_pairs_of_another_width_than_the_fit_raise(digits_pairs, fitted):
    X, _, idx, labels, _, _ = digits_pairs
    narrow = X[:, :10]
    for method in ("decision_function", "predict", "pair_distance"):
        with pytest.raises(ValueError, match="have 10 features, but .* fitted with 64"):
            getattr(fitted, method)(idx, preprocessor=narrow)
    with pytest.raises(ValueError, match="have 10 features, but .* fitted with 64"):
        fitted.calibrate_threshold(narrow[idx], labels)
    est = pickle.loads(pickle.dumps(fitted))
    with pytest.raises(ValueError, match="have 10 features, but .* fitted with 64"):
        est.partial_fit(idx, labels, preprocessor=narrow)
    assert est.n_iter_ == fitted.n_iter_


def test_partial_fit_keeps_to_the_form_of_the_first_fit(digits_pairs, fitted):
    X, y, idx, labels, _, _ = digits_pairs
    est = pickle.loads(pickle.dumps(fitted))
    with pytest.raises(ValueError, match="fitted on pairs; partial_fit goes on with pairs"):
        est.partial_fit(X, y)
    on_labels = DDML(**{**SMALL, "max_epochs": 1}).fit(X, y)
    with pytest.raises(ValueError, match="fitted on class labels; partial_fit goes on"):
        on_labels.partial_fit(idx, labels, preprocessor=X)
    warm = pickle.loads(pickle.dumps(fitted)).set_params(warm_start=True)
    with pytest.raises(ValueError, match="warm_start=True goes on with the form"):
        warm.fit(X, y)
    assert warm.classes_.tolist() == [-1, 1] and hasattr(warm, "threshold_")


class _PairLearner(DeepPairMixin, DeepMetricLearner):
    """A template learner taking pairs: the mixin serves any deep learner of vectors."""


def test_the_mixin_serves_another_learner_and_refuses_what_cannot_take_pairs(digits_pairs):
    X, _, idx, labels, test, y_test = digits_pairs
    params = dict(module__hidden_sizes=(64, 32), max_epochs=8, batch_size=64, lr=1e-2,
                  random_state=0)
    est = _PairLearner(loss=ContrastiveLoss, **params).fit(idx, labels, preprocessor=X)
    assert est.score(test, y_test, preprocessor=X) > 0.8
    with pytest.raises(ValueError, match="pair loss .*ProxyNCALoss has tuple_kind=None"):
        _PairLearner(loss=ProxyNCALoss, **params).fit(idx, labels, preprocessor=X)
    with pytest.raises(ValueError, match="takes no miner; got miner=PairMarginMiner"):
        _PairLearner(miner=PairMarginMiner, **params).fit(idx, labels, preprocessor=X)


# ------------------------------------------------------------------- clone, pickle, io
def test_clone_pickle_and_save_a_pair_fit(digits_pairs, fitted, tmp_path):
    X, _, _, _, test, y_test = digits_pairs
    unfitted = clone(fitted)
    assert all(unfitted.get_params()[k] == fitted.get_params()[k] for k in SMALL)
    assert not hasattr(unfitted, "threshold_") and not hasattr(unfitted, "classes_")
    expected = fitted.decision_function(test, preprocessor=X)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.decision_function(test, preprocessor=X), expected)
    path = tmp_path / "ddml.skdml"
    io.save(fitted, path)
    loaded = io.load(path)
    assert loaded.classes_.tolist() == [-1, 1] and loaded.threshold_ == fitted.threshold_
    np.testing.assert_allclose(loaded.decision_function(test, preprocessor=X), expected,
                               rtol=1e-6, atol=1e-6)
    assert loaded.score(test, y_test, preprocessor=X) == fitted.score(test, y_test,
                                                                      preprocessor=X)
