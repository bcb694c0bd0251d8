"""The deep learner template: hooks instead of copies (issue 17).

A learner written as hooks alone trains; no learner reaches into skorch's privates; every
learner stops on a loss that is not finite, naming the epoch.
"""

import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402

from skdml.deep import (  # noqa: E402
    DAML, DDML, DSTML, DTML, DVML, MMDML, DeepMetricLearner, LogRatioLearner,
)
from skdml.deep import MetricLoss  # noqa: E402
from skdml.deep import mmdml as mmdml_module  # noqa: E402
from skdml.deep.callbacks import CollapseWarning  # noqa: E402
from skdml.hashing.deep import (  # noqa: E402
    DeepBitHashing, DeepHashing, SupervisedDeepHashing,
)

ROOT = Path(__file__).resolve().parents[1]


def test_no_learner_reaches_into_skorch_privates():
    sources = [*(ROOT / "skdml" / "deep").rglob("*.py"), ROOT / "skdml" / "hashing" / "deep.py",
               ROOT / "skdml" / "distributed" / "_deep.py"]
    assert len(sources) >= 9
    for path in sources:
        text = path.read_text()
        for needle in ("_routing_method", "__wrapped__", "NeuralNet.partial_fit(",
                       "NeuralNet.fit(", "NeuralNet.get_iterator("):
            assert needle not in text, f"{path.relative_to(ROOT)} contains {needle!r}"


class _PoisonWeights(Callback):
    """Fill the network's weights with NaN when the second epoch begins."""

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == 2:
            with torch.no_grad():
                for p in net.module_.parameters():
                    p.fill_(float("nan"))


def _learners():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y_transfer = np.where(np.arange(150) % 3 == 0, -1, y)
    small = dict(max_epochs=3, random_state=0, callbacks=[("poison", _PoisonWeights())])
    return [
        (DeepMetricLearner(module__hidden_sizes=(8, 4), **small), X, y),
        (DDML(hidden_sizes=(8, 4), **small), X, y),
        (DTML(hidden_sizes=(8, 4), tol=0, **small), X, y_transfer),
        (DSTML(hidden_sizes=(8, 6, 4), tol=0, **small), X, y_transfer),
        (DVML(module__hidden_sizes=(8,), embedding_dim=4, warmup_epochs=0, **small), X, y),
        (DAML(module__hidden_sizes=(8, 4), warmup_epochs=0, **small), X, y),
        (LogRatioLearner(module__hidden_sizes=(8, 4), **small), X, X[:, 0]),
        (DeepHashing(n_bits=4, **small), X, None),
        (SupervisedDeepHashing(n_bits=4, hidden_sizes=(8,), **small), X, y),
        (DeepBitHashing(n_bits=4, **small), X, None),
    ]


@pytest.mark.parametrize("learner, X, y", _learners(),
                         ids=lambda v: type(v).__name__ if hasattr(v, "fit") else "")
def test_every_learner_stops_on_a_non_finite_loss_naming_the_epoch(learner, X, y):
    # one finite check, in DeepMetricLearner.get_loss: learners override _batch_loss
    owners = [c for c in type(learner).__mro__ if "get_loss" in vars(c)]
    assert owners[0] is DeepMetricLearner, owners
    with pytest.raises(FloatingPointError, match=r"training loss is .*nan.* in epoch 2"):
        learner.fit(X, y)
    assert not hasattr(learner, "n_iter_")  # a failed fit leaves the learner unfitted


@pytest.mark.parametrize("learner, X, y", _learners(),
                         ids=lambda v: type(v).__name__ if hasattr(v, "fit") else "")
def test_every_learner_trains_a_metric_loss(learner, X, y):
    # one loss signature: the set, domain, ordinal and hashing losses are MetricLosses
    learner.set_params(callbacks=None, max_epochs=1).fit(X, y)
    assert isinstance(learner.loss_, MetricLoss), type(learner.loss_)


def test_mmdml_networks_stop_on_a_non_finite_loss(monkeypatch):
    X, y = load_iris(return_X_y=True)
    monkeypatch.setattr(mmdml_module.ManifoldMarginLoss, "compute",
                        lambda self, embeddings, labels, tuples:
                        embeddings.sum(1) * float("nan"))
    with pytest.raises(FloatingPointError, match=r"loss is nan in epoch 1"):
        MMDML(hidden_sizes=(4,), max_epochs=2, random_state=0).fit(X, y)


def test_partial_fit_of_an_unfitted_learner_is_fit():
    X, y = load_iris(return_X_y=True)
    a = DeepMetricLearner(module__hidden_sizes=(8, 4), max_epochs=2, random_state=0)
    b = clone(a)
    np.testing.assert_array_equal(a.partial_fit(X, y).transform(X), b.fit(X, y).transform(X))
    with pytest.raises(ValueError, match=re.escape("unseen in the first fit: [7]")):
        a.partial_fit(X[:4], [0, 1, 7, 0])


# --- input standardization ---------------------------------------------------------------------

def test_standardize_is_the_network_seeing_standardized_input():
    """``standardize=True`` on raw features trains and embeds exactly as ``standardize=False``
    on the same features standardized beforehand; a constant feature is only centred."""
    X, y = load_iris(return_X_y=True)
    X = np.column_stack([X * [1e3, 1e-3, 50.0, 1.0] + 7.0, np.full(len(X), 4.0)])
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[-1] = 1.0
    params = dict(module__hidden_sizes=(8, 4), max_epochs=3, random_state=0)
    raw = DeepMetricLearner(**params).fit(X, y)
    pre = DeepMetricLearner(standardize=False, **params).fit((X - mean) / std, y)
    np.testing.assert_allclose(raw.input_mean_, mean)
    np.testing.assert_allclose(raw.input_scale_, std)
    assert pre.input_mean_ is None and pre.input_scale_ is None
    np.testing.assert_allclose(raw.transform(X), pre.transform((X - mean) / std), atol=1e-6)
    np.testing.assert_allclose(raw.history[:, "train_loss"], pre.history[:, "train_loss"],
                               rtol=1e-5)
    # partial_fit and a warm start keep the scaling the network was trained on (on the
    # features multiplied the network saturates: every sample one point, which it reports)
    with pytest.warns(CollapseWarning, match="one point"):
        raw.partial_fit(X[:60] * 2, y[:60])
    np.testing.assert_allclose(raw.input_mean_, mean)
    warm = DeepMetricLearner(warm_start=True, **params).fit(X, y)
    with pytest.warns(CollapseWarning, match="one point"):
        warm.fit(X * 3, y)
    np.testing.assert_allclose(warm.input_mean_, mean)
