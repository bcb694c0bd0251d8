"""Safe persistence: save a fitted estimator to one file and load it without running code.

``save(est, path)`` writes a zip archive holding a ``manifest.json`` (the format, its version,
the skdml version and how the model is stored) and the model:

- classical learners and hashers (no torch): a :mod:`skops.io` file, loaded with
  ``trusted=trusted_types()`` -- skdml's own estimator classes, nothing else;
- deep learners (skorch-based, anything deriving from
  :class:`~skdml.deep.DeepMetricLearner`, and :class:`~skdml.deep.MMDML`, which holds such
  networks): the constructor parameters and learned attributes as JSON, the arrays and the
  network weights as safetensors. Classes among the parameters (``module``, ``loss``,
  ``miner``, ``optimizer``) are recorded as ``"module:qualname"`` strings and looked up on
  load, by that exact string, in a fixed allow-list (``_allowed_classes``): a file never
  makes ``load`` import a module. Instances of the plain (weightless) classes of
  :mod:`skdml.deep.distances`, :mod:`~skdml.deep.reducers`,
  :mod:`~skdml.deep.regularizers` and :mod:`~skdml.deep.miners` (``miner=HardMiner(...)``,
  ``loss__distance=CosineSimilarity()``) are recorded as their class path and their
  ``get_params()``, and rebuilt on load from a second allow-list (``_allowed_objects``)
  after their parameters are checked the same way, recursively. Loss instances (torch
  modules, possibly with learned weights) are not stored: give the loss class and its
  settings as ``loss__<name>``.

``load(path)`` checks the whole archive -- manifest, types, class paths -- before it builds
anything, and answers a foreign or tampered file with a ``ValueError``. Pickle keeps working
for trusted files.
"""

import functools
import importlib
import inspect
import io
import json
import re
import sys
import warnings
import zipfile

import numpy as np

__all__ = ["load", "save", "trusted_types"]

FORMAT = "skdml-model"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_SKOPS_ENTRY = "model.skops"
_ARRAYS_ENTRY = "arrays.safetensors"

# Attributes of a skorch net that its parameters and initialize() rebuild: never stored.
_SKORCH_STATE = frozenset({
    "callbacks_", "history_", "init_context_", "initialized_", "virtual_params_",
    "_params_to_validate", "cuda_dependent_attributes_", "prefixes_", "_criteria",
    "_modules", "_optimizers",
})
# Learned attributes an archive may set: `name_` or `_name`, never a dunder.
_STATE_NAME_RE = re.compile(r"^(_[a-z][a-z0-9_]*|[a-z][a-z0-9_]*_)$", re.IGNORECASE)
# Training-time-only parameters: not stored (a callback or a split function is code), nor
# the callbacks' own parameters (``callbacks__<name>__<param>``, which may name a class).
_TRAINING_ONLY = ("callbacks", "train_split")
# A string array's width beyond its longest string is honoured up to this many bytes (a file
# must not make load allocate more than it holds).
_STRARRAY_SLACK_BYTES = 1 << 24


def _training_only(name, value):
    if name.startswith("callbacks__") and name.count("__") == 1 and value is None:
        return False  # a default callback switched off (callbacks__collapse=None): a setting
    return name in _TRAINING_ONLY or name.startswith("callbacks__")


# --- which estimators go where -------------------------------------------------------------

def _is_deep(est):
    """True for skorch-based learners and estimators of skdml's torch subpackages, told
    from the class hierarchy so that classical use never imports torch."""
    for klass in type(est).__mro__:
        if klass.__module__ == "skdml.deep._base" and klass.__name__ == "DeepMetricLearner":
            return True
    from .hashing import DEEP_MODULES

    module = type(est).__module__
    return module.startswith("skdml.deep") or module in DEEP_MODULES


@functools.cache
def _classical_classes():
    """skdml's public classical estimator classes (the deep ones are never imported)."""
    from sklearn.base import BaseEstimator

    import skdml

    lazy = set(getattr(skdml, "_LAZY", ())) | set(getattr(skdml.hashing, "_DEEP", ()))
    found = []
    modules = [skdml]
    for name in skdml.__all__:
        if name in lazy:
            continue
        obj = getattr(skdml, name)
        if isinstance(obj, type(skdml)):
            modules.append(obj)
    for module in modules:
        for name in getattr(module, "__all__", ()):
            if name in lazy:
                continue
            obj = getattr(module, name, None)
            if isinstance(obj, type) and issubclass(obj, BaseEstimator) and obj not in found:
                found.append(obj)
    return tuple(found)


def trusted_types():
    """The types skdml trusts when loading a :mod:`skops.io` file: its own estimators.

    NumPy arrays, dtypes and builtin containers are trusted by skops itself; nothing else is
    added, so ``skops.io.load(path, trusted=skdml.io.trusted_types())`` loads any classical
    skdml estimator and refuses a file naming any other type.

    Returns
    -------
    types : list of str
        Fully qualified class names, sorted.

    Examples
    --------
    >>> from skdml.io import trusted_types
    >>> "skdml.linear.nca.NCA" in trusted_types()
    True
    """
    return list(_trusted_names())


@functools.cache
def _trusted_names():
    return tuple(sorted(f"{c.__module__}.{c.__qualname__}" for c in _classical_classes()))


def _path(cls):
    return f"{cls.__module__}:{cls.__qualname__}"


@functools.cache
def _allowed_classes():
    """The classes a deep archive may name: ``(estimators, classes)``, two dicts from
    ``"module:qualname"`` to the class.

    Built once from modules skdml itself imports, whatever any file says: ``estimators``
    holds the public estimators of :mod:`skdml.deep` and of the torch hashers' modules
    (:mod:`skdml.hashing.deep`, :mod:`skdml.hashing.dmdh`, ...) and the
    estimators defined beside them that they hold (MMDML's per-class networks); ``classes``
    the public ``torch.nn`` layers, losses and containers, the public ``torch.optim``
    optimizers, the other public classes of those skdml modules (networks, losses,
    miners, samplers), the networks defined beside their estimators (CMDVH's coders) and
    the classes among the estimators' defaults.
    """
    import torch.nn
    import torch.optim
    from sklearn.base import BaseEstimator

    import skdml.deep
    from skdml.hashing import DEEP_MODULES

    estimators, classes = {}, {}
    for name, obj in vars(torch.nn).items():
        if (not name.startswith("_") and isinstance(obj, type)
                and issubclass(obj, torch.nn.Module)
                and obj.__module__.startswith("torch.nn.modules.")):
            classes[_path(obj)] = obj
    for name, obj in vars(torch.optim).items():
        if (not name.startswith("_") and isinstance(obj, type)
                and issubclass(obj, torch.optim.Optimizer)):
            classes[_path(obj)] = obj
    for package in (skdml.deep, *map(importlib.import_module, DEEP_MODULES)):
        for name in package.__all__:
            obj = getattr(package, name)
            if not isinstance(obj, type):
                continue
            if not issubclass(obj, BaseEstimator):
                classes[_path(obj)] = obj
                continue
            estimators[_path(obj)] = obj
            for param in inspect.signature(obj).parameters.values():
                if isinstance(param.default, type) and param.default is not param.empty:
                    classes[_path(param.default)] = param.default
            for helper in vars(sys.modules[obj.__module__]).values():
                if not (isinstance(helper, type) and helper.__module__ == obj.__module__):
                    continue
                if issubclass(helper, BaseEstimator):
                    estimators[_path(helper)] = helper
                elif issubclass(helper, torch.nn.Module):  # its private networks (CMDVH's)
                    classes[_path(helper)] = helper
    return estimators, classes


# The modules whose public plain-object classes (settings in ``get_params``, no weights) an
# archive may store as instances.
_OBJECT_MODULES = ("skdml.deep.distances", "skdml.deep.reducers", "skdml.deep.regularizers",
                   "skdml.deep.miners")


@functools.cache
def _allowed_objects():
    """The classes whose instances a deep archive may hold: a dict from ``"module:qualname"``
    to the class, built once from the ``__all__`` of :data:`_OBJECT_MODULES` (imported by
    :mod:`skdml.deep` itself): the public classes with ``get_params`` that are not torch
    modules."""
    import torch.nn

    import skdml.deep  # noqa: F401 -- imports the modules below

    objects = {}
    for module_name in _OBJECT_MODULES:
        module = sys.modules[module_name]
        for name in module.__all__:
            obj = getattr(module, name)
            if (isinstance(obj, type) and callable(getattr(obj, "get_params", None))
                    and not issubclass(obj, torch.nn.Module)):
                objects[_path(obj)] = obj
    return objects


def _object_params(cls):
    """The constructor parameters an archive may set on an instance of ``cls``."""
    return {name for name, p in inspect.signature(cls).parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


# Where classes lived when archives of this format were written, for classes that have
# moved since: read on load only (save always writes the current path).
_FORMER_PATHS = {
    "skdml.deep.dtml:TransferObjective": "skdml.deep.losses:TransferObjective",
    "skdml.deep.mmdml:ManifoldMarginLoss": "skdml.deep.losses:ManifoldMarginLoss",
    "skdml.deep.logratio:LogRatioLoss": "skdml.deep.losses:LogRatioLoss",
    "skdml.deep.logratio:ThresholdTripletLoss": "skdml.deep.losses:ThresholdTripletLoss",
}


def _lookup(path, table, what):
    """The class an archive names: an exact-string lookup in the allow-list, no import."""
    if isinstance(path, str):
        path = _FORMER_PATHS.get(path, path)
    cls = table.get(path) if isinstance(path, str) else None
    if cls is None:
        kind = ("deep estimators" if table is _allowed_classes()[0] else
                "objects (distances, reducers, regularizers, miners)"
                if table is _allowed_objects() else "classes")
        raise ValueError(
            f"skdml.io.load: {what} names the class {path!r}, which is not in skdml's "
            f"allow-list of {kind}; refused (a loaded file never imports a module)."
        )
    return cls


# --- JSON encoding of parameters and learned attributes ------------------------------------

def _class_path(obj, what, estimator=False):
    """``"module:qualname"`` of a class that load will find again in the allow-list."""
    estimators, classes = _allowed_classes()
    path = _path(obj)
    if (estimators if estimator else classes).get(path) is not obj:
        allowed = ("a public deep estimator of skdml" if estimator else
                   "a public class of torch.nn, torch.optim, skdml.deep or a torch "
                   "hasher's module of skdml.hashing")
        raise ValueError(
            f"skdml.io.save: {what} is {obj!r}, a class outside skdml's allow-list ({allowed});"
            " a loaded file never imports code, so only those can be stored. Use one of them, "
            "or pickle the estimator."
        )
    return path


class _Encoder:
    """Turns parameters and learned attributes into JSON, arrays into safetensors entries
    and skorch networks into their weight files."""

    def __init__(self):
        self.arrays = {}   # key -> ndarray, saved in one safetensors file
        self.files = {}    # archive entry -> bytes (network weights)
        self.dropped = []

    def value(self, v, key):
        import numbers

        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, numbers.Integral) and not isinstance(v, np.generic):
            return int(v)
        if isinstance(v, float):
            return {"__float__": float.hex(v)}
        if isinstance(v, tuple):
            return {"__tuple__": [self.value(x, f"{key}.{i}") for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [self.value(x, f"{key}.{i}") for i, x in enumerate(v)]
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"__dict__": {k: self.value(x, f"{key}.{k}") for k, x in v.items()}}
        if isinstance(v, (np.ndarray, np.generic)):
            return self._array(np.asarray(v), key, scalar=isinstance(v, np.generic))
        if isinstance(v, type):
            return {"__class__": _class_path(v, key)}
        module = type(v).__module__
        if module.startswith("torch"):
            import torch

            if isinstance(v, torch.device):
                return {"__device__": str(v)}
            if isinstance(v, torch.Tensor):
                self.arrays[key] = np.ascontiguousarray(v.detach().cpu().numpy())
                return {"__tensor__": key}
        from sklearn.base import BaseEstimator

        if isinstance(v, BaseEstimator) and _is_deep(v):
            return {"__estimator__": self.estimator(v, key)}
        path = _path(type(v))
        if _allowed_objects().get(path) is type(v):
            params = v.get_params(deep=False)
            return {"__object__": path,
                    "params": {k: self.value(x, f"{key}.{k}") for k, x in params.items()}}
        hint = ""
        if module.startswith(("skdml.", "torch.")) and callable(getattr(v, "parameters", None)):
            name = key.rpartition(".")[2]  # a network or a loss, which may hold weights
            hint = (f" Give its class instead, {name}=<class>, and its settings as "
                    f"{name}__<name> (for example loss=TripletMarginLoss, "
                    "loss__distance=CosineSimilarity()).")
        raise ValueError(
            f"skdml.io.save: {key} is a {type(v).__module__}.{type(v).__qualname__}, which "
            "cannot be stored without pickle. Give JSON values, arrays, skdml / torch "
            "classes (not instances) and instances of the classes of skdml.deep.distances, "
            "reducers, regularizers and miners as parameters, or pickle the estimator."
            + hint
        )

    def _array(self, a, key, scalar):
        if a.dtype.kind in "biuf":
            self.arrays[key] = np.ascontiguousarray(a)
            return {"__ndarray__": key, "scalar": scalar}
        if a.dtype.kind == "U" or (
            a.dtype == object and all(isinstance(x, str) for x in a.ravel())
        ):
            return {"__strarray__": a.tolist(), "dtype": a.dtype.str, "shape": list(a.shape)}
        raise ValueError(f"skdml.io.save: {key} is an array of dtype {a.dtype}, which cannot "
                         "be stored without pickle.")

    def estimator(self, est, key):
        params = est.get_params(deep=False)
        for name in [n for n in params if _training_only(n, params[n])]:
            if params[name] is not None or name not in _TRAINING_ONLY:
                self.dropped.append(f"{key}.{name}")
            if name in _TRAINING_ONLY:
                params[name] = None
            else:
                del params[name]
        skip = set(_SKORCH_STATE) | set(params)
        networks = {}
        if hasattr(est, "_modules") and getattr(est, "initialized_", False):
            for name in _network_names(est):
                networks[name] = f"{key}/{name}.safetensors"
            skip |= {n + "_" for n in
                     list(est._modules) + list(est._criteria) + list(est._optimizers)}
            skip |= {"miner_"}
        state = {
            name: self.value(val, f"{key}.{name}")
            for name, val in vars(est).items()
            if name not in skip and "__" not in name
            and (name.endswith("_") or name.startswith("_"))
        }
        history = None
        if networks:
            history = json.loads(json.dumps(list(est.history_)))
            for name, entry in networks.items():
                buf = io.BytesIO()
                est.save_params(**{_weights_argument(name): buf}, use_safetensors=True)
                self.files[entry] = buf.getvalue()
        return {
            "class": _class_path(type(est), f"{key} (the estimator class)", estimator=True),
            "params": {k: self.value(v, f"{key}.{k}") for k, v in params.items()},
            "state": state,
            "networks": networks,
            "history": history,
        }


def _network_names(net):
    """The names of an initialized skorch net's networks and losses (``module``, ``loss``,
    ...), those whose weights an archive stores."""
    return [name for name in [*net._modules, *net._criteria]
            if getattr(net, name + "_", None) is not None]


def _weights_argument(name):
    """skorch's save_params / load_params keyword for the weights of network ``name``."""
    return "f_params" if name == "module" else f"f_{name}"


def _safetensors_shapes(data):
    """``{tensor name: shape}`` from a safetensors file's header, without reading the data."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    return {k: list(v["shape"]) for k, v in header.items() if k != "__metadata__"}


class _Decoder:
    """Turns an archive's JSON back into values and estimators.

    ``_Decoder(None, None)`` only checks: it walks the same grammar, looks every class path
    up in the allow-list and checks every encoding, but reads nothing from the archive and
    builds nothing. ``load`` runs it over the whole manifest first.
    """

    def __init__(self, arrays, archive):
        self.arrays = arrays
        self.archive = archive
        self.checking = arrays is None
        self.estimators, self.classes = _allowed_classes()

    def value(self, v, key):
        if v is None or isinstance(v, (bool, str, int)):
            return v
        if isinstance(v, list):
            return [self.value(x, key) for x in v]
        if not isinstance(v, dict) or len(v) == 0:
            raise ValueError(f"skdml.io.load: {key} holds {v!r}, not an skdml encoding; the "
                             "file is damaged or not skdml's.")
        tag = next(iter(v))
        content = v[tag]
        if tag == "__class__":
            return _lookup(content, self.classes, key)
        if tag == "__estimator__":
            return self.estimator(content, key)
        if tag == "__object__":
            return self.object(v, key)
        if tag == "__float__":
            _expect(content, str, key, tag)
            return float.fromhex(content)
        if tag == "__tuple__":
            _expect(content, list, key, tag)
            return tuple(self.value(x, key) for x in content)
        if tag == "__dict__":
            _expect(content, dict, key, tag)
            return {k: self.value(x, f"{key}.{k}") for k, x in content.items()}
        if tag in ("__ndarray__", "__tensor__"):
            _expect(content, str, key, tag)
            if self.checking:
                return None
            if content not in self.arrays:
                raise ValueError(f"skdml.io.load: the array {content!r} is missing from the "
                                 "archive; the file is damaged.")
            a = self.arrays[content]
            if tag == "__tensor__":
                import torch

                return torch.from_numpy(a.copy())
            return a[()] if v.get("scalar") else a
        if tag == "__strarray__":
            return self._strarray(v, key)
        if tag == "__device__":
            _expect(content, str, key, tag)
            if self.checking:
                return None
            import torch

            return torch.device(content)
        raise ValueError(f"skdml.io.load: {key} has the unknown tag {tag!r}; the file is "
                         "damaged or from a newer skdml.")

    def object(self, v, key):
        """Check (and unless checking, build) the instance an ``__object__`` holds: its class
        from the allow-list of objects, its parameters decoded like any value and named
        among the constructor's."""
        cls = _lookup(v["__object__"], _allowed_objects(), key)
        stored = v.get("params")
        _expect(stored, dict, key, "params")
        params = {k: self.value(x, f"{key}.{k}") for k, x in stored.items()}
        unknown = sorted(set(params) - _object_params(cls))
        if unknown:
            raise ValueError(f"skdml.io.load: {key} sets {unknown} on {cls.__name__}, which "
                             "takes no such parameters; the file is damaged.")
        if self.checking:
            return None
        try:
            return cls(**params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"skdml.io.load: {key} cannot be rebuilt: {exc}") from None

    def _strarray(self, v, key):
        strings, dtype, shape = v["__strarray__"], v.get("dtype"), v.get("shape")
        if not (isinstance(strings, list) and all(isinstance(s, str) for s in strings)
                and isinstance(shape, list)
                and all(isinstance(n, int) and not isinstance(n, bool) for n in shape)):
            raise ValueError(f"skdml.io.load: {key} is a damaged string array.")
        if not isinstance(dtype, str) or not re.fullmatch(r"[<>|=]?U\d{1,9}|\|O|object", dtype):
            raise ValueError(f"skdml.io.load: {key} has the string dtype {dtype!r}, refused.")
        if dtype in ("|O", "object"):
            out = np.empty(len(strings), dtype=object)
            out[:] = strings
            return out.reshape(shape)
        width = np.dtype(dtype).itemsize // 4
        longest = max(map(len, strings), default=0)
        if width > longest and 4 * width * len(strings) > _STRARRAY_SLACK_BYTES:
            raise ValueError(f"skdml.io.load: {key} asks for {dtype!r} strings, wider than "
                             "the strings it holds; refused.")
        return np.asarray(strings, dtype=dtype).reshape(shape)

    def estimator(self, spec, key):
        """Check (and unless checking, build) the estimator an ``__estimator__`` holds."""
        if not isinstance(spec, dict):
            raise ValueError(f"skdml.io.load: {key} holds {spec!r}, not an estimator.")
        cls = _lookup(spec.get("class"), self.estimators, f"{key} (the estimator class)")
        stored_params, stored_state = spec.get("params"), spec.get("state")
        networks, history = spec.get("networks") or {}, spec.get("history")
        _expect(stored_params, dict, key, "params")
        _expect(stored_state, dict, key, "state")
        _expect(networks, dict, key, "networks")
        if history is not None:
            _expect(history, list, key, "history")
        # the classes first: looked up (and, unless checking, the values decoded) before
        # the names are checked
        params = {k: self.value(v, f"{key}.{k}") for k, v in stored_params.items()}
        state = {k: self.value(v, f"{key}.{k}") for k, v in stored_state.items()}
        for name, value in stored_params.items():
            if _training_only(name, value) and (value is not None
                                                or name not in _TRAINING_ONLY):
                raise ValueError(f"skdml.io.load: {key}.{name} is set; an archive never "
                                 "stores it (it is training-time code). The file was "
                                 "tampered with.")
        for name in state:
            if not (_STATE_NAME_RE.match(name) and name not in _SKORCH_STATE
                    and not _is_behaviour(cls, name)):
                raise ValueError(f"skdml.io.load: {key} has the learned attribute {name!r}, "
                                 "which is not one an estimator stores; refused.")
        for name, entry in networks.items():
            if not isinstance(entry, str):
                raise ValueError(f"skdml.io.load: {key}.networks names {entry!r} as the "
                                 f"weights of {name!r}; the file is damaged.")
        if self.checking:
            return cls
        if networks:
            self._check_networks(cls, params, state, networks, key)
        est = self._build(cls, params, state)
        if networks:
            import torch
            from skorch.history import History

            with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.initialize()  # fresh networks, overwritten by the stored weights below
            est.history_ = History(history or [])
            for name, entry in networks.items():
                try:
                    data = io.BytesIO(self.archive.read(entry))
                    est.load_params(**{_weights_argument(name): data}, use_safetensors=True)
                except Exception as exc:  # noqa: BLE001 -- entry, safetensors, shapes
                    raise ValueError(f"skdml.io.load: the weights of {key}.{name} could not "
                                     f"be loaded: {exc}") from None
        return est

    @staticmethod
    def _build(cls, params, state):
        takes = _init_parameters(cls)
        for name, value in _OLDER_ARCHIVES_BEHAVED.items():
            if name in takes and name not in params:
                params = {**params, name: value}
        est = cls(**params)
        for name, value in state.items():
            setattr(est, name, value)
        return est

    def _check_networks(self, cls, params, state, networks, key):
        """Refuse weights that do not fit the networks the parameters build, before any
        memory is allocated for them: the networks are first built on torch's ``meta``
        device (shapes only), so a file cannot make load allocate more than it holds."""
        import torch

        probe = self._build(cls, params, state)
        probe.device = "meta"
        with torch.device("meta"), torch.random.fork_rng(devices=[]), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probe.initialize()
        built = _network_names(probe)
        if sorted(built) != sorted(networks):
            raise ValueError(f"skdml.io.load: {key} stores weights for {sorted(networks)}, "
                             f"but its parameters build the networks {sorted(built)}; the "
                             "file is damaged.")
        for name in built:
            expected = {k: list(t.shape)
                        for k, t in getattr(probe, name + "_").state_dict().items()}
            try:
                stored = _safetensors_shapes(self.archive.read(networks[name]))
            except Exception as exc:  # noqa: BLE001 -- entry or header damaged
                raise ValueError(f"skdml.io.load: the weights of {key}.{name} could not be "
                                 f"loaded: {exc}") from None
            if stored != expected:
                raise ValueError(f"skdml.io.load: the weights of {key}.{name} could not be "
                                 f"loaded: their shapes {stored} are not those of the network "
                                 f"its parameters build, {expected}.")


# Parameters added after archives were first written, with the value that gives a learner
# from an archive without them the behaviour it was saved with.
_OLDER_ARCHIVES_BEHAVED = {"standardize": False}


def _init_parameters(cls):
    try:
        return inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return {}


def _expect(value, kind, key, what):
    if not isinstance(value, kind):
        raise ValueError(f"skdml.io.load: {key} has {what} {value!r}, not a "
                         f"{kind.__name__}; the file is damaged or not skdml's.")


@functools.lru_cache(maxsize=1024)
def _is_behaviour(cls, name):
    """True when ``name`` is a method or property of ``cls``: a learned attribute of that
    name would replace code."""
    attr = inspect.getattr_static(cls, name, None)
    return callable(attr) or hasattr(type(attr), "__get__")


# skops trusts some types of its own accord (scikit-learn's estimators among them); a skdml
# archive holds one skdml estimator and what it stores: skdml types, builtins, numpy, scipy.
_SKOPS_BASIC_ROOTS = ("builtins", "numpy", "scipy")


def _read_schema(data, path):
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            schema = json.loads(zf.read("schema.json"))
    except Exception as exc:  # noqa: BLE001 -- any damage is reported as such
        raise ValueError(f"skdml.io.load: the model in {path!r} is damaged ({exc}).") from None
    if not isinstance(schema, dict):
        raise ValueError(  # noqa: TRY004 -- a damaged file
            f"skdml.io.load: the model in {path!r} is damaged.")
    return schema


def _schema_nodes(node):
    """Every dict of a skops schema (its nodes among them)."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _schema_nodes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _schema_nodes(v)


def _schema_types(schema):
    """Every type named in a skops file's schema outside builtins, numpy and scipy, plus its
    top-level type (which must be a skdml estimator)."""
    found = {f"{schema.get('__module__')}.{schema.get('__class__')}"}
    for node in _schema_nodes(schema):
        module, name = node.get("__module__"), node.get("__class__")
        if (isinstance(module, str) and isinstance(name, str)
                and module.split(".")[0] not in _SKOPS_BASIC_ROOTS):
            found.add(f"{module}.{name}")
    return found


def _schema_methods_replaced(schema):
    """``Class.attribute`` for every attribute a skops file sets on a skdml estimator that
    names one of its methods or properties (all types are known to be trusted here)."""
    classes = {f"{c.__module__}.{c.__qualname__}": c for c in _classical_classes()}
    found = []
    for node in _schema_nodes(schema):
        cls = classes.get(f"{node.get('__module__')}.{node.get('__class__')}")
        attributes = node.get("content")
        attributes = attributes.get("content") if isinstance(attributes, dict) else None
        if cls is not None and isinstance(attributes, dict):
            found += [f"{cls.__name__}.{name}" for name in attributes
                      if _is_behaviour(cls, name)]
    return found


# --- the public pair -------------------------------------------------------------------------

def save(estimator, path):
    """Save a fitted (or unfitted) skdml estimator to one file, loadable without pickle.

    Parameters
    ----------
    estimator : skdml estimator
        A classical learner or hasher (stored with :mod:`skops.io`) or a deep learner
        (parameters as JSON, weights as safetensors; instances of the classes of
        :mod:`skdml.deep.distances`, ``reducers``, ``regularizers`` and ``miners`` among
        the parameters as their class and settings). The deep learners' ``callbacks``,
        ``callbacks__*`` and ``train_split`` are training-time code: they are not stored (a
        ``UserWarning`` says so); the loaded estimator has skorch's default callbacks and
        ``train_split=None``. A default callback switched off (``callbacks__collapse=None``)
        is a setting, and is stored.
    path : str, path-like or binary file object
        The file to write (a zip archive; ``.skdml`` is a good suffix).

    Raises
    ------
    ValueError
        If the estimator is not a skdml estimator, or holds something that cannot be stored
        without pickle (an instance of a foreign class, a class outside the allow-list that
        :func:`load` accepts).

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_iris
    >>> from skdml import NCA
    >>> from skdml.io import load, save
    >>> X, y = load_iris(return_X_y=True)
    >>> nca = NCA(max_iter=20, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "nca.skdml")
    >>> save(nca, path)
    >>> bool((load(path).transform(X) == nca.transform(X)).all())
    True
    """
    from sklearn.base import BaseEstimator

    import skdml

    if not isinstance(estimator, BaseEstimator) or not (
        type(estimator).__module__.startswith("skdml.")
    ):
        raise ValueError(f"skdml.io.save saves skdml estimators, got {type(estimator)!r}.")
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "skdml_version": skdml.__version__}
    entries = {}
    if _is_deep(estimator):
        enc = _Encoder()
        manifest["storage"] = "json+safetensors"
        manifest["estimator"] = enc.estimator(estimator, "estimator")
        manifest["dropped"] = enc.dropped
        if enc.dropped:
            warnings.warn(f"skdml.io.save: training-time parameters {enc.dropped} are not "
                          "stored (they hold code); the loaded estimator does without them.",
                          UserWarning, stacklevel=2)
        entries.update(enc.files)
        if enc.arrays:
            from safetensors.numpy import save as st_save

            entries[_ARRAYS_ENTRY] = st_save(enc.arrays)
    else:
        import skops.io as sio

        data = sio.dumps(estimator)
        foreign = sorted(set(sio.get_untrusted_types(data=data)) - set(trusted_types()))
        if foreign:
            raise ValueError(f"skdml.io.save: {type(estimator).__name__} holds types outside "
                             f"skdml's trusted list, {foreign}; it could not be loaded "
                             "safely. Pickle it instead.")
        manifest["storage"] = "skops"
        manifest["class"] = f"{type(estimator).__module__}.{type(estimator).__qualname__}"
        entries[_SKOPS_ENTRY] = data
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_MANIFEST, json.dumps(manifest, indent=1, allow_nan=False))
        for name, data in entries.items():
            zf.writestr(name, data)


def load(path):
    """Load an estimator written by :func:`save`, without executing code from the file.

    The manifest, every type (classical learners: the skops file's types must all be in
    :func:`trusted_types`) and every class path (deep learners: an exact-string lookup in a
    fixed allow-list of torch.nn / torch.optim classes and skdml's deep estimators, networks,
    losses and miners; instances of distances, reducers, regularizers and miners from a
    second one, their parameters checked alike) are checked before anything is built; no
    module is imported because the file names it.

    Parameters
    ----------
    path : str, path-like or binary file object

    Returns
    -------
    estimator : skdml estimator
        Its ``transform`` gives bit-identical results to the saved one's.

    Raises
    ------
    ValueError
        If the file is not a skdml archive, has an unknown format or version, names a type
        outside the trusted list or a class outside the allow-list, or is damaged in any
        way (every other error met while reading a damaged file is raised as a
        ``ValueError`` too).
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"skdml.io.load: {path!r} is not a skdml model archive (not a zip "
                         f"file: {exc}).") from None
    with zf:
        manifest = _read_manifest(zf, path)
        reader = {"skops": _load_skops, "json+safetensors": _load_deep}.get(
            manifest.get("storage") if isinstance(manifest.get("storage"), str) else None)
        if reader is None:
            raise ValueError(f"skdml.io.load: {path!r} has the unknown storage "
                             f"{manifest.get('storage')!r}.")
        try:
            return reader(zf, manifest, path)
        except ValueError:
            raise
        except Exception as exc:
            # a damaged file makes numpy, torch, skorch or skops fail in their own ways
            raise ValueError(f"skdml.io.load: {path!r} is damaged ({type(exc).__name__}: "
                             f"{exc}).") from exc


def _read_manifest(zf, path):
    try:
        manifest = json.loads(zf.read(_MANIFEST))
    except KeyError:
        raise ValueError(f"skdml.io.load: {path!r} has no {_MANIFEST}; it is not a skdml "
                         "model archive.") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"skdml.io.load: the manifest of {path!r} is not valid JSON "
                         f"({exc}).") from None
    except Exception as exc:  # noqa: BLE001 -- a damaged zip entry
        raise ValueError(f"skdml.io.load: the manifest of {path!r} cannot be read "
                         f"({type(exc).__name__}: {exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"skdml.io.load: {path!r} is not a skdml model archive (format "
                         f"{manifest.get('format') if isinstance(manifest, dict) else None!r}"
                         f", expected {FORMAT!r}).")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"skdml.io.load: {path!r} has format version "
                         f"{manifest.get('format_version')!r}; this skdml reads version "
                         f"{FORMAT_VERSION}.")
    return manifest


def _load_skops(zf, manifest, path):
    import skops.io as sio

    data = zf.read(_SKOPS_ENTRY)
    trusted = trusted_types()
    # skops imports a type only when it builds the object, after its audit; the checks
    # below read the schema only, and run before skops.io.loads is called.
    schema = _read_schema(data, path)
    foreign = sorted(_schema_types(schema) - set(trusted))
    if not foreign:
        foreign = sorted(set(sio.get_untrusted_types(data=data)) - set(trusted))
    if foreign:
        raise ValueError(f"skdml.io.load: {path!r} names types outside skdml's trusted "
                         f"list: {foreign}; refused.")
    replaced = _schema_methods_replaced(schema)
    if replaced:
        raise ValueError(f"skdml.io.load: {path!r} sets attributes that would replace the "
                         f"methods {replaced}; refused.")
    return sio.loads(data, trusted=trusted)


def _load_deep(zf, manifest, path):
    spec = manifest.get("estimator")
    if not isinstance(spec, dict):
        raise ValueError(f"skdml.io.load: the manifest of {path!r} has no estimator.")
    # every class path is looked up, and every encoding checked, before anything is read
    _Decoder(None, None).estimator(spec, "estimator")
    arrays = {}
    if _ARRAYS_ENTRY in zf.namelist():
        from safetensors.numpy import load as st_load

        try:
            arrays = st_load(zf.read(_ARRAYS_ENTRY))
        except Exception as exc:  # noqa: BLE001 -- any damage is reported as such
            raise ValueError(f"skdml.io.load: the arrays of {path!r} are damaged "
                             f"({exc}).") from None
    return _Decoder(arrays, zf).estimator(spec, "estimator")
