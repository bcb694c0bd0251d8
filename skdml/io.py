"""Safe persistence: save a fitted estimator to one file and load it without running code.

``save(est, path)`` writes a zip archive holding a ``manifest.json`` (the format, its version,
the skdml version and how the model is stored) and the model:

- classical learners and hashers (no torch): a :mod:`skops.io` file, loaded with
  ``trusted=trusted_types()`` -- skdml's own estimator classes, nothing else;
- deep learners (skorch-based, anything deriving from
  :class:`~skdml.deep.DeepMetricLearner`, and :class:`~skdml.deep.MMDML`, which holds such
  networks): the constructor parameters and learned attributes as JSON, the arrays and the
  network weights as safetensors. Classes among the parameters (``module``, ``loss``,
  ``miner``, ``optimizer``) are recorded by their import path and resolved on load only
  when they live in ``skdml`` or ``torch``.

``load(path)`` checks the whole archive -- manifest, types, class paths -- before it builds
anything, and refuses a foreign or tampered file with a ``ValueError``. Pickle keeps working
for trusted files.
"""

import importlib
import io
import json
import re
import warnings
import zipfile

import numpy as np

__all__ = ["load", "save", "trusted_types"]

FORMAT = "skdml-model"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_SKOPS_ENTRY = "model.skops"
_ARRAYS_ENTRY = "arrays.safetensors"
_ALLOWED_ROOTS = ("skdml", "torch")
_PATH_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

# Attributes of a skorch net that its parameters and initialize() rebuild: never stored.
_SKORCH_STATE = frozenset({
    "callbacks_", "history_", "init_context_", "initialized_", "virtual_params_",
    "_params_to_validate", "cuda_dependent_attributes_", "prefixes_", "_criteria",
    "_modules", "_optimizers",
})
# Learned attributes an archive may set: `name_` or `_name`, never a dunder.
_STATE_NAME_RE = re.compile(r"^(_[a-z][a-z0-9_]*|[a-z][a-z0-9_]*_)$", re.IGNORECASE)
# Training-time-only parameters: not stored (a callback or a split function is code).
_TRAINING_ONLY = ("callbacks", "train_split")


# --- which estimators go where -------------------------------------------------------------

def _is_deep(est):
    """True for skorch-based learners and estimators of skdml's torch subpackages, told
    from the class hierarchy so that classical use never imports torch."""
    for klass in type(est).__mro__:
        if klass.__module__ == "skdml.deep._base" and klass.__name__ == "DeepMetricLearner":
            return True
    module = type(est).__module__
    return module.startswith("skdml.deep") or module == "skdml.hashing.deep"


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
    return found


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
    return sorted(f"{c.__module__}.{c.__qualname__}" for c in _classical_classes())


# --- JSON encoding of parameters and learned attributes ------------------------------------

def _class_path(obj, what):
    path = f"{obj.__module__}:{obj.__qualname__}"
    if obj.__module__.split(".")[0] not in _ALLOWED_ROOTS or not _PATH_RE.match(path):
        raise ValueError(
            f"skdml.io.save: {what} is {obj!r}, a class outside skdml and torch; only their "
            "classes can be stored (a loaded file never imports other code). Use a skdml or "
            "torch class, or pickle the estimator."
        )
    if _resolve(path, what) is not obj:
        raise ValueError(f"skdml.io.save: {what} {obj!r} cannot be found again by its path "
                         f"{path!r}.")
    return path


def _resolve(path, what):
    """The class at ``module:qualname``, importing only skdml and torch modules."""
    if not isinstance(path, str) or not _PATH_RE.match(path):
        raise ValueError(f"skdml.io.load: {what} names the class {path!r}, not a valid "
                         "'module:qualname' path; the file is damaged or not skdml's.")
    module_name, qualname = path.split(":")
    if module_name.split(".")[0] not in _ALLOWED_ROOTS:
        raise ValueError(
            f"skdml.io.load: {what} names the class {path!r}, outside skdml and torch; "
            "refused (loading it would import foreign code)."
        )
    try:
        obj = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"skdml.io.load: {what} names the class {path!r}, which does not "
                         f"exist in this installation ({exc}).") from None
    if not isinstance(obj, type):
        raise ValueError(  # noqa: TRY004 -- a damaged file, not a caller's type error
            f"skdml.io.load: {what} names {path!r}, which is not a class.")
    if module_name.split(".")[0] == "torch" and not _is_torch_building_block(obj):
        raise ValueError(
            f"skdml.io.load: {what} names the torch class {path!r}; only networks, losses "
            "and optimizers (torch.nn.Module, torch.optim.Optimizer) are accepted."
        )
    return obj


def _is_torch_building_block(cls):
    import torch

    return cls.__module__.startswith(("torch.nn.", "torch.optim.")) and issubclass(
        cls, (torch.nn.Module, torch.optim.Optimizer)
    )


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
        raise ValueError(
            f"skdml.io.save: {key} is a {type(v).__module__}.{type(v).__qualname__}, which "
            "cannot be stored without pickle. Give JSON values, arrays and skdml / torch "
            "classes (not instances) as parameters, or pickle the estimator."
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
        for name in _TRAINING_ONLY:
            if params.get(name) is not None:
                self.dropped.append(f"{key}.{name}")
                params[name] = None
        skip = set(_SKORCH_STATE) | set(params)
        networks = {}
        if hasattr(est, "_modules") and getattr(est, "initialized_", False):
            for name in list(est._modules) + list(est._criteria):
                if getattr(est, name + "_", None) is None:
                    continue
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
                arg = "f_params" if name == "module" else f"f_{name}"
                est.save_params(**{arg: buf}, use_safetensors=True)
                self.files[entry] = buf.getvalue()
        return {
            "class": _class_path(type(est), f"{key} (the estimator class)"),
            "params": {k: self.value(v, f"{key}.{k}") for k, v in params.items()},
            "state": state,
            "networks": networks,
            "history": history,
        }


class _Decoder:
    def __init__(self, arrays, archive):
        self.arrays = arrays
        self.archive = archive

    def value(self, v, key):
        if v is None or isinstance(v, (bool, str, int)):
            return v
        if isinstance(v, list):
            return [self.value(x, key) for x in v]
        if not isinstance(v, dict) or len(v) == 0:
            raise ValueError(f"skdml.io.load: {key} holds {v!r}, not an skdml encoding; the "
                             "file is damaged or not skdml's.")
        tag = next(iter(v))
        if tag == "__float__":
            return float.fromhex(v[tag])
        if tag == "__tuple__":
            return tuple(self.value(x, key) for x in v[tag])
        if tag == "__dict__":
            return {k: self.value(x, f"{key}.{k}") for k, x in v[tag].items()}
        if tag in ("__ndarray__", "__tensor__"):
            if v[tag] not in self.arrays:
                raise ValueError(f"skdml.io.load: the array {v[tag]!r} is missing from the "
                                 "archive; the file is damaged.")
            a = self.arrays[v[tag]]
            if tag == "__tensor__":
                import torch

                return torch.from_numpy(a.copy())
            return a[()] if v.get("scalar") else a
        if tag == "__strarray__":
            dtype = v.get("dtype")
            if not isinstance(dtype, str) or not re.fullmatch(r"[<>|=]?U\d+|\|O|object", dtype):
                raise ValueError(f"skdml.io.load: {key} has the string dtype {dtype!r}, "
                                 "refused.")
            if dtype in ("|O", "object"):
                out = np.empty(len(v[tag]), dtype=object)
                out[:] = v[tag]
                return out.reshape(v["shape"])
            return np.asarray(v[tag], dtype=dtype).reshape(v["shape"])
        if tag == "__class__":
            return _resolve(v[tag], key)
        if tag == "__device__":
            import torch

            return torch.device(v[tag])
        if tag == "__estimator__":
            return self.estimator(v[tag], key)
        raise ValueError(f"skdml.io.load: {key} has the unknown tag {tag!r}; the file is "
                         "damaged or from a newer skdml.")

    def check_classes(self, spec, key):
        """Resolve every class path in the tree before anything is built."""
        if isinstance(spec, list):
            for x in spec:
                self.check_classes(x, key)
        elif isinstance(spec, dict):
            if "__class__" in spec:
                _resolve(spec["__class__"], key)
            if "__estimator__" in spec:
                self._check_estimator_class(spec["__estimator__"], key)
            for x in spec.values():
                self.check_classes(x, key)

    def _check_estimator_class(self, spec, key):
        from sklearn.base import BaseEstimator

        cls = _resolve(spec.get("class"), f"{key} (the estimator class)")
        if not (issubclass(cls, BaseEstimator) and cls.__module__.startswith("skdml.")):
            raise ValueError(f"skdml.io.load: {key} names {spec.get('class')!r}, not a skdml "
                             "estimator; refused.")
        return cls

    def estimator(self, spec, key):
        cls = self._check_estimator_class(spec, key)
        for name in _TRAINING_ONLY:
            if spec["params"].get(name) is not None:
                raise ValueError(f"skdml.io.load: {key}.{name} is set; an archive never "
                                 "stores it (it holds code). The file was tampered with.")
        for name in spec["state"]:
            if not (_STATE_NAME_RE.match(name) and name not in _SKORCH_STATE):
                raise ValueError(f"skdml.io.load: {key} has the learned attribute {name!r}, "
                                 "which is not one an estimator stores; refused.")
        est = cls(**{k: self.value(v, f"{key}.{k}") for k, v in spec["params"].items()})
        for name, v in spec["state"].items():
            setattr(est, name, self.value(v, f"{key}.{name}"))
        networks = spec.get("networks") or {}
        if networks:
            import torch
            from skorch.history import History

            with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.initialize()  # fresh networks, overwritten by the stored weights below
            est.history_ = History(spec.get("history") or [])
            for name, entry in networks.items():
                arg = "f_params" if name == "module" else f"f_{name}"
                try:
                    data = io.BytesIO(self.archive.read(entry))
                    est.load_params(**{arg: data}, use_safetensors=True)
                except Exception as exc:  # noqa: BLE001 -- entry, safetensors, shapes
                    raise ValueError(f"skdml.io.load: the weights of {key}.{name} could not "
                                     f"be loaded: {exc}") from None
        return est


# skops trusts some types of its own accord (scikit-learn's estimators among them); a skdml
# archive holds one skdml estimator and what it stores: skdml types, builtins, numpy, scipy.
_SKOPS_BASIC_ROOTS = ("builtins", "numpy", "scipy")


def _schema_types(data, path):
    """Every type named in a skops file's schema outside builtins, numpy and scipy, plus its
    top-level type (which must be a skdml estimator)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            schema = json.loads(zf.read("schema.json"))
    except Exception as exc:  # noqa: BLE001 -- any damage is reported as such
        raise ValueError(f"skdml.io.load: the model in {path!r} is damaged ({exc}).") from None
    found = set()

    def walk(node):
        if isinstance(node, dict):
            module, name = node.get("__module__"), node.get("__class__")
            if (isinstance(module, str) and isinstance(name, str)
                    and module.split(".")[0] not in _SKOPS_BASIC_ROOTS):
                found.add(f"{module}.{name}")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    if not isinstance(schema, dict):
        raise ValueError(  # noqa: TRY004 -- a damaged file
            f"skdml.io.load: the model in {path!r} is damaged.")
    found.add(f"{schema.get('__module__')}.{schema.get('__class__')}")
    return found


# --- the public pair -------------------------------------------------------------------------

def save(estimator, path):
    """Save a fitted (or unfitted) skdml estimator to one file, loadable without pickle.

    Parameters
    ----------
    estimator : skdml estimator
        A classical learner or hasher (stored with :mod:`skops.io`) or a deep learner
        (parameters as JSON, weights as safetensors). The deep learners' ``callbacks`` and
        ``train_split`` are training-time code: they are not stored (a ``UserWarning`` says
        so) and come back as ``None``.
    path : str or path-like
        The file to write (a zip archive; ``.skdml`` is a good suffix).

    Raises
    ------
    ValueError
        If the estimator is not a skdml estimator, or holds something that cannot be stored
        without pickle (an instance of a foreign class, a class outside skdml and torch).

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
                          "stored (they hold code); the loaded estimator has them as None.",
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
    :func:`trusted_types`) and every class path (deep learners: skdml and torch classes only)
    are checked before anything is built.

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
        outside the trusted list or a class outside skdml and torch, or is damaged.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"skdml.io.load: {path!r} is not a skdml model archive (not a zip "
                         f"file: {exc}).") from None
    with zf:
        try:
            manifest = json.loads(zf.read(_MANIFEST))
        except KeyError:
            raise ValueError(f"skdml.io.load: {path!r} has no {_MANIFEST}; it is not a skdml "
                             "model archive.") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"skdml.io.load: the manifest of {path!r} is not valid JSON "
                             f"({exc}).") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError(f"skdml.io.load: {path!r} is not a skdml model archive (format "
                             f"{manifest.get('format') if isinstance(manifest, dict) else None!r}"
                             f", expected {FORMAT!r}).")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"skdml.io.load: {path!r} has format version "
                             f"{manifest.get('format_version')!r}; this skdml reads version "
                             f"{FORMAT_VERSION}.")
        storage = manifest.get("storage")
        if storage == "skops":
            import skops.io as sio

            try:
                data = zf.read(_SKOPS_ENTRY)
                untrusted = sio.get_untrusted_types(data=data)
            except Exception as exc:  # noqa: BLE001 -- any damage is reported as such
                raise ValueError(f"skdml.io.load: the model in {path!r} is damaged ({exc}).") \
                    from None
            trusted = trusted_types()
            foreign = sorted((set(untrusted) | _schema_types(data, path)) - set(trusted))
            if foreign:
                raise ValueError(f"skdml.io.load: {path!r} names types outside skdml's trusted "
                                 f"list: {foreign}; refused.")
            return sio.loads(data, trusted=trusted)
        if storage == "json+safetensors":
            spec = manifest.get("estimator")
            if not isinstance(spec, dict):
                raise ValueError(f"skdml.io.load: the manifest of {path!r} has no estimator.")
            arrays = {}
            if _ARRAYS_ENTRY in zf.namelist():
                from safetensors.numpy import load as st_load

                try:
                    arrays = st_load(zf.read(_ARRAYS_ENTRY))
                except Exception as exc:  # noqa: BLE001 -- any damage is reported as such
                    raise ValueError(f"skdml.io.load: the arrays of {path!r} are damaged "
                                     f"({exc}).") from None
            dec = _Decoder(arrays, zf)
            dec.check_classes({"__estimator__": spec}, "estimator")
            try:
                return dec.estimator(spec, "estimator")
            except (KeyError, TypeError) as exc:
                raise ValueError(f"skdml.io.load: the manifest of {path!r} is damaged "
                                 f"({type(exc).__name__}: {exc}).") from None
        raise ValueError(f"skdml.io.load: {path!r} has the unknown storage {storage!r}.")
