"""No silent collapse (issue 24): the collapse detector, and the three causes it found.

The causes, each reproduced on digits: a deep hasher on unscaled input (one code for most
samples), an angular margin loss on a ReLU-ended network (all-zero embeddings), batch-hard
triplets with squared distances (a third of the samples on the zero vector after 30
epochs). Each test of a cause checks the setting that collapses is warned about and the
default no longer collapses.
"""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from skdml.deep import (
    DVML,
    MLP,
    MMDML,
    ArcFaceLoss,
    ContrastiveLoss,
    CosFaceLoss,
    DeepMetricLearner,
    HardMiner,
    SemiHardMiner,
    SphereFaceLoss,
    TripletMarginLoss,
)
from skdml.deep.callbacks import CollapseDetector, CollapseWarning
from skdml.deep.distances import CosineSimilarity, LpDistance
from skdml.hashing.deep import DeepBitHashing, DeepHashing, SupervisedDeepHashing
from skdml.io import load, save
from skdml.metrics_hashing import hamming_map


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


@pytest.fixture(scope="module")
def digits_split(digits):
    X, y = digits
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


class DeadMLP(MLP):
    """A ReLU network whose output units start (and so stay) dead: constant zero output."""

    def __init__(self, n_features):
        super().__init__(n_features, hidden_sizes=(8,), activation="relu")
        nn.init.constant_(self.net[0].bias, -100.0)


class ConstantNet(nn.Module):
    """The same learned embedding for every sample."""

    def __init__(self, n_features):
        super().__init__()
        self.point = nn.Parameter(torch.ones(4))

    def forward(self, X):
        return self.point.expand(len(X), -1) + 0 * X[:, :1]


def fit_quietly(est, *args):
    """``est.fit(*args)`` and the collapse warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(*args)
    return est, [w for w in caught if issubclass(w.category, CollapseWarning)]


def fit_unwarned(est, *args):
    """``est.fit(*args)``, failing on any collapse warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        return est.fit(*args)


def knn_accuracy(est, split):
    X_train, X_test, y_train, y_test = split
    knn = KNeighborsClassifier(n_neighbors=3).fit(est.transform(X_train), y_train)
    return knn.score(est.transform(X_test), y_test)


# --- the detector ---------------------------------------------------------------------------

def test_a_healthy_fit_records_no_collapse(iris):
    X, y = iris
    est = fit_unwarned(DeepMetricLearner(max_epochs=3, random_state=0), X, y)
    assert est.collapsed_ is False
    for row in est.history_:
        assert 0.5 < row["embedding_spread"] <= 1.0
        assert row["identical_share"] < 0.5
        assert row["event_collapse"] is False


@pytest.mark.parametrize("module, what", [
    (DeadMLP, "all embeddings zero"),
    (ConstantNet, "one point (spread 0)"),
])
def test_a_forced_collapse_is_warned_and_recorded(iris, module, what):
    X, y = iris
    est, caught = fit_quietly(
        DeepMetricLearner(module, loss=TripletMarginLoss, max_epochs=2, random_state=0), X, y)
    assert est.collapsed_ == what
    assert len(caught) == 1
    message = str(caught[0].message)
    assert what in message and "callbacks__collapse=None" in message
    assert est.history_[-1, "event_collapse"] is True
    assert est.history_[0, "event_collapse"] is False


def test_a_stuck_collapse_is_warned_once_before_the_end(iris):
    X, y = iris
    est, caught = fit_quietly(
        DeepMetricLearner(DeadMLP, max_epochs=8, random_state=0,
                          callbacks__collapse__patience=3), X, y)
    assert len(caught) == 1 and "stuck" in str(caught[0].message)
    events = [row["event_collapse"] for row in est.history_]
    assert events == [False, False, True] + [False] * 5
    assert all(row["embedding_spread"] == 0.0 for row in est.history_)


def test_the_detector_can_be_switched_off_or_tuned(iris):
    X, y = iris
    off = fit_unwarned(DeepMetricLearner(DeadMLP, max_epochs=2, random_state=0,
                                         callbacks__collapse=None), X, y)
    assert not hasattr(off, "collapsed_")
    assert "embedding_spread" not in off.history_[-1]
    later = DeepMetricLearner(DeadMLP, max_epochs=2, random_state=0)
    later.set_params(callbacks__collapse=None)
    assert not hasattr(fit_unwarned(later, X, y), "collapsed_")
    # a healthy fit declared collapsed by an absurd threshold: the parameter reaches it
    strict, caught = fit_quietly(
        DeepMetricLearner(max_epochs=2, random_state=0,
                          callbacks__collapse__min_spread=0.9999), X, y)
    assert strict.collapsed_.startswith("one point") and len(caught) == 1
    # or replaced by name, skorch's way
    mine = CollapseDetector(patience=2)
    replaced = DeepMetricLearner(max_epochs=1, random_state=0, callbacks__collapse=mine)
    assert dict(replaced.fit(X, y).callbacks_)["collapse"] is mine


@pytest.mark.parametrize("param, value", [
    ("probe_size", 1), ("patience", 0), ("min_spread", 1.5), ("loss_tol", -1.0),
    ("max_identical", 1.0), ("codes", "yes"),
])
def test_bad_detector_parameters_are_refused(iris, param, value):
    X, y = iris
    with pytest.raises(ValueError, match=param):
        DeepMetricLearner(max_epochs=1, **{f"callbacks__collapse__{param}": value}).fit(X, y)


def test_duplicated_inputs_are_no_collapse():
    # half the samples are one repeated input: they share one embedding rightly
    rng = np.random.default_rng(0)
    X = np.vstack([np.repeat(rng.normal(size=(1, 5)), 60, axis=0), rng.normal(size=(40, 5))])
    y = np.r_[np.zeros(60, int), np.arange(40) % 2 + 1]
    est = fit_unwarned(DeepMetricLearner(module__hidden_sizes=(8,), max_epochs=2,
                                         random_state=0), X, y)
    assert est.collapsed_ is False and est.history_[-1, "identical_share"] >= 0.6


@pytest.mark.parametrize("make", [
    lambda: DeepMetricLearner(loss=TripletMarginLoss, miner=HardMiner,
                              module__hidden_sizes=(16, 8), max_epochs=2, random_state=0),
    lambda: DVML(TripletMarginLoss, module__hidden_sizes=(16,), embedding_dim=8,
                 warmup_epochs=1, max_epochs=2, random_state=0),
    lambda: DeepBitHashing(n_bits=8, max_epochs=2, random_state=0),
], ids=["hard-miner", "dvml-sampling", "deepbit-noise"])
def test_the_detector_changes_no_weights(digits, make):
    # the learners that draw random numbers in training: the detector draws none
    X, y = digits[0][:300], digits[1][:300]
    watched = make().fit(X, y)
    unwatched = make().set_params(callbacks__collapse=None).fit(X, y)
    assert hasattr(watched, "collapsed_") and not hasattr(unwatched, "collapsed_")
    np.testing.assert_array_equal(watched.transform(X), unwatched.transform(X))
    np.testing.assert_array_equal(
        [r["train_loss"] for r in watched.history_], [r["train_loss"] for r in unwatched.history_])


def test_every_deep_learner_is_watched(digits):
    X, y = digits[0][:200], digits[1][:200]
    hasher = DeepHashing(n_bits=8, max_epochs=1, random_state=0).fit(X)
    assert dict(hasher.callbacks_)["collapse"].codes is True
    learner = DeepMetricLearner(max_epochs=1, random_state=0).fit(X, y)
    assert dict(learner.callbacks_)["collapse"].codes is False
    sets = [X[i:i + 10] for i in range(0, 200, 10)]
    mmdml = MMDML(hidden_sizes=(8,), max_epochs=1, random_state=0).fit(sets, y[::10])
    assert all(net.collapsed_ is False for net in mmdml.networks_)


def test_learners_with_the_detector_pickle_clone_and_save(tmp_path, iris):
    X, y = iris
    collapsed, _ = fit_quietly(DeepMetricLearner(DeadMLP, max_epochs=2, random_state=0), X, y)
    again = pickle.loads(pickle.dumps(collapsed))
    assert again.collapsed_ == collapsed.collapsed_ == "all embeddings zero"
    assert not hasattr(clone(collapsed), "collapsed_")
    healthy = DeepMetricLearner(module__hidden_sizes=(8,), max_epochs=2, random_state=0)
    healthy = fit_unwarned(healthy, X, y)
    save(healthy, tmp_path / "healthy.skdml")
    loaded = load(tmp_path / "healthy.skdml")
    assert loaded.collapsed_ is False
    assert loaded.history_[-1, "embedding_spread"] == healthy.history_[-1, "embedding_spread"]
    np.testing.assert_array_equal(loaded.transform(X), healthy.transform(X))
    # the detector switched off is a setting: kept by clone and by the archive
    off = DeepMetricLearner(module__hidden_sizes=(8,), max_epochs=1, random_state=0,
                            callbacks__collapse=None)
    assert clone(off).get_params()["callbacks__collapse"] is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing dropped
        save(off.fit(X, y), tmp_path / "off.skdml")
    assert load(tmp_path / "off.skdml").get_params()["callbacks__collapse"] is None


# --- cause 1: unscaled input to a deep hasher -------------------------------------------------

def test_deep_hashing_on_unscaled_digits(digits):
    X, y = digits
    X = X / 16  # the former docstring example's input: in [0, 1], not centred
    X_db, X_query, y_db, y_query = X[:1500], X[1500:], y[:1500], y[1500:]
    params = dict(n_bits=16, max_epochs=10, random_state=0)
    raw, caught = fit_quietly(DeepHashing(standardize=False, **params), X)
    assert len(caught) == 1 and raw.collapsed_.startswith("one code for")
    fixed = fit_unwarned(DeepHashing(**params), X)
    assert fixed.collapsed_ is False
    codes = fixed.transform(X_db)
    assert np.unique(codes, axis=0, return_counts=True)[1].max() < 0.2 * len(codes)
    maps = [hamming_map(h.transform(X_query), h.transform(X_db), y_query, y_db)
            for h in (raw, fixed)]
    assert maps[1] > maps[0] + 0.2


def test_supervised_hashing_one_code_per_class_is_no_collapse(digits):
    # ten classes each on one code would be a perfect supervised hasher, not a collapse
    X, y = digits[0][:600], digits[1][:600]
    est = fit_unwarned(SupervisedDeepHashing(n_bits=8, hidden_sizes=(32,), max_epochs=5,
                                             random_state=0), X, y)
    assert est.collapsed_ is False


# --- cause 2: angular margin losses on a ReLU-ended network -----------------------------------

@pytest.mark.parametrize("loss", [ArcFaceLoss, CosFaceLoss, SphereFaceLoss])
def test_angular_margin_losses_get_a_linear_last_layer(iris, loss):
    X, y = iris
    est = DeepMetricLearner(loss=loss, module__activation="relu",
                            module__hidden_sizes=(8, 4), max_epochs=1, random_state=0)
    assert isinstance(est.fit(X, y).module_.net[-1], nn.Identity)
    assert isinstance(est.module_.net[1], nn.ReLU)
    chosen = clone(est).set_params(module__output_activation="relu").fit(X, y)
    assert isinstance(chosen.module_.net[-1], nn.ReLU)  # the user's choice is kept
    other = clone(est).set_params(loss=ContrastiveLoss).fit(X, y)
    assert isinstance(other.module_.net[-1], nn.ReLU)  # other losses: as before


def test_sphereface_on_a_relu_network(digits, digits_split):
    params = dict(loss=SphereFaceLoss, module__activation="relu", max_epochs=5,
                  random_state=0)
    clipped, caught = fit_quietly(
        DeepMetricLearner(module__output_activation="same", **params), *digits_split[::2])
    assert len(caught) == 1 and clipped.collapsed_
    fixed = fit_unwarned(DeepMetricLearner(**params), *digits_split[::2])
    assert fixed.collapsed_ is False
    assert knn_accuracy(fixed, digits_split) > knn_accuracy(clipped, digits_split) + 0.3


def test_mlp_output_activation():
    X = torch.randn(5, 3)
    assert (MLP(3, (4, 2), activation="relu")(X) >= 0).all()  # 'same' by default
    linear = MLP(3, (4, 2), activation="relu", output_activation="identity")
    assert isinstance(linear.net[-1], nn.Identity) and isinstance(linear.net[1], nn.ReLU)
    assert len(linear.net) == len(MLP(3, (4, 2)).net)  # one structure, layer by layer
    with pytest.raises(ValueError, match="output_activation must be 'same' or one of"):
        MLP(3, (4, 2), output_activation=None)
    with pytest.raises(ValueError, match="activation must be one of"):
        MLP(3, (4, 2), activation="gelu")


# --- cause 3: batch-hard triplets with squared distances --------------------------------------

def test_hard_miner_hands_the_loss_the_euclidean_distance(iris):
    X, y = iris
    small = dict(loss=TripletMarginLoss, miner=HardMiner, module__hidden_sizes=(8,),
                 max_epochs=1, random_state=0)
    assert HardMiner.loss_distance == LpDistance()
    assert DeepMetricLearner(**small).fit(X, y).loss_.distance == LpDistance()
    # a distance chosen anywhere wins; other miners leave the loss its own default
    for chosen, expected in [
        (dict(loss__squared=True), LpDistance(power=2)),
        (dict(loss__distance=CosineSimilarity()), CosineSimilarity()),
        (dict(distance=LpDistance(power=2)), LpDistance(power=2)),
        (dict(miner=SemiHardMiner), LpDistance(power=2)),
        (dict(loss=TripletMarginLoss(squared=True)), LpDistance(power=2)),
    ]:
        est = DeepMetricLearner(**{**small, **chosen}).fit(X, y)
        assert est.loss_.distance == expected, chosen


def test_hard_miner_on_a_relu_network_trains(digits_split):
    X_train, _, y_train, _ = digits_split
    params = dict(loss=TripletMarginLoss, miner=HardMiner, module__activation="relu",
                  random_state=0)
    first = fit_unwarned(DeepMetricLearner(max_epochs=1, **params), X_train, y_train)
    later = fit_unwarned(DeepMetricLearner(max_epochs=12, **params), X_train, y_train)
    # with squared distances the accuracy fell from its first epoch on (0.90 -> 0.75)
    assert knn_accuracy(later, digits_split) > knn_accuracy(first, digits_split)
    assert later.collapsed_ is False


def test_hard_miner_collapse_is_still_warned(digits_split):
    X_train, _, y_train, _ = digits_split
    est, caught = fit_quietly(
        DeepMetricLearner(loss=TripletMarginLoss, miner=HardMiner, loss__squared=True,
                          module__activation="relu", lr=1e-2, max_epochs=3,
                          random_state=0), X_train, y_train)
    assert len(caught) == 1 and est.collapsed_
    assert est.history_[-1, "identical_share"] > 0.5
