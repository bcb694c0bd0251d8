"""Input checks shared by every learner: one place, one voice.

Each check raises a ``ValueError`` whose message names what was expected and what came,
and never modifies its input. Estimators call these *before* they change any state.
"""

import numbers

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.multiclass import type_of_target

__all__ = [
    "check_classification_labels",
    "check_continuous_target",
    "check_metric_samples",
    "check_n_components",
    "check_pair_labels",
    "check_regression_target",
    "check_tuples",
    "input_ndim",
]

_CLASS_TARGETS = ("binary", "multiclass")


def _describe(y):
    """A short description of a target for error messages."""
    y = np.asarray(y)
    kind = type_of_target(y) if y.size else "empty"
    return f"a {kind!r} target of shape {y.shape} and dtype {y.dtype}"


def check_classification_labels(y, *, min_classes=2, estimator=None):
    """Validate class labels and encode them as integers.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels of any hashable type (ints, strings, ...).
    min_classes : int, default=2
        The fewest distinct classes the learner can use.
    estimator : estimator instance or str, default=None
        Named in error messages.

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        The sorted distinct labels.
    y_encoded : ndarray of shape (n_samples,), dtype=intp
        ``classes[y_encoded] == y``.
    """
    name = _name(estimator)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(
            f"{name} expects class labels y of shape (n_samples,), got an array of shape "
            f"{y.shape}."
        )
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{name} expects finite class labels, got NaN or infinity in y.")
    kind = type_of_target(y)
    if kind == "unknown":
        raise ValueError(
            f"Unknown label type: {name} expects class labels of one hashable type, got "
            f"{_describe(y)}."
        )
    if kind not in _CLASS_TARGETS:
        raise ValueError(
            f"{name} is a classification learner and expects discrete class labels "
            f"(binary or multiclass), got {_describe(y)}. For a continuous target use a "
            "regression metric learner such as MLKR."
        )
    classes, y_encoded = np.unique(y, return_inverse=True)
    if len(classes) < min_classes:
        raise ValueError(
            f"{name} needs at least {min_classes} distinct classes in y, got "
            f"{len(classes)} ({classes[:5].tolist()})."
        )
    return classes, y_encoded.astype(np.intp, copy=False)


def check_continuous_target(y, n_samples, *, estimator=None):
    """Validate a real-valued target of shape (n_samples,) or (n_samples, n_outputs).

    Returns the target as a float64 array with the same shape.
    """
    name = _name(estimator)
    y_arr = np.asarray(y)
    if y_arr.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} expects a real-valued target, got {_describe(y_arr)}. Class labels "
            "belong to a classification metric learner."
        )
    if y_arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} expects y of shape (n_samples,) or (n_samples, n_outputs), got {y_arr.shape}."
        )
    if y_arr.shape[0] != n_samples:
        raise ValueError(f"{name}: X has {n_samples} samples but y has {y_arr.shape[0]}.")
    y_arr = y_arr.astype(np.float64)
    if not np.all(np.isfinite(y_arr)):
        raise ValueError(f"{name} expects a finite target, got NaN or infinity in y.")
    return y_arr


def check_n_components(n_components, n_features, *, max_components=None, estimator=None):
    """Resolve ``n_components`` against the data.

    ``None`` means as many as possible (``max_components`` or ``n_features``).
    """
    name = _name(estimator)
    limit = n_features if max_components is None else min(max_components, n_features)
    if n_components is None:
        return limit
    if n_components > limit:
        why = (
            f"n_features={n_features}"
            if max_components is None or max_components >= n_features
            else f"at most {max_components} for this data"
        )
        raise ValueError(
            f"{name}: n_components={n_components} is larger than possible here ({why}); "
            f"choose n_components <= {limit}."
        )
    return int(n_components)


def check_tuples(
    tuples, *, tuple_size, preprocessor=None, n_features=None, estimator=None, dtype="numeric"
):
    """Validate pairs (``tuple_size=2``), triplets (3) or quadruplets (4).

    Parameters
    ----------
    tuples : array-like of shape (n_tuples, tuple_size, n_features) or (n_tuples, tuple_size)
        The tuples themselves, or -- when ``preprocessor`` is given -- integer indices into
        it (identifiers such as file names too, for a callable preprocessor).
    tuple_size : {2, 3, 4}
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        A dataset the integer tuples index into, so a million pairs do not copy a million
        rows; or a callable (a loader) given the flat indices (or identifiers), of shape
        (n_tuples * tuple_size,), that returns one sample per index, an array of shape
        (n_tuples * tuple_size, n_features).
    n_features : int, default=None
        Expected number of features (a fitted estimator's ``n_features_in_``).

    Returns
    -------
    tuples : ndarray of shape (n_tuples, tuple_size, n_features), float
    """
    name = _name(estimator)
    what = {2: "pairs", 3: "triplets", 4: "quadruplets"}[tuple_size]
    if preprocessor is not None:
        idx = np.asarray(tuples)
        if callable(preprocessor):  # a loader may take identifiers too (file names, ids)
            kinds, indices = "iuUSO", "integer indices (or the identifiers it takes)"
        else:
            kinds, indices = "iu", "integer indices"
        if idx.ndim != 2 or idx.shape[1] != tuple_size or idx.dtype.kind not in kinds:
            raise ValueError(
                f"{name} with a preprocessor expects {what} as {indices} of shape "
                f"(n_{what}, {tuple_size}), got an array of shape {idx.shape} and dtype "
                f"{idx.dtype}."
            )
        if callable(preprocessor):
            tuples = _call_preprocessor(preprocessor, idx, what, dtype, name)
        else:
            data = check_array(preprocessor, dtype=dtype, input_name="preprocessor")
            if idx.size and (idx.min() < 0 or idx.max() >= data.shape[0]):
                raise ValueError(
                    f"{name}: {what} index rows 0..{data.shape[0] - 1} of the preprocessor, "
                    f"got indices in [{idx.min()}, {idx.max()}]."
                )
            tuples = data[idx]
    else:
        arr = np.asarray(tuples)
        if arr.ndim != 3 or arr.shape[1] != tuple_size:
            raise ValueError(
                f"{name} expects {what} as an array of shape (n_{what}, {tuple_size}, "
                f"n_features), got an array of shape {arr.shape}."
            )
        if arr.shape[0] == 0:
            raise ValueError(f"{name} expects at least one of the {what}, got 0.")
        flat = check_array(
            arr.reshape(arr.shape[0] * tuple_size, arr.shape[2]),
            dtype=dtype,
            input_name=what,
        )
        tuples = flat.reshape(arr.shape[0], tuple_size, -1)
    if n_features is not None and tuples.shape[2] != n_features:
        raise ValueError(
            f"{name}: {what} have {tuples.shape[2]} features, but the estimator was fitted "
            f"with {n_features} features."
        )
    return tuples


def _call_preprocessor(preprocessor, idx, what, dtype, name):
    """The tuples a callable preprocessor forms from indices ``idx`` (n, size).

    It is called once, on the flat indices (integers, or identifiers such as file names),
    and must return one sample per index: a 2-D numeric array of shape (idx.size,
    n_features).
    """
    if idx.shape[0] == 0:
        raise ValueError(f"{name} expects at least one of the {what}, got 0.")
    flat = idx.ravel()
    expected = (
        f"a callable preprocessor must return one sample per index it is given: a 2-D "
        f"numeric array of shape ({flat.size}, n_features) for {flat.size} indices"
    )
    try:
        rows = preprocessor(flat)
    except (IndexError, KeyError) as exc:
        raise ValueError(
            f"{name}: the preprocessor cannot form the {what} from their indices: it raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    try:
        arr = np.asarray(rows)
    except ValueError:  # ragged rows
        arr = np.asarray(rows, dtype=object)
    if arr.ndim != 2 or arr.shape[0] != flat.size or arr.dtype.kind not in "biuf":
        got = f"{type(rows).__name__} of shape {arr.shape} and dtype {arr.dtype}"
        raise ValueError(f"{name}: {expected}; got {got}.")
    rows = check_array(arr, dtype=dtype, input_name="the preprocessor's output")
    return rows.reshape(idx.shape[0], idx.shape[1], rows.shape[1])


def check_pair_labels(y, n_pairs, *, require_both=True, estimator=None):
    """Validate pair labels: +1 for similar, -1 for dissimilar.

    Returns an int8 array of shape (n_pairs,).
    """
    name = _name(estimator)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n_pairs:
        raise ValueError(
            f"{name} expects one label per pair, an array of shape ({n_pairs},), got shape "
            f"{y.shape}."
        )
    if y.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} expects pair labels in {{-1, +1}}, got values of dtype {y.dtype}."
        )
    bad = ~np.isin(y, (-1, 1))
    if bad.any():
        found = np.unique(y[bad])[:5].tolist()
        raise ValueError(
            f"{name} expects pair labels in {{-1, +1}} (+1 similar, -1 dissimilar), got "
            f"{found}."
        )
    y = y.astype(np.int8)
    if require_both and len(np.unique(y)) < 2:
        raise ValueError(
            f"{name} needs both similar (+1) and dissimilar (-1) pairs, got only "
            f"{int(y[0]):+d}."
        )
    return y


def check_positive_int(value, name, *, estimator=None):
    """Raise unless ``value`` is an integer >= 1."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{_name(estimator)}: {name} must be an integer >= 1, got {value!r}.")
    return int(value)


def _name(estimator):
    if estimator is None:
        return "skdml"
    if isinstance(estimator, str):
        return estimator
    return type(estimator).__name__


def input_ndim(X):
    """The number of dimensions of ``X`` without copying arrays that have ``ndim``."""
    ndim = getattr(X, "ndim", None)
    return np.asarray(X, dtype=object).ndim if ndim is None else ndim


def check_regression_target(y, n_samples, *, estimator=None):
    """Validate the target of a regression metric learner (MLKR); float64, same shape.

    Numbers of any dtype are real values (integer counts, ratings and grades are
    legitimate targets); strings, objects and other non-numeric labels are class labels
    and raise a ``ValueError`` naming the classification learners instead.
    """
    name = _name(estimator)
    if y is None:
        raise ValueError(
            f"{name} requires y to be passed, but the target y is None."
        )
    y_arr = np.asarray(y)
    if y_arr.dtype.kind not in "biuf":
        raise ValueError(
            f"Unknown label type: {name} is a regression metric learner and expects a "
            f"real-valued target, got {_describe(y_arr)}. For class labels use a "
            "classification metric learner such as NCA, LFDA or MCML."
        )
    return check_continuous_target(y_arr, n_samples, estimator=estimator)


def check_sets(sets, *, n_features=None, estimator=None, item="set"):
    """Validate a collection of sets of vectors (image sets): one set = one 2-D array.

    Accepted forms: a list or tuple (or 1-D object array) of arrays, each of shape
    ``(n_i, n_features)`` with ``n_i >= 1`` (a 1-D array is a set of one vector), or a 3-D
    numeric array ``(n_sets, n_i, n_features)`` of equal-sized sets. Every set must be
    non-empty, numeric, finite and have the same number of features.

    ``item`` is what the messages call one set (``"video"`` for the video hashers).

    Returns
    -------
    sets : list of float64 ndarray, each of shape (n_i, n_features)
    """
    name = _name(estimator)
    if isinstance(sets, np.ndarray) and sets.dtype != object:
        if sets.ndim != 3:
            raise ValueError(
                f"{name} expects a list of {item}s, each a 2-D array (n_i, n_features), or a "
                f"3-D array (n_{item}s, n_i, n_features); got an array of shape {sets.shape}."
            )
        sets = list(sets)
    elif isinstance(sets, (str, bytes, dict)) or not hasattr(sets, "__len__"):
        raise ValueError(
            f"{name} expects a list of {item}s, each a 2-D array (n_i, n_features); got "
            f"{type(sets).__name__}."
        )
    if len(sets) == 0:
        raise ValueError(f"{name} expects at least one {item}, got an empty collection.")
    out = []
    for i, s in enumerate(sets):
        if np.iscomplexobj(s):
            raise ValueError(f"{name}: {item} {i} holds complex values; {item}s must be real.")
        try:
            arr = np.asarray(s, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name}: {item} {i} is not a numeric array of shape (n_i, n_features) "
                f"({exc})."
            ) from None
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(
                f"{name}: {item} {i} must be a non-empty 2-D array (n_i >= 1, n_features >= 1), "
                f"got shape {arr.shape}."
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name}: {item} {i} contains NaN or infinity.")
        expected = n_features if n_features is not None else out[0].shape[1] if out else None
        if expected is not None and arr.shape[1] != expected:
            raise ValueError(
                f"{name}: {item} {i} has {arr.shape[1]} features, but "
                f"{'the fitted model expects' if n_features is not None else item + ' 0 has'} "
                f"{expected}."
            )
        out.append(arr)
    return out


def check_metric_samples(u, v, n_features, *, name="metric"):
    """Validate the two samples given to a learned metric ``d(u, v)``.

    Each must be one sample of ``n_features`` numbers: shape ``(n_features,)``, or a single
    row ``(1, n_features)`` as scikit-learn's neighbour searches sometimes pass. Returns both
    as float64 vectors; anything else (another width, several rows) is a ValueError, never a
    silent broadcast.
    """
    checked = []
    for arg, value in (("u", u), ("v", v)):
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name}: {arg} must be one sample of {n_features} numbers, got "
                f"{type(value).__name__} that is not numeric ({exc})."
            ) from None
        if arr.ndim == 2 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.shape != (n_features,):
            raise ValueError(
                f"{name}: {arg} must be one sample of {n_features} features, of shape "
                f"({n_features},) or (1, {n_features}); got shape {arr.shape}. To compare "
                "many samples, transform them and use skdml.kernels.pairwise_distances."
            )
        checked.append(arr)
    return checked
