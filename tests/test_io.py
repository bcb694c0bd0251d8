"""Safe persistence (skdml.io) and resumable deep training."""

import builtins
import copy
import io
import json
import os
import pickle
import pkgutil
import random
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
from skdml.hashing import DEEP_MODULES


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
    "KernelNeighbors": "searches, it has no transform (test_kernel_neighbors)",
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


def test_kernel_neighbors(tmp_path, rng):
    from skdml.neighbors import KernelNeighbors

    X = rng.normal(size=(40, 5))
    for nn in (KernelNeighbors(n_neighbors=3).fit(X),
               KernelNeighbors(metric="mahalanobis", metric_params={"L": X[:2]}).fit(X)):
        save(nn, tmp_path / "nn.skdml")
        loaded = load(tmp_path / "nn.skdml")
        for a, b in zip(loaded.kneighbors(X[:7]), nn.kneighbors(X[:7])):
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


def _with_schema(payload, schema):
    """A skops file like ``payload`` whose schema.json is ``schema`` (a dict or its JSON)."""
    if not isinstance(schema, str):
        schema = json.dumps(schema)
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as zin, zipfile.ZipFile(buf, "w") as zout:
        for name in zin.namelist():
            data = schema if name == "schema.json" else zin.read(name)
            zout.writestr(name, data)
    return buf.getvalue()


def _schema_naming(schema, slot, module, name="X"):
    """A copy of a skops schema of NCA where ``slot`` names the type ``module.name``: the
    model itself, one of its arrays, or an attribute holding an object."""
    schema = copy.deepcopy(schema)
    attributes = schema["content"]["content"]
    if slot == "model":
        schema["__module__"] = module
    elif slot == "array":
        attributes["components_"]["__module__"] = module
    else:
        empty_list = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                      "content": []}
        attributes["n_components"] = {
            "__class__": name, "__module__": module, "__loader__": "ObjectNode",
            "content": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                        "content": {}, "key_types": empty_list},
        }
    return schema


@pytest.fixture(scope="module")
def classical_entries(classical_archive):
    with zipfile.ZipFile(classical_archive) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    with zipfile.ZipFile(io.BytesIO(entries["model.skops"])) as zf:
        schema = json.loads(zf.read("schema.json"))
    load(classical_archive)
    return entries, json.loads(entries["manifest.json"]), schema


def test_skops_types_never_imported(classical_entries, tmp_path, monkeypatch):
    """skops imports a type only to build it, after its audit against the explicit trusted
    list; skdml's own check of the schema runs before that. A module on sys.path named by
    the file is not imported, by skdml.io.load nor by skops.io.loads with skdml's list."""
    entries, manifest, schema = classical_entries
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    (module_dir / "skdml_io_evil_skops.py").write_text(
        "import builtins\nbuiltins.SKDML_IO_EVIL_RAN = True\nclass X: pass\n")
    monkeypatch.syspath_prepend(str(module_dir))
    # the attribute slot is well formed: naming a trusted class there loads
    payload = _with_schema(entries["model.skops"],
                           _schema_naming(schema, "attribute", "skdml.linear.nca", "NCA"))
    assert isinstance(skops_io.loads(payload, trusted=trusted_types()).n_components, skdml.NCA)
    before = set(sys.modules)
    for module in ("skdml_io_evil_skops", "torch.utils.model_dump.__main__",
                   "numpy.f2py.__main__"):
        for slot in ("model", "array", "attribute"):
            payload = _with_schema(entries["model.skops"], _schema_naming(schema, slot, module))
            with pytest.raises(skops_io.exceptions.UntrustedTypesFoundException):
                skops_io.loads(payload, trusted=trusted_types())
            data = _archive_bytes({**entries, "model.skops": payload}, manifest)
            with pytest.raises(ValueError, match=f"outside skdml's trusted list.*{module}"):
                load(io.BytesIO(data))
    assert set(sys.modules) == before
    assert not hasattr(builtins, "SKDML_IO_EVIL_RAN")


def test_skops_attribute_replacing_a_method_refused(classical_entries):
    entries, manifest, schema = classical_entries
    for name in ("transform", "get_metric", "__class__"):
        tampered = copy.deepcopy(schema)
        attributes = tampered["content"]["content"]
        tampered["content"]["content"] = {(name if k == "n_components" else k): v
                                          for k, v in attributes.items()}
        payload = _with_schema(entries["model.skops"], tampered)
        with pytest.raises(ValueError, match=rf"replace the methods \['NCA\.{name}'\]"):
            load(io.BytesIO(_archive_bytes({**entries, "model.skops": payload}, manifest)))


def test_every_skdml_numpy_scipy_module_refused_by_skops_path(classical_entries):
    """Every module under skdml, numpy and scipy (the roots skops trusts some types of),
    named as an attribute's type, and every skdml module named as the model's or an array's
    type, is refused without import."""
    import scipy

    entries, manifest, schema = classical_entries
    before = set(sys.modules)
    modules = {"model": _submodules(skdml), "array": _submodules(skdml),
               "attribute": _submodules(skdml) + _submodules(np) + _submodules(scipy)}
    assert set(sys.modules) == before
    legitimate = {("model", "skdml.linear.nca")}
    placeholder = "skdml_io_placeholder"
    not_refused = []
    for slot, names in modules.items():
        template = json.dumps(_schema_naming(schema, slot, placeholder))
        for module in names:
            if (slot, module) in legitimate:
                continue
            payload = _with_schema(entries["model.skops"], template.replace(placeholder, module))
            try:
                load(io.BytesIO(_archive_bytes({**entries, "model.skops": payload}, manifest)))
            except ValueError as exc:
                if "outside skdml's trusted list" in str(exc):
                    continue
            not_refused.append((slot, module))
    assert not not_refused
    assert set(sys.modules) == before


def _archive_bytes(entries, manifest):
    """An archive in memory: ``entries`` (name -> bytes) with ``manifest`` as its manifest
    (``None``: the one among the entries)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # stored, not deflated: thousands are built
        if manifest is not None:
            zf.writestr("manifest.json", json.dumps(manifest))
        for name, data in entries.items():
            if name != "manifest.json" or manifest is None:
                zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def deep_entries(deep_archive):
    """The deep archive's entries and manifest, loaded once so that everything a legitimate
    load imports is imported before a test compares ``sys.modules``."""
    path, manifest = deep_archive
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    load(io.BytesIO(_archive_bytes(entries, manifest)))
    return entries, manifest


def _with_class(manifest, slot, path):
    """A copy of ``manifest`` whose estimator class (slot ``'class'``) or parameter ``slot``
    names the class ``path``."""
    estimator = dict(manifest["estimator"])
    if slot == "class":
        estimator["class"] = path
    else:
        estimator["params"] = {**estimator["params"], slot: {"__class__": path}}
    return {**manifest, "estimator": estimator}


# The slots of the deep archive that name a class, and the class each legitimately names.
CLASS_SLOTS = {
    "class": "skdml.deep._base:DeepMetricLearner",
    "module": "skdml.deep._modules:MLP",
    "loss": "skdml.deep.losses:TripletMarginLoss",
    "optimizer": "torch.optim.adam:Adam",
    "miner": "skdml.deep.miners:HardMiner",
}


def test_class_slots_are_the_archives(deep_entries):
    """CLASS_SLOTS names what the archive holds (the miner slot holds None there)."""
    _, manifest = deep_entries
    est = manifest["estimator"]
    assert est["class"] == CLASS_SLOTS["class"]
    for slot in ("module", "loss", "optimizer"):
        assert est["params"][slot] == {"__class__": CLASS_SLOTS[slot]}
    assert est["params"]["miner"] is None


def test_model_dump_main_is_never_run(deep_entries):
    """Issue 16: naming torch's model-dump command line as the optimizer ran it on import
    (it parsed the host's sys.argv and raised SystemExit)."""
    entries, manifest = deep_entries
    target = "torch.utils.model_dump.__main__"
    assert target not in sys.modules
    before = set(sys.modules)
    data = _archive_bytes(entries, _with_class(manifest, "optimizer", f"{target}:X"))
    try:
        with pytest.raises(ValueError, match=r"not in skdml's allow-list of classes"):
            load(io.BytesIO(data))
    except SystemExit:  # pragma: no cover -- the defect itself
        pytest.fail("skdml.io.load ran torch.utils.model_dump's command line")
    assert set(sys.modules) == before


def _submodules(package):
    """Every module under an imported package, found by scanning its directories:
    pkgutil.walk_packages would import each subpackage to recurse into it."""
    names = [package.__name__]
    todo = [(list(package.__path__), package.__name__ + ".")]
    while todo:
        paths, prefix = todo.pop()
        for info in pkgutil.iter_modules(paths, prefix):
            names.append(info.name)
            if info.ispkg:
                folder = os.path.join(info.module_finder.path, info.name.rpartition(".")[2])
                todo.append(([folder], info.name + "."))
    return names


def test_every_torch_and_skdml_module_refused_without_import(deep_entries):
    """Every module under torch and skdml, named in every class slot, is refused by a plain
    lookup: nothing is imported, whether the module is imported already or not. (The few
    paths that happen to name an allowed class -- torch's own TripletMarginLoss in the loss
    slot -- are legitimate and left out.)"""
    from skdml.io import _allowed_classes

    entries, manifest = deep_entries
    allowed = set().union(*_allowed_classes())
    before = set(sys.modules)
    modules = _submodules(torch) + _submodules(skdml)
    assert set(sys.modules) == before, "listing the modules imported some"
    assert len(modules) > 1000 and "torch.utils.model_dump.__main__" in modules
    assert "skdml.deep._modules" in modules
    not_refused = []
    for module in modules:
        for slot, legitimate in CLASS_SLOTS.items():
            path = f"{module}:{legitimate.partition(':')[2]}"
            if path in allowed:
                continue
            data = _archive_bytes(entries, _with_class(manifest, slot, path))
            try:
                load(io.BytesIO(data))
            except ValueError as exc:
                if "allow-list" in str(exc):
                    continue
            not_refused.append((slot, path))
    assert not not_refused
    assert set(sys.modules) == before


def test_foreign_class_paths_never_imported(tmp_path, deep_entries, monkeypatch):
    """A module on sys.path named by the file is neither imported nor run."""
    entries, manifest = deep_entries
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    (module_dir / "skdml_io_evil_mod.py").write_text(
        "import builtins\nbuiltins.SKDML_IO_EVIL_RAN = True\nclass Net: pass\n")
    monkeypatch.syspath_prepend(str(module_dir))
    evil = "skdml_io_evil_mod:Net"
    params, state = manifest["estimator"]["params"], manifest["estimator"]["state"]
    cases = [
        ({"class": evil}, "not in skdml's allow-list of deep estimators"),
        ({"class": "skdml.deep._modules:MLP"}, "allow-list of deep estimators"),
        ({"class": "skdml.deep:NoSuchLearner"}, "allow-list of deep estimators"),
        ({"class": "os.system"}, "allow-list of deep estimators"),
        ({"class": ["skdml.deep._base:DeepMetricLearner"]}, "allow-list of deep estimators"),
        ({"params": {**params, "module": {"__class__": evil}}}, "allow-list of classes"),
        ({"params": {**params, "optimizer": {"__class__": "builtins:eval"}}},
         "allow-list of classes"),
        # a torch class that is no network, loss or optimizer (it would open a file)
        ({"params": {**params, "module": {"__class__": "torch.package:PackageImporter"}}},
         "allow-list of classes"),
        # the estimator's own public name, not the path its class has
        ({"params": {**params, "module": {"__class__": "skdml.deep:MLP"}}},
         "allow-list of classes"),
        ({"params": {**params, "lr": {"__code__": "x"}}}, "unknown tag '__code__'"),
        ({"params": {**params, "callbacks": [{"__class__": "torch.nn.modules.linear:Linear"}]}},
         "callbacks is set"),
        ({"params": {**params,
                     "callbacks__print_log": {"__class__": "torch.nn.modules.linear:Linear"}}},
         "callbacks__print_log is set"),
        ({"state": {**state, "__init__": 1}}, "learned attribute .__init__."),
        # a learned attribute that would replace a method
        ({"state": {**state, "_get_param_names": {"__class__": CLASS_SLOTS["module"]}}},
         "learned attribute ._get_param_names."),
    ]
    for change, message in cases:
        tampered = {**manifest, "estimator": {**manifest["estimator"], **change}}
        with pytest.raises(ValueError, match=message):
            load(io.BytesIO(_archive_bytes(entries, tampered)))
    assert "skdml_io_evil_mod" not in sys.modules
    assert not hasattr(builtins, "SKDML_IO_EVIL_RAN")


def test_allow_list_is_what_save_writes(deep_entries):
    """The allow-list is what save writes: every class it holds is found by its path."""
    from skdml.io import _allowed_classes

    estimators, classes = _allowed_classes()
    for table in (estimators, classes):
        for path, cls in table.items():
            assert path == f"{cls.__module__}:{cls.__qualname__}"
    assert set(CLASS_SLOTS.values()) <= set(estimators) | set(classes)
    assert "torch.nn.modules.linear:Linear" in classes
    assert "torch.optim.sgd:SGD" in classes
    assert "skdml.deep.mmdml:_ManifoldNet" in estimators  # MMDML's per-class networks
    assert not [p for p in classes if not p.startswith((
        "torch.nn.modules.", "torch.optim.", "torch.optim:", "skdml.deep.",
        *(f"{m}:" for m in DEEP_MODULES)))]


def test_networks_checked_before_allocation(deep_entries):
    """Parameters asking for a huge network are refused from its shape alone: the networks
    are first built on torch's meta device and compared with the stored weights."""
    entries, manifest = deep_entries
    params = manifest["estimator"]["params"]
    # 2**40 units: a real allocation would fail with torch's own RuntimeError, not this
    for hidden in (2**40, 7):
        tampered = {**manifest, "estimator": {
            **manifest["estimator"],
            "params": {**params, "module__hidden_sizes": {"__tuple__": [hidden]}}}}
        with pytest.raises(ValueError, match=r"weights of estimator\.module .*shapes"):
            load(io.BytesIO(_archive_bytes(entries, tampered)))
    # weights stored for a network the parameters do not build
    networks = {**manifest["estimator"]["networks"], "generator": "estimator/module.safetensors"}
    tampered = {**manifest, "estimator": {**manifest["estimator"], "networks": networks}}
    with pytest.raises(ValueError, match=r"stores weights for \['generator', 'loss', 'module'\]"):
        load(io.BytesIO(_archive_bytes(entries, tampered)))


def test_string_array_width_bounded(deep_entries):
    entries, manifest = deep_entries
    state = manifest["estimator"]["state"]
    wide = {"__strarray__": ["a"] * 100, "dtype": "<U99999999", "shape": [100]}
    tampered = {**manifest, "estimator": {**manifest["estimator"],
                                          "state": {**state, "labels_": wide}}}
    with pytest.raises(ValueError, match="wider than the strings it holds"):
        load(io.BytesIO(_archive_bytes(entries, tampered)))


def test_deeply_nested_manifest_refused(deep_entries):
    """Nesting past Python's recursion limit, in the JSON parser (100000 levels) or in the
    decoder (700), is a ValueError, not a RecursionError."""
    entries, manifest = deep_entries
    params = {**manifest["estimator"]["params"], "module__hidden_sizes": "HOLE"}
    text = json.dumps({**manifest, "estimator": {**manifest["estimator"], "params": params}})
    for depth in (100_000, 700):
        nested = text.replace('"HOLE"', "[" * depth + "]" * depth)
        with pytest.raises(ValueError):
            load(io.BytesIO(_archive_bytes({**entries, "manifest.json": nested}, None)))


# --- a fuzzed manifest -----------------------------------------------------------------------

_TAGS = ["__class__", "__estimator__", "__float__", "__tuple__", "__dict__", "__ndarray__",
         "__tensor__", "__strarray__", "__device__", "__object__"]
# Huge sizes fail fast even where a check is missing (no 2**31: 34 GB could be allocated).
_ODD_NUMBERS = [2**63, -2**63, 10**30, 2**40, -1, 0, 1, float("nan"), float("inf"),
                -float("inf"), 1e308, -0.0, 0.5]


def _slots(node):
    """Every (container, key) of a JSON tree."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        yield node, key
        if isinstance(value, (dict, list)):
            yield from _slots(value)


def _mutate(rng, manifest, strings):
    """A copy of ``manifest`` with 1-3 random mutations; returns it and what was done."""
    out = copy.deepcopy(manifest)
    done = []
    for _ in range(rng.randint(1, 3)):
        slots = list(_slots(out))
        parent, key = rng.choice(slots)
        old = parent[key]
        op = rng.choice(["delete", "type", "string", "number", "nest", "tag", "rename",
                         "graft"])
        if op == "delete":
            del parent[key]
        elif op == "type":
            parent[key] = rng.choice([None, True, False, 0, -1, 1.5, "", "x", [], {},
                                      [old], {"x": old}])
        elif op == "string":
            parent[key] = rng.choice(strings)
        elif op == "number":
            parent[key] = rng.choice(_ODD_NUMBERS)
        elif op == "nest":
            parent[key] = rng.choice([[old], [old, old], {"__tuple__": [old]},
                                      {"__dict__": {"k": old}}, {"__estimator__": old},
                                      [[[old]]]])
        elif op == "tag":
            parent[key] = {rng.choice(_TAGS): old}
        elif op == "rename" and isinstance(parent, dict):
            parent[rng.choice(strings + _TAGS)] = parent.pop(key)
        else:  # graft another subtree of the manifest here
            other, other_key = rng.choice(slots)
            parent[key] = copy.deepcopy(other[other_key])
        done.append(f"{op} at {key!r}")
    return out, done


def _strings(manifest):
    found = []
    for parent, key in _slots(manifest):
        if isinstance(key, str):
            found.append(key)
        if isinstance(parent[key], str):
            found.append(parent[key])
    return found


@pytest.mark.parametrize("archive", ["deep_entries", "object_entries"])
def test_fuzzed_manifest_loads_or_raises_valueerror(archive, request):
    """500 random mutations of a real manifest (one with classes, one with instances of
    distances, reducers, regularizers and miners): each gives a loaded model or a
    ValueError, never another exception, never SystemExit, never a new module in
    sys.modules."""
    from sklearn.base import BaseEstimator

    from skdml.io import _allowed_classes, _allowed_objects

    entries, manifest = request.getfixturevalue(archive)
    rng = random.Random(16)
    modules = _submodules(torch) + _submodules(skdml)
    estimators, classes = _allowed_classes()
    strings = (_strings(manifest) + sorted(estimators) + sorted(classes)
               + sorted(_allowed_objects())
               + [f"{m}:X" for m in rng.sample(modules, 200)]
               + ["torch.utils.model_dump.__main__:X", "builtins:eval", "os:system",
                  "meta", "cuda", "cpu", "<U3", "|O", "0x1p+9999", "estimator/loss.safetensors",
                  "arrays.safetensors", "estimator.classes_"])
    before = set(sys.modules)
    outcomes = {"loaded": 0, "refused": 0}
    bad = []
    for case in range(500):
        tampered, done = _mutate(rng, manifest, strings)
        data = _archive_bytes(entries, tampered)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = load(io.BytesIO(data))
        except ValueError:
            outcomes["refused"] += 1
        except (Exception, SystemExit) as exc:  # noqa: BLE001 -- what the test looks for
            bad.append((case, done, f"{type(exc).__name__}: {exc}"[:300]))
        else:
            assert isinstance(est, BaseEstimator)
            outcomes["loaded"] += 1
        new = set(sys.modules) - before
        if new:
            bad.append((case, done, f"imported {sorted(new)[:5]}"))
            before |= new
    assert not bad, bad[:10]
    # both outcomes occur: the mutations reach the building code, not only the checks
    assert outcomes["loaded"] >= 25 and outcomes["refused"] >= 250, outcomes


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
                            callbacks=[cp], callbacks__print_log__floatfmt=".2f").fit(X, y)
    with pytest.warns(UserWarning, match=r"estimator\.callbacks', "
                                         r"'estimator\.callbacks__print_log__floatfmt'"):
        save(est, tmp_path / "m.skdml")
    loaded = load(tmp_path / "m.skdml")
    assert loaded.callbacks is None
    assert "callbacks__print_log__floatfmt" not in loaded.get_params(deep=False)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X), strict=True)


# --- instances of distances, reducers, regularizers and miners ------------------------------

def _composed_learners():
    from skdml.deep.distances import CosineSimilarity, DotProductSimilarity, LpDistance
    from skdml.deep.losses import ContrastiveLoss, MultiSimilarityLoss
    from skdml.deep.miners import (
        BatchEasyHardMiner,
        DistanceWeightedMiner,
        HardMiner,
        MultiSimilarityMiner,
        PairMarginMiner,
        SemiHardMiner,
    )
    from skdml.deep.reducers import PerAnchorReducer, ThresholdReducer
    from skdml.deep.regularizers import CenterInvariantRegularizer, LpRegularizer

    common = {"module__hidden_sizes": (6,), "max_epochs": 2, "random_state": 0}
    return {
        # objects nested in objects, in loss__ and miner parameters
        "nested": DeepMetricLearner(
            loss=MultiSimilarityLoss, loss__distance=CosineSimilarity(),
            loss__reducer=PerAnchorReducer(ThresholdReducer(low=0.0)),
            loss__embedding_regularizer=LpRegularizer(power=2, weight=0.01),
            miner=BatchEasyHardMiner("hard", "semihard",
                                     distance=LpDistance(normalize_embeddings=True)),
            **common),
        "hard": DeepMetricLearner(loss=TripletMarginLoss,
                                  miner=HardMiner(distance=CosineSimilarity()), **common),
        "class+miner__": DeepMetricLearner(
            loss=ContrastiveLoss, miner=SemiHardMiner, miner__margin=0.1,
            miner__distance=LpDistance(p=3, normalize_embeddings=True),
            loss__embedding_regularizer=CenterInvariantRegularizer(weight=0.5), **common),
        "pairs": DeepMetricLearner(
            loss=MultiSimilarityLoss, loss__distance=DotProductSimilarity(True),
            miner=MultiSimilarityMiner(epsilon=0.2), **common),
        "margin": DeepMetricLearner(loss=ContrastiveLoss,
                                    miner=PairMarginMiner(0, 1.5), **common),
        "seeded": DeepMetricLearner(loss=ContrastiveLoss,
                                    miner=DistanceWeightedMiner(random_state=3), **common),
    }


def _param_reprs(est):
    return {k: repr(v) for k, v in est.get_params(deep=False).items()}


def _objects_in(node):
    """The class paths of every ``__object__`` in a manifest's JSON tree."""
    found = []
    if isinstance(node, dict):
        if "__object__" in node:
            found.append(node["__object__"])
        for v in node.values():
            found += _objects_in(v)
    elif isinstance(node, list):
        for v in node:
            found += _objects_in(v)
    return found


@pytest.mark.parametrize("name", list(_composed_learners()))
def test_roundtrip_with_composable_objects(name, iris, tmp_path):
    from sklearn.base import clone

    X, y = iris
    est = _composed_learners()[name].fit(X, y)
    save(est, tmp_path / "m.skdml")
    with zipfile.ZipFile(tmp_path / "m.skdml") as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert _objects_in(manifest)
    assert all(p.startswith(("skdml.deep.distances:", "skdml.deep.reducers:",
                             "skdml.deep.regularizers:", "skdml.deep.miners:"))
               for p in _objects_in(manifest))
    loaded = load(tmp_path / "m.skdml")
    assert _param_reprs(loaded) == _param_reprs(est)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X), strict=True)
    # the rebuilt objects behave like the originals: a fresh fit of each gives the same model
    np.testing.assert_array_equal(clone(loaded).fit(X, y).transform(X),
                                  clone(est).fit(X, y).transform(X), strict=True)
    # an unfitted learner round-trips too
    save(clone(est), tmp_path / "unfitted.skdml")
    assert _param_reprs(load(tmp_path / "unfitted.skdml")) == _param_reprs(est)


def test_every_allowed_object_roundtrips():
    """Each class of the objects' allow-list, at its defaults, is stored and rebuilt."""
    from skdml.io import _Decoder, _Encoder, _allowed_objects

    objects = _allowed_objects()
    names = {p.rpartition(":")[2] for p in objects}
    assert {"LpDistance", "CosineSimilarity", "PerAnchorReducer", "LpRegularizer",
            "HardMiner", "MultiSimilarityMiner", "AngularMiner"} <= names
    assert not [p for p in objects if p.rpartition(":")[2].endswith("Loss")]
    for path, cls in objects.items():
        enc = _Encoder()
        encoded = json.loads(json.dumps(enc.value(cls(), "x")))
        assert encoded["__object__"] == path and not enc.arrays
        rebuilt = _Decoder({}, None).value(encoded, "x")
        assert type(rebuilt) is cls and repr(rebuilt) == repr(cls())


@pytest.fixture(scope="module")
def object_entries(iris, tmp_path_factory):
    """An archive holding instances (its ``miner`` slot, loss__ parameters, and an object
    nested in an object), loaded once."""
    X, y = iris
    est = _composed_learners()["nested"].fit(X, y)
    path = tmp_path_factory.mktemp("objects") / "objects.skdml"
    save(est, path)
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(entries["manifest.json"])
    load(io.BytesIO(_archive_bytes(entries, manifest)))
    return entries, manifest


def _object_slots(manifest):
    """``(name, node)`` of every ``__object__`` node of the manifest, nested ones included."""
    params = manifest["estimator"]["params"]
    slots = {"miner": params["miner"], "miner.distance": params["miner"]["params"]["distance"],
             "loss__distance": params["loss__distance"],
             "loss__reducer": params["loss__reducer"],
             "loss__reducer.anchor_reducer":
                 params["loss__reducer"]["params"]["anchor_reducer"]}
    assert all("__object__" in node for node in slots.values())
    return slots


def _with_object(manifest, slot, change):
    tampered = copy.deepcopy(manifest)
    change(_object_slots(tampered)[slot])
    return tampered


def test_object_slots_refuse_foreign_classes(object_entries, tmp_path, monkeypatch):
    """A class outside the objects' allow-list, named in any slot holding an instance, is
    refused by a plain lookup: nothing imported, nothing run. Parameters are checked too."""
    entries, manifest = object_entries
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    (module_dir / "skdml_io_evil_obj.py").write_text(
        "import builtins\nbuiltins.SKDML_IO_EVIL_RAN = True\nclass LpDistance: pass\n")
    monkeypatch.syspath_prepend(str(module_dir))
    foreign = [
        "skdml_io_evil_obj:LpDistance",
        "skdml.deep.distances:LpDistance.__init__",
        "skdml.deep:LpDistance",  # a public name, not the class's path
        "skdml.deep.losses:TripletMarginLoss",  # a class slot's class, not an object's
        "skdml.deep._base:DeepMetricLearner",
        "torch.nn.modules.linear:Linear",
        "torch.utils.model_dump.__main__:X",
        "skdml.deep.distances:check_distance",  # a function of an allowed module
        "builtins:eval", "os:system", "", 7, None, ["skdml.deep.distances:LpDistance"],
    ]
    before = set(sys.modules)
    for slot in _object_slots(manifest):
        for path in foreign:
            tampered = _with_object(manifest, slot,
                                    lambda node, path=path: node.update(__object__=path))
            with pytest.raises(ValueError, match="allow-list of objects"):
                load(io.BytesIO(_archive_bytes(entries, tampered)))
    # parameters: an unknown name, a value the constructor refuses, a class, a foreign tag
    cases = [
        ("miner.distance", {"q": 3}, r"sets \['q'\] on LpDistance"),
        ("miner.distance", {"__init__": 1}, r"sets \['__init__'\] on LpDistance"),
        ("miner.distance", {"p": 0}, r"miner\.distance cannot be rebuilt: LpDistance: p must"),
        ("miner", {"distance": {"__class__": "skdml.deep.miners:HardMiner"}},
         "distance must be an instance"),
        ("loss__reducer", {"anchor_reducer": {"__code__": "x"}}, "unknown tag '__code__'"),
        ("loss__reducer.anchor_reducer", {"low": {"__object__": "os:system"}},
         "allow-list of objects"),
    ]
    for slot, params, message in cases:
        tampered = _with_object(manifest, slot, lambda node, p=params: node["params"].update(p))
        with pytest.raises(ValueError, match=message):
            load(io.BytesIO(_archive_bytes(entries, tampered)))
    for bad in (None, [], "x"):
        tampered = _with_object(manifest, "miner", lambda node, b=bad: node.update(params=b))
        with pytest.raises(ValueError, match="params"):
            load(io.BytesIO(_archive_bytes(entries, tampered)))
    assert set(sys.modules) == before
    assert "skdml_io_evil_obj" not in sys.modules
    assert not hasattr(builtins, "SKDML_IO_EVIL_RAN")


def test_every_torch_and_skdml_module_refused_in_object_slots(object_entries):
    """Every module under torch and skdml, named with an allowed object's class name in an
    object slot (one nested in another object), is refused without import unless it is
    that class's own path."""
    from skdml.io import _allowed_objects

    entries, manifest = object_entries
    allowed = _allowed_objects()
    before = set(sys.modules)
    modules = _submodules(torch) + _submodules(skdml)
    not_refused = []
    for module in modules:
        # one slot: every object slot goes through the same lookup (tested above)
        for slot, qualname in (("miner.distance", "LpDistance"),):
            path = f"{module}:{qualname}"
            if path in allowed:
                continue
            tampered = _with_object(manifest, slot, lambda node, p=path: node.update(__object__=p))
            try:
                load(io.BytesIO(_archive_bytes(entries, tampered)))
            except ValueError as exc:
                if "allow-list of objects" in str(exc):
                    continue
            not_refused.append((slot, path))
    assert not not_refused
    assert set(sys.modules) == before


def test_save_refuses_loss_instances_and_foreign_objects(tmp_path):
    from skdml.deep.distances import CosineSimilarity, LpDistance
    from skdml.deep.miners import HardMiner

    est = DeepMetricLearner(loss=TripletMarginLoss(distance=CosineSimilarity()))
    with pytest.raises(ValueError, match=r"estimator\.loss is a skdml\.deep\.losses\."
                                         r"TripletMarginLoss, which cannot be stored without "
                                         r"pickle.* loss=<class>, .* loss__<name>"):
        save(est, tmp_path / "x")

    class LocalDistance(LpDistance):  # a subclass is code the allow-list does not know
        pass

    for params in ({"loss__distance": LocalDistance()},
                   {"miner": HardMiner(distance=LocalDistance())}):
        with pytest.raises(ValueError, match=r"LocalDistance, which cannot be stored without "
                                             "pickle"):
            save(DeepMetricLearner(loss=TripletMarginLoss, **params), tmp_path / "x")


def test_archive_of_format_version_1_still_loads(iris):
    """An archive written by skdml.io before instances could be stored (commit da849b5:
    DeepMetricLearner(loss=TripletMarginLoss, miner=HardMiner, loss__margin=0.3,
    module__hidden_sizes=(5, 3), max_epochs=2, lr=0.01, random_state=0) fitted on the
    standardized iris data with string labels) loads and gives the embedding it gave."""
    from skdml.deep.miners import HardMiner

    stored = np.load(os.path.join(os.path.dirname(__file__), "data", "io_v1_deep.npz"))
    est = load(io.BytesIO(stored["archive"].tobytes()))
    assert type(est) is DeepMetricLearner
    assert est.loss is TripletMarginLoss and est.miner is HardMiner
    assert est.get_params()["loss__margin"] == 0.3
    np.testing.assert_array_equal(est.classes_, ["setosa", "versicolor", "virginica"])
    np.testing.assert_allclose(est.transform(stored["X"]), stored["Z"], rtol=1e-6, atol=1e-7)
    # what save writes for such a learner today is the same archive, key for key
    with zipfile.ZipFile(io.BytesIO(stored["archive"].tobytes())) as zf:
        old = json.loads(zf.read("manifest.json"))
    buf = io.BytesIO()
    save(est, buf)
    with zipfile.ZipFile(buf) as zf:
        new = json.loads(zf.read("manifest.json"))
    old.pop("skdml_version"), new.pop("skdml_version")
    # parameters added since are written at their defaults, except standardize: the
    # learner was trained on X as it came, and loads so; nothing else differs
    assert est.standardize is False
    added = {k: v for k, v in new["estimator"]["params"].items()
             if k not in old["estimator"]["params"]}
    assert added == {"distance": None, "n_jobs": None, "standardize": False}
    for k in added:
        new["estimator"]["params"].pop(k)
    assert new == old


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
