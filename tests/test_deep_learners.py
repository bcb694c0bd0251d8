"""DeepMetricLearner and DDML: the scikit-learn contract, determinism, learning, bad input."""

import copy
import pickle
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from skorch.callbacks import EarlyStopping  # noqa: E402
from skorch.dataset import ValidSplit  # noqa: E402

from skdml.base import EmbeddingDistance  # noqa: E402
from skdml.deep import DAML, DVML, LogRatioLearner  # noqa: E402
from skdml.deep import (  # noqa: E402
    DDML,
    MLP,
    ArcFaceLoss,
    CenterLoss,
    ClassBalancedBatchSampler,
    DeepMetricLearner,
    ContrastiveLoss,
    CrossBatchMemory,
    DistanceWeightedMiner,
    HardMiner,
    MarginLoss,
    SemiHardMiner,
    TripletMarginLoss,
)
from skdml.deep.distances import CosineSimilarity, LpDistance  # noqa: E402


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def small(cls=DDML, **params):
    defaults = dict(max_epochs=4, batch_size=32, random_state=0)
    if cls is DDML:
        defaults["hidden_sizes"] = (8, 4)
    else:
        defaults["module__hidden_sizes"] = (8, 4)
    return cls(**{**defaults, **params})


def test_import_skdml_does_not_import_torch():
    code = "import sys, skdml; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fit_transform_shapes_and_dtypes(iris):
    X, y = iris
    model = small().fit(X, y)
    Z = model.transform(X)
    assert Z.shape == (150, 4) and Z.dtype == np.float64
    assert model.transform(X.astype(np.float32)).dtype == np.float32
    assert model.embedding_dim_ == 4 and model.n_features_in_ == 4 and model.n_iter_ == 4
    assert list(model.classes_) == [0, 1, 2]
    assert model.get_feature_names_out().tolist() == [f"ddml{i}" for i in range(4)]
    assert not model.module_.training  # transform left the network in eval mode
    assert model.history_[-1, "train_loss"] > 0


def test_fit_is_deterministic_under_random_state(iris):
    X, y = iris
    for cls, params in [(DDML, {}), (DeepMetricLearner, {"loss": TripletMarginLoss,
                                                        "miner": DistanceWeightedMiner})]:
        Z1 = small(cls, **params).fit(X, y).transform(X)
        Z2 = small(cls, **params).fit(X, y).transform(X)
        np.testing.assert_array_equal(Z1, Z2)
        fitted = small(cls, random_state=1, **params).fit(X, y)
        assert not np.allclose(Z1, fitted.transform(X))
        restored = pickle.loads(pickle.dumps(fitted))
        np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    # fitting does not disturb torch's global generator
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    small().fit(X, y)
    assert torch.equal(torch.rand(3), expected)


def test_learned_embedding_beats_raw_features():
    # 2 informative dimensions hidden among 18 noisy ones of larger scale
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n)
    centers = np.array([[0, 0], [3, 0], [0, 3]])
    X = np.hstack([centers[y] + 0.5 * rng.normal(size=(n, 2)), 3 * rng.normal(size=(n, 18))])
    knn = KNeighborsClassifier(n_neighbors=5)
    raw = cross_val_score(knn, X, y, cv=3).mean()
    learned = cross_val_score(
        make_pipeline(DDML(hidden_sizes=(32, 8), max_epochs=40, lr=3e-3, batch_size=64,
                           random_state=0), knn), X, y, cv=3
    ).mean()
    assert raw < 0.6  # 0.51 here: the noise dominates Euclidean distances
    assert learned > 0.85  # 0.92 here


def test_clone_pickle_metric_and_pairs(iris):
    X, y = iris
    model = small(tau=2.5, module__activation="relu")
    params = model.get_params()
    assert params["tau"] == 2.5 and params["module__activation"] == "relu"
    assert "module" not in params and "criterion" not in params
    twin = clone(model)
    assert twin.get_params(deep=False) == model.get_params(deep=False)
    model.fit(X, y)
    assert isinstance(model.module_.net[1], torch.nn.ReLU)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))
    metric = pickle.loads(pickle.dumps(model.get_metric()))
    assert isinstance(metric, EmbeddingDistance)
    Z = model.transform(X)
    assert metric(X[0], X[60]) == pytest.approx(np.linalg.norm(Z[0] - Z[60]), rel=1e-6)
    pairs = np.stack([X[:5], X[50:55]], axis=1)
    np.testing.assert_allclose(model.pair_distance(pairs),
                               np.linalg.norm(Z[:5] - Z[50:55], axis=1), rtol=1e-6)
    np.testing.assert_allclose(model.pair_score(pairs), -model.pair_distance(pairs))
    knn = KNeighborsClassifier(n_neighbors=3, metric=model.get_metric()).fit(X[::3], y[::3])
    assert knn.score(X[1::3], y[1::3]) > 0.7
    # a clone of a fitted learner is unfitted
    assert not hasattr(clone(model), "module_")


def test_grid_search_over_tau_and_lambda_in_a_pipeline(iris):
    X, y = iris
    pipe = make_pipeline(small(max_epochs=3), KNeighborsClassifier(n_neighbors=3))
    grid = GridSearchCV(pipe, {"ddml__tau": [1.0, 3.0], "ddml__weight_decay": [0.0, 1e-2]},
                        cv=2).fit(X, y)
    assert set(grid.best_params_) == {"ddml__tau", "ddml__weight_decay"}
    best = grid.best_estimator_.named_steps["ddml"]
    assert best.loss_.tau == grid.best_params_["ddml__tau"]
    assert best.optimizer_.param_groups[0]["weight_decay"] == grid.best_params_[
        "ddml__weight_decay"]
    assert grid.best_score_ > 0.7


def test_sub_parameters_reach_loss_miner_and_optimizer(iris):
    X, y = iris
    model = small(DeepMetricLearner, loss=TripletMarginLoss, miner=SemiHardMiner,
                  loss__margin=0.3, miner__margin=0.3, optimizer__weight_decay=0.01)
    model.fit(X, y)
    assert model.loss_.margin == 0.3 and model.miner_.margin == 0.3
    assert model.optimizer_.param_groups[0]["weight_decay"] == 0.01
    model.set_params(loss__margin=0.7, miner__squared=False).fit(X, y)
    assert model.loss_.margin == 0.7 and model.miner_.squared is False
    # a miner instance and its sub-parameters
    model = small(DeepMetricLearner, loss=TripletMarginLoss, miner=SemiHardMiner(margin=0.5))
    assert model.get_params()["miner__margin"] == 0.5
    model.set_params(miner__margin=0.25).fit(X, y)
    assert model.miner_.margin == 0.25
    with pytest.raises(ValueError, match="miner is None"):
        small(DeepMetricLearner, miner__margin=0.1).fit(X, y)


def test_one_distance_reaches_loss_and_miner(iris):
    X, y = iris
    cosine = CosineSimilarity()
    learner = small(DeepMetricLearner, loss=TripletMarginLoss, miner=HardMiner,
                    distance=cosine, max_epochs=2)
    assert learner.get_params()["distance"] is cosine  # stored as given, checked at fit
    learner.fit(X, y)
    assert learner.loss_.distance == cosine and learner.miner_.distance == cosine
    # the same fit as the distance repeated on both
    twin = small(DeepMetricLearner, loss=TripletMarginLoss, miner=HardMiner,
                 loss__distance=cosine, miner__distance=cosine, max_epochs=2).fit(X, y)
    np.testing.assert_array_equal(learner.transform(X), twin.transform(X))
    # clone and set_params carry it; None keeps each component's own default, but for
    # the loss's distance a miner names (HardMiner: the Euclidean one, issue 24)
    assert clone(learner).distance == cosine
    plain = clone(learner).set_params(distance=None).fit(X, y)
    assert plain.loss_.distance == HardMiner.loss_distance == LpDistance()
    assert plain.miner_.distance == LpDistance(power=2)
    # a <component>__distance wins for its component
    mixed = small(DeepMetricLearner, loss=TripletMarginLoss, miner=HardMiner, distance=cosine,
                  miner__distance=LpDistance(), max_epochs=1).fit(X, y)
    assert mixed.loss_.distance == cosine and mixed.miner_.distance == LpDistance()
    # instances are kept when they agree, refused when they measure otherwise
    loss, miner = TripletMarginLoss(distance=cosine), HardMiner(distance=cosine)
    kept = small(DeepMetricLearner, loss=loss, miner=miner, distance=cosine,
                 max_epochs=1).fit(X, y)
    assert kept.loss_ is loss and kept.miner_ is miner
    for params in (dict(loss=TripletMarginLoss(), miner=HardMiner),
                   dict(loss=TripletMarginLoss, miner=HardMiner())):
        with pytest.raises(ValueError, match="measures with LpDistance"):
            small(DeepMetricLearner, distance=cosine, max_epochs=1, **params).fit(X, y)


def test_bad_learner_distances_are_refused_at_fit(iris):
    X, y = iris
    with pytest.raises(ValueError, match="distance"):
        small(DeepMetricLearner, distance="cosine").fit(X, y)
    # a loss that needs a distance, given a similarity, says so
    with pytest.raises(ValueError, match="ContrastiveLoss needs a distance"):
        small(DeepMetricLearner, loss=ContrastiveLoss, distance=CosineSimilarity()).fit(X, y)
    # nothing that would use it
    with pytest.raises(ValueError, match="neither the loss CrossBatchMemory nor the miner"):
        small(DeepMetricLearner, loss=CrossBatchMemory, distance=LpDistance()).fit(X, y)
    # the generic learners take it, DDML (the paper's loss, named parameters) does not
    for cls in (DeepMetricLearner, DVML, DAML, LogRatioLearner):
        assert "distance" in cls().get_params()
    assert "distance" not in DDML().get_params()


def test_class_losses_learn_their_size_from_the_data(iris):
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    for loss in (ArcFaceLoss, CenterLoss, MarginLoss):
        model = small(DeepMetricLearner, loss=loss).fit(X, labels)
        assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
        params = dict(model.get_all_learnable_params())
        if loss is not MarginLoss:
            assert model.loss_.n_classes == 3 and model.loss_.embedding_dim == 4
            assert "weight" in params  # the class vectors are trained
        else:
            assert "beta" in params


def test_early_stopping_on_a_validation_split(iris):
    X, y = iris
    model = small(max_epochs=50, lr=1e-5, train_split=ValidSplit(0.2, stratified=True),
                  callbacks=[EarlyStopping(patience=2, threshold=0.5)])
    model.fit(X, y)
    assert model.n_iter_ < 50
    assert "valid_loss" in model.history_[-1]


def test_verbose_prints_the_epoch_table(iris, capsys):
    X, y = iris
    small(max_epochs=2, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "epoch" in out
    small(max_epochs=2).fit(X, y)
    assert capsys.readouterr().out == ""


def test_partial_fit_and_warm_start(iris):
    X, y = iris
    model = small(max_epochs=2).fit(X, y)
    before = model.transform(X)
    model.partial_fit(X, y)
    assert model.n_iter_ == 4 and not np.allclose(model.transform(X), before)
    with pytest.raises(ValueError, match="unseen"):
        model.partial_fit(X[:4], [0, 1, 2, 7])
    warm = small(max_epochs=2, warm_start=True).fit(X, y)
    module = warm.module_
    warm.fit(X, y)
    assert warm.module_ is module and warm.n_iter_ == 4


class _Replay:
    """A batch sampler giving the same batches every epoch, counting the epochs."""

    def __init__(self, batches):
        self.batches, self.epochs = batches, 0

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        self.epochs += 1
        return iter(self.batches)


def test_given_batches_train_exactly_as_a_plain_torch_loop(iris):
    # the estimator adds bookkeeping around the step, never work that changes it: on the same
    # batches, from the same weights, it ends where a bare torch loop does
    X, y = iris
    batches = list(ClassBalancedBatchSampler(y, 30, 5, random_state=0))
    torch.manual_seed(0)
    net = MLP(4, hidden_sizes=(8, 4), normalize=True)
    start = copy.deepcopy(net.state_dict())
    replay = _Replay(batches)
    model = DeepMetricLearner(module=net, loss=TripletMarginLoss, miner=SemiHardMiner,
                              loss__margin=0.1, miner__margin=0.1, max_epochs=3,
                              iterator_train__batch_sampler=replay, random_state=0).fit(X, y)
    assert replay.epochs == 3 and model.history_[-1, "train_batch_count"] == len(batches)

    plain = MLP(4, hidden_sizes=(8, 4), normalize=True)
    plain.load_state_dict(start)
    loss, miner = TripletMarginLoss(margin=0.1), SemiHardMiner(margin=0.1)
    opt = torch.optim.Adam(plain.parameters(), lr=1e-3)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    for _ in range(3):
        for idx in batches:
            z = plain(Xt[idx])
            value = loss(z, yt[idx], miner(z, yt[idx]))
            opt.zero_grad()
            value.backward()
            opt.step()
    with torch.no_grad():
        want = plain.eval()(Xt).numpy()
    np.testing.assert_allclose(model.transform(X), want, rtol=0, atol=1e-6)


def test_dataloader_options_give_the_same_batches(iris):
    # DataLoader settings (workers, pinned memory) switch to torch's DataLoader: same batches
    X, y = iris
    fast = small().fit(X, y)
    loader = small(iterator_train__pin_memory=False, iterator_valid__pin_memory=False).fit(X, y)
    np.testing.assert_array_equal(fast.transform(X), loader.transform(X))


class _Dropout(torch.nn.Module):
    """Records whether each batch ran in training mode."""

    def __init__(self, n_features):
        super().__init__()
        self.linear = torch.nn.Linear(n_features, 3)
        self.dropout = torch.nn.Dropout(0.5)
        self.modes = []

    def forward(self, X):
        self.modes.append(self.training)
        return self.dropout(self.linear(X))


def test_training_mode_comes_back_after_each_validation_pass(iris):
    X, y = iris
    model = DeepMetricLearner(module=_Dropout, max_epochs=3, batch_size=32, random_state=0,
                              train_split=ValidSplit(0.2, stratified=True)).fit(X, y)
    n_train, n_valid = model.history_[-1, "train_batch_count"], model.history_[-1,
                                                                          "valid_batch_count"]
    # the first call measures the embedding size (eval mode), then each epoch: train, valid
    # and the collapse detector's probe (eval mode)
    epoch = [True] * n_train + [False] * n_valid + [False]
    assert model.module_.modes == [False] + epoch * 3


def test_progress_table_rows_reach_a_custom_sink_at_verbose_0(iris):
    X, y = iris
    lines = []
    small(max_epochs=2, callbacks__print_log__sink=lines.append).fit(X, y)
    assert len(lines) == 4 and "train_loss" in lines[0]  # header, rule, one row per epoch


class _Exploding(torch.nn.Module):
    def forward(self, embeddings, labels, tuples=None):
        return embeddings.sum() * 0 + float("inf")


def test_bad_input_leaves_the_fitted_state_alone(iris):
    X, y = iris
    model = small().fit(X, y)
    Z = model.transform(X)
    state = model.module_
    with pytest.raises(ValueError, match="discrete class labels"):
        model.fit(X, np.linspace(0, 1, 150))
    with pytest.raises(ValueError, match=r"MLP expects X of shape \(n_samples, n_features\)"):
        model.fit(X[:, :, None], y)
    with pytest.raises(ValueError, match="two samples"):
        model.fit(X[:3], [0, 1, 2])
    with pytest.raises(ValueError, match="requires y"):
        model.fit(X, None)
    with pytest.raises(ValueError, match="lr"):
        model.set_params(lr=-1.0).fit(X, y)
    model.set_params(lr=1e-3)
    with pytest.raises(ValueError, match="4 features"):
        model.transform(X[:, :3])
    assert model.module_ is state
    np.testing.assert_array_equal(model.transform(X), Z)


def test_non_finite_loss_stops_with_the_epoch(iris):
    X, y = iris
    with pytest.raises(FloatingPointError, match="epoch 1"):
        small(DeepMetricLearner, loss=_Exploding).fit(X, y)


def test_custom_module_and_unfitted_errors(iris):
    X, y = iris
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        small().transform(X)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    model = DeepMetricLearner(module=net, max_epochs=2, random_state=0).fit(X, y)
    assert model.transform(X).shape == (150, 3)
    # a custom module class taking n_features receives it
    model = DeepMetricLearner(module=MLP, module__hidden_sizes=(5,), max_epochs=1,
                              random_state=0).fit(X, y)
    assert model.module_.n_features == 4
