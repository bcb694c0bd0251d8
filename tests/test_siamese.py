"""SiameseNetwork: any pair loss trained from labelled pairs, with the pair classifier after."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler

from skdml.datasets import make_pairs
from skdml.deep import (ContrastiveLoss, DDML, DistanceLogisticLoss, SiameseNetwork,
                        TripletMarginLoss)
from skdml.metrics import verification_roc_auc

SMALL = dict(module__hidden_sizes=(16, 8), max_epochs=30, random_state=0)


@pytest.fixture(scope="module")
def iris_pairs():
    X, y = load_iris(return_X_y=True)
    pairs, labels = make_pairs(X, y, 400, return_indices=True, random_state=0)
    return X, pairs, labels


def _euclidean_auc(X, pairs, labels):
    Z = StandardScaler().fit_transform(X)
    return verification_roc_auc(labels, -np.linalg.norm(Z[pairs[:, 0]] - Z[pairs[:, 1]], axis=1))


@pytest.mark.parametrize("loss", [DistanceLogisticLoss, ContrastiveLoss(power=1),
                                  ContrastiveLoss(power=2)],
                         ids=["DBL", "contrastive-plain", "contrastive-squared"])
def test_pair_losses_learn_a_verifier(iris_pairs, loss):
    X, pairs, labels = iris_pairs
    net = SiameseNetwork(loss=loss, **SMALL).fit(pairs[:300], labels[:300], preprocessor=X)
    assert net.threshold_ > 0
    auc = verification_roc_auc(labels[300:], net.decision_function(pairs[300:],
                                                                   preprocessor=X))
    assert auc > _euclidean_auc(X, pairs[300:], labels[300:]) + 0.02
    assert net.score(pairs[300:], labels[300:], preprocessor=X) > 0.8


def test_default_loss_is_dbl_and_deterministic(iris_pairs):
    X, pairs, labels = iris_pairs
    a = SiameseNetwork(**SMALL).fit(pairs, labels, preprocessor=X)
    b = SiameseNetwork(**SMALL).fit(pairs, labels, preprocessor=X)
    assert isinstance(a.loss_, DistanceLogisticLoss)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_class_label_fit_has_no_threshold_until_calibrated(iris_pairs):
    X, pairs, labels = iris_pairs
    y = load_iris().target
    net = SiameseNetwork(**SMALL).fit(X, y)
    np.testing.assert_array_equal(net.classes_, [0, 1, 2])
    assert not hasattr(net, "threshold_")
    net.calibrate_threshold(pairs, labels, preprocessor=X)
    assert net.score(pairs, labels, preprocessor=X) > 0.8


def test_ddml_is_the_siamese_network_with_the_generalized_logistic_loss(iris_pairs):
    # the same pair API: a DDML is a SiameseNetwork with another loss and a tanh MLP
    assert issubclass(SiameseNetwork, type(DDML()).__mro__[1])


def test_a_triplet_loss_cannot_train_on_pairs(iris_pairs):
    X, pairs, labels = iris_pairs
    net = SiameseNetwork(loss=TripletMarginLoss, **SMALL)
    with pytest.raises(ValueError, match="tuple_kind"):
        net.fit(pairs, labels, preprocessor=X)
    assert not hasattr(net, "module_")
