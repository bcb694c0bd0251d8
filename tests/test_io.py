"""Safe persistence (skdml.io) and resumable deep training."""

import builtins
import json
import pickle
import sys
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import skdml
from skdml.io import load, save, trusted_types

from .conftest import make_instance, public_estimators, target_for

torch = pytest.importorskip("torch")
skops_io = pytest.importorskip("skops.io")
from skorch.callbacks import Callback, Checkpoint, LoadInitState

from skdml.deep import DeepMetricLearner, TripletMarginLoss


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _fitted(cls, X, y):
    est = make_instance(cls)
    if "max_epochs" in est.get_params():
        est.set_params(max_epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of short fits
        return est.fit(X, target_for(cls, y))


# Estimators that cannot be fitted on a plain (X, y) and are tested on their own below.
SEPARATE = {
    "HammingNeighbors": "indexes binary codes, not real features (test_hamming_neighbors)",
    "MMDML": "is fitted on image sets, not on (X, y) (test_mmdml)",
}


@pytest.mark.parametrize("cls", public_estimators(), ids=lambda c: c.__name__)
def test_roundtrip_bit_identical(cls, iris, tmp_path):
    if cls.__name__ in SEPARATE:
        pytest.skip(f"{cls.__name__} {SEPARATE[cls.__name__]}")
    X, y = iris
    est = _fitted(cls, X, y)
    path = tmp_path / "model.skdml"
    save(est, path)
    loaded = load(path)
    assert type(loaded) is type(est)
    assert loaded.get_params().keys() == est.get_params().keys()
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X), strict=True)
    X32 = X.astype(np.float32)
    np.testing.assert_array_equal(loaded.transform(X32), est.transform(X32), strict=True)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = zf.namelist()
    assert manifest["format"] == "skdml-model"
    assert manifest["skdml_version"] == skdml.__version__
    if isinstance(est, DeepMetricLearner):
        assert manifest["storage"] == "json+safetensors"
        assert "estimator/module.safetensors" in names
        assert loaded.n_iter_ == est.n_iter_ == 2
        assert [r["train_loss"] for r in loaded.history_] == \
            [r["train_loss"] for r in est.history_]
    else:
        assert manifest["storage"] == "skops"


def test_hamming_neighbors(tmp_path, rng):
    from skdml.hashing import HammingNeighbors

    codes = rng.integers(0, 2, size=(40, 24))
    nn = HammingNeighbors(n_neighbors=3).fit(codes)
    save(nn, tmp_path / "nn.skdml")
    loaded = load(tmp_path / "nn.skdml")
    for a, b in zip(loaded.kneighbors(codes[:7]), nn.kneighbors(codes[:7])):
        np.testing.assert_array_equal(a, b, strict=True)


def test_mmdml(tmp_path):
    from skdml.datasets import make_digits_image_sets
    from skdml.deep import MMDML

    sets, y = make_digits_image_sets(n_sets_per_class=2, random_state=0)
    sets = [s / 16 for s in sets]
    model = MMDML(hidden_sizes=(8,), max_epochs=2, random_state=0).fit(sets, y)
    save(model, tmp_path / "mmdml.skdml")
    loaded = load(tmp_path / "mmdml.skdml")
    assert type(loaded) is MMDML and len(loaded.networks_) == len(model.networks_)
    np.testing.assert_array_equal(loaded.manifold_distances(sets[:5]),
                                  model.manifold_distances(sets[:5]), strict=True)
    np.testing.assert_array_equal(loaded.predict(sets), model.predict(sets), strict=True)


def test_string_labels_and_feature_names(iris, tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = DeepMetricLearner(module__hidden_sizes=(6,), max_epochs=2, random_state=0)
    est.fit(df, labels)
    save(est, tmp_path / "m.skdml")
    loaded = load(tmp_path / "m.skdml")
    np.testing.assert_array_equal(loaded.classes_, est.classes_, strict=True)
    np.testing.assert_array_equal(loaded.feature_names_in_, est.feature_names_in_,
                                  strict=True)
    np.testing.assert_array_equal(loaded.transform(df), est.transform(df), strict=True)


def test_pickle_keeps_working(iris):
    X, y = iris
    for est in (skdml.NCA(max_iter=20, random_state=0).fit(X, y),
                DeepMetricLearner(module__hidden_sizes=(6,), max_epochs=2,
                                  random_state=0).fit(X, y)):
        loaded = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(loaded.transform(X), est.transform(X), strict=True)


# --- the trusted types -----------------------------------------------------------------------

def test_trusted_types_with_skops_directly(iris, tmp_path):
    X, y = iris
    trusted = trusted_types()
    assert "skdml.linear.nca.NCA" in trusted
    assert "skdml.hashing.classical.ITQ" in trusted
    assert not [t for t in trusted if not t.startswith("skdml.")]
    lmnn = skdml.LMNN(max_iter=5, random_state=0).fit(X, y)
    skops_io.dump(lmnn, tmp_path / "lmnn.skops")
    loaded = skops_io.load(tmp_path / "lmnn.skops", trusted=trusted)
    np.testing.assert_array_equal(loaded.transform(X), lmnn.transform(X), strict=True)
    # the classes outside skdml, numpy, scipy and skops' own defaults stay untrusted
    skops_io.dump(Pipeline([("nca", skdml.NCA(max_iter=5)), ("f", FunctionTransformer(abs))]),
                  tmp_path / "pipe.skops")
    with pytest.raises(skops_io.exceptions.UntrustedTypesFoundException):
        skops_io.load(tmp_path / "pipe.skops", trusted=trusted)


# --- refused files ---------------------------------------------------------------------------

def _rewrite(src, dst, manifest=None, replace=None):
    """Copy an archive, changing its manifest and/or replacing entries."""
    replace = dict(replace or {})
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "manifest.json" and manifest is not None:
                data = json.dumps(manifest)
            zout.writestr(name, replace.pop(name, data))
        for name, data in replace.items():
            zout.writestr(name, data)


@pytest.fixture(scope="module")
def deep_archive(iris, tmp_path_factory):
    X, y = iris
    est = DeepMetricLearner(loss=TripletMarginLoss, module__hidden_sizes=(6,), max_epochs=2,
                            random_state=0).fit(X, y)
    path = tmp_path_factory.mktemp("deep") / "deep.skdml"
    save(est, path)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    return path, manifest


@pytest.fixture(scope="module")
def classical_archive(iris, tmp_path_factory):
    X, y = iris
    path = tmp_path_factory.mktemp("classical") / "nca.skdml"
    save(skdml.NCA(max_iter=10, random_state=0).fit(X, y), path)
    return path


def test_foreign_files_refused(tmp_path, classical_archive):
    bad = tmp_path / "bad"
    bad.write_bytes(b"not a zip at all" * 10)
    with pytest.raises(ValueError, match="not a skdml model archive"):
        load(bad)
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("other.txt", "x")
    with pytest.raises(ValueError, match="has no manifest.json"):
        load(bad)
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("manifest.json", "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load(bad)
    # a plain skops file is a zip, but not a skdml archive
    skops_io.dump(StandardScaler(), tmp_path / "plain.skops")
    with pytest.raises(ValueError, match="not a skdml model archive"):
        load(tmp_path / "plain.skops")
    with zipfile.ZipFile(classical_archive) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    for change, message in [({"format": "other"}, "not a skdml model archive"),
                            ({"format_version": 99}, "format version 99"),
                            ({"storage": "pickle"}, "unknown storage 'pickle'")]:
        _rewrite(classical_archive, bad, manifest={**manifest, **change})
        with pytest.raises(ValueError, match=message):
            load(bad)


def test_untrusted_skops_type_refused(tmp_path, classical_archive, iris):
    bad = tmp_path / "bad.skdml"
    # a type skops trusts by default (a scikit-learn estimator) is not a skdml model ...
    payload = skops_io.dumps(StandardScaler().fit(iris[0]))
    _rewrite(classical_archive, bad, replace={"model.skops": payload})
    with pytest.raises(ValueError, match=r"outside skdml's trusted list.*StandardScaler"):
        load(bad)
    # ... nor is a skdml model holding a foreign type (a function here)
    nca = skdml.NCA(max_iter=5)
    nca.callback_ = abs  # an attribute naming a builtin function
    payload = skops_io.dumps(nca)
    _rewrite(classical_archive, bad, replace={"model.skops": payload})
    with pytest.raises(ValueError, match=r"outside skdml's trusted list.*builtins.abs"):
        load(bad)
    _rewrite(classical_archive, bad, replace={"model.skops": b"garbage"})
    with pytest.raises(ValueError, match="damaged"):
        load(bad)


def test_foreign_class_paths_never_imported(tmp_path, deep_archive, monkeypatch):
    """A class path outside skdml/torch is refused before its module is imported."""
    path, manifest = deep_archive
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    (module_dir / "skdml_io_evil_mod.py").write_text(
        "import builtins\nbuiltins.SKDML_IO_EVIL_RAN = True\nclass Net: pass\n")
    monkeypatch.syspath_prepend(str(module_dir))
    bad = tmp_path / "bad.skdml"
    evil = "skdml_io_evil_mod:Net"
    cases = [
        ({"class": evil}, "outside skdml and torch"),
        ({"class": "skdml.deep._modules:MLP"}, "not a skdml estimator"),
        ({"class": "skdml.deep:NoSuchLearner"}, "does not exist"),
        ({"class": "os.system"}, "not a valid 'module:qualname' path"),
        ({"params": {**manifest["estimator"]["params"], "module": {"__class__": evil}}},
         "outside skdml and torch"),
        ({"params": {**manifest["estimator"]["params"],
                     "optimizer": {"__class__": "builtins:eval"}}},
         "outside skdml and torch"),
        ({"params": {**manifest["estimator"]["params"], "lr": {"__code__": "x"}}},
         "unknown tag '__code__'"),
        # a torch class that is no network, loss or optimizer (it would open a file)
        ({"params": {**manifest["estimator"]["params"],
                     "module": {"__class__": "torch.package:PackageImporter"}}},
         "only networks, losses and optimizers"),
        ({"params": {**manifest["estimator"]["params"],
                     "callbacks": [{"__class__": "torch.nn:Linear"}]}},
         "callbacks is set"),
        ({"state": {**manifest["estimator"]["state"], "__init__": 1}},
         "learned attribute .__init__."),
    ]
    for change, message in cases:
        tampered = {**manifest, "estimator": {**manifest["estimator"], **change}}
        _rewrite(path, bad, manifest=tampered)
        with pytest.raises(ValueError, match=message):
            load(bad)
    assert "skdml_io_evil_mod" not in sys.modules
    assert not hasattr(builtins, "SKDML_IO_EVIL_RAN")


def test_tampered_weights_refused(tmp_path, deep_archive, iris):
    path, _ = deep_archive
    bad = tmp_path / "bad.skdml"
    with zipfile.ZipFile(path) as zf:
        weights = zf.read("estimator/module.safetensors")
    _rewrite(path, bad, replace={"estimator/module.safetensors": weights[:-20]})
    with pytest.raises(ValueError, match="weights of estimator.module could not be loaded"):
        load(bad)
    # weights of another architecture
    other = DeepMetricLearner(module__hidden_sizes=(5,), max_epochs=1,
                              random_state=0).fit(*iris)
    save(other, tmp_path / "other.skdml")
    with zipfile.ZipFile(tmp_path / "other.skdml") as zf:
        weights = zf.read("estimator/module.safetensors")
    _rewrite(path, bad, replace={"estimator/module.safetensors": weights})
    with pytest.raises(ValueError, match="weights of estimator.module could not be loaded"):
        load(bad)


def test_save_refuses_what_needs_pickle(tmp_path, iris):
    from sklearn.decomposition import PCA

    from skdml.deep import MLP

    with pytest.raises(ValueError, match="saves skdml estimators"):
        save(PCA(), tmp_path / "x")
    est = DeepMetricLearner(module=MLP(4, hidden_sizes=(3,)), max_epochs=1)
    with pytest.raises(ValueError, match=r"estimator\.module is a skdml\.deep\._modules\.MLP"):
        save(est, tmp_path / "x")

    class LocalLoss(torch.nn.Module):
        def forward(self, z, labels, tuples=None):
            return z.sum() * 0

    with pytest.raises(ValueError, match=r"estimator\.loss is .*LocalLoss.*outside skdml"):
        save(DeepMetricLearner(loss=LocalLoss), tmp_path / "x")


def test_training_callbacks_not_stored(tmp_path, iris):
    X, y = iris
    cp = Checkpoint(monitor=None, dirname=str(tmp_path / "cp"))
    est = DeepMetricLearner(module__hidden_sizes=(6,), max_epochs=1, random_state=0,
                            callbacks=[cp]).fit(X, y)
    with pytest.warns(UserWarning, match=r"estimator\.callbacks"):
        save(est, tmp_path / "m.skdml")
    loaded = load(tmp_path / "m.skdml")
    assert loaded.callbacks is None
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X), strict=True)


# --- resumable deep training -----------------------------------------------------------------

def _learner(**params):
    return DeepMetricLearner(module__hidden_sizes=(8,), random_state=0, **params)


def _weights(net):
    return {k: v.clone() for k, v in net.module_.state_dict().items()}


class _WeightsAtTrainBegin(Callback):
    """Records the network's weights when training (re)starts, after LoadInitState."""

    def on_train_begin(self, net, **kwargs):
        self.weights = _weights(net)


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_checkpoint_every_n_epochs_and_resume(iris, tmp_path):
    X, y = iris
    saved = {}

    class Snapshot(Callback):
        def on_epoch_end(self, net, **kwargs):
            saved[len(net.history)] = _weights(net)

    cp = Checkpoint(monitor=lambda net: len(net.history) % 2 == 0, dirname=str(tmp_path),
                    f_criterion=None, f_loss="loss.pt")
    first = _learner(max_epochs=5, callbacks=[cp, Snapshot()]).fit(X, y)
    assert first.n_iter_ == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["history.json", "loss.pt", "optimizer.pt", "params.pt"]

    begin = _WeightsAtTrainBegin()
    resumed = _learner(max_epochs=2, callbacks=[LoadInitState(cp), begin]).fit(X, y)
    # the last checkpoint is epoch 4 (every 2 epochs): training went on from there
    _assert_same_weights(begin.weights, saved[4])
    assert resumed.n_iter_ == 6 and len(resumed.history_) == 6
    assert [r["train_loss"] for r in resumed.history_[:4]] == \
        [r["train_loss"] for r in first.history_[:4]]
    assert np.isfinite(resumed.transform(X)).all()


@pytest.mark.parametrize("how", ["warm_start", "partial_fit", "loaded"])
def test_continue_training(iris, tmp_path, how):
    X, y = iris
    est = _learner(max_epochs=2).fit(X, y)
    before = _weights(est)
    begin = _WeightsAtTrainBegin()
    if how == "loaded":
        save(est, tmp_path / "m.skdml")
        est = load(tmp_path / "m.skdml")
    # skorch's set_params(callbacks=...) on an initialized net rebuilds callbacks_ from the
    # previous list: initialize_callbacks() takes the new one
    est.set_params(callbacks=[begin])
    est.initialize_callbacks()
    if how == "partial_fit":
        est.partial_fit(X, y)
    else:
        est.set_params(warm_start=True)
        est.fit(X, y)
    _assert_same_weights(begin.weights, before)
    assert est.n_iter_ == 4 and len(est.history_) == 4
    assert not all(torch.equal(a, b) for a, b in zip(_weights(est).values(), before.values()))


def test_keyboard_interrupt_leaves_a_usable_estimator(iris):
    X, y = iris
    saved = {}

    class Interrupt(Callback):
        def on_epoch_end(self, net, **kwargs):
            saved[len(net.history)] = _weights(net)

        def on_batch_end(self, net, **kwargs):
            if len(net.history) == 3:  # in the middle of the third epoch
                raise KeyboardInterrupt

    est = _learner(max_epochs=10, callbacks=[Interrupt()]).fit(X, y)
    assert est.n_iter_ == 2  # the completed epochs
    assert len(est.history_) == 3 and "train_loss" not in est.history_[-1]
    Z = est.transform(X)
    assert Z.shape == (len(X), est.embedding_dim_) and np.isfinite(Z).all()
    # the weights are those after the last completed batch, one past epoch 2's
    assert sorted(saved) == [1, 2]
    assert not all(torch.equal(a, b) for a, b in zip(_weights(est).values(),
                                                     saved[2].values()))
    # ... and training goes on from there
    est.set_params(callbacks=None, max_epochs=1)
    est.initialize_callbacks()
    est.partial_fit(X, y)
    assert est.n_iter_ == 3
