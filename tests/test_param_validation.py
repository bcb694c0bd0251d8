"""skdml's own parameter checker, and no private scikit-learn anywhere in the package."""

import ast
import pathlib
from numbers import Integral, Real

import numpy as np
import pytest
from sklearn import config_context

import skdml
from skdml._param_validation import (
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from skdml.linear import ITML, LMNN


@pytest.mark.parametrize("constraint, good, bad", [
    (Interval(Integral, 1, None, closed="left"), [1, 5, np.int64(3)], [0, 1.5, True, "2"]),
    (Interval(Real, 0, 1, closed="neither"), [0.5, np.float32(0.1), 1e-300],
     [0, 1, float("nan"), -0.1, False]),
    (Interval(Real, 0, 1, closed="both"), [0, 1, 0.5], [1.0000001, float("inf")]),
    (Interval(Real, None, 0, closed="right"), [-1e300, 0], [1e-9]),
    (StrOptions({"a", "b"}), ["a", "b"], ["c", None, 1]),
    (Options(Integral, {1, 2}), [1, 2], [3, "1"]),
])
def test_constraints_accept_and_refuse(constraint, good, bad):
    for value in good:
        assert constraint.is_satisfied_by(value), value
    for value in bad:
        assert not constraint.is_satisfied_by(value), value


@pytest.mark.parametrize("name, good, bad", [
    ("random_state", [None, 0, 2**32 - 1, np.random.RandomState(0)],
     [-1, 2**32, 1.0, np.random.default_rng(0)]),
    ("boolean", [True, False, np.bool_(True)], [0, 1, "yes", None]),
    ("verbose", [0, 3, True], [-1, 0.5, None]),
    ("array-like", [[1, 2], np.zeros(3), (1,)], [1, None, 1.0]),
])
def test_named_constraints(name, good, bad):
    for value in good:
        validate_parameter_constraints({"p": [name]}, {"p": value}, "Thing")
    for value in bad:
        with pytest.raises(InvalidParameterError):
            validate_parameter_constraints({"p": [name]}, {"p": value}, "Thing")


def test_message_names_parameter_estimator_expected_and_got():
    constraints = {"tol": [Interval(Real, 0, None, closed="neither"), None,
                           Hidden(StrOptions({"internal"}))]}
    with pytest.raises(InvalidParameterError) as info:
        validate_parameter_constraints(constraints, {"tol": -1}, "Thing")
    assert str(info.value) == (
        "The 'tol' parameter of Thing must be a float in the range (0, inf) or None. "
        "Got -1 instead.")
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    # the hidden option is accepted all the same
    validate_parameter_constraints(constraints, {"tol": "internal"}, "Thing")


def test_types_callables_and_no_validation():
    constraints = {"f": [callable], "k": [list, None], "x": "no_validation"}
    validate_parameter_constraints(constraints, {"f": len, "k": [1], "x": object()}, "T")
    with pytest.raises(InvalidParameterError, match="'f' .* must be a callable"):
        validate_parameter_constraints(constraints, {"f": 3}, "T")
    with pytest.raises(InvalidParameterError, match="an instance of 'list' or None"):
        validate_parameter_constraints(constraints, {"k": (1,)}, "T")


def test_unknown_constraint_is_a_programming_error():
    with pytest.raises(ValueError, match="Unknown parameter constraint"):
        validate_parameter_constraints({"p": ["no such thing"]}, {"p": 1}, "T")


def test_fit_checks_parameters_before_any_state_changes():
    est = LMNN(n_neighbors=0)
    with pytest.raises(InvalidParameterError, match="'n_neighbors' parameter of LMNN"):
        est.fit(np.zeros((4, 2)), [0, 0, 1, 1])
    assert not hasattr(est, "n_features_in_")


def test_the_check_can_be_switched_off_as_in_scikit_learn():
    X, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    with config_context(skip_parameter_validation=True):
        # no parameter error: the learner's own code meets the bad value instead
        with pytest.raises(Exception) as info:
            ITML(max_iter="many").fit(X, y)
        assert not isinstance(info.value, InvalidParameterError)


def _private_sklearn_imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] in ("sklearn", "skorch") and (
                    any(p.startswith("_") for p in parts[1:])
                    or any(a.name.startswith("_") for a in node.names)):
                found.append(f"{path.name}:{node.lineno} from {node.module} import "
                             + ", ".join(a.name for a in node.names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in ("sklearn", "skorch") and any(p.startswith("_")
                                                             for p in parts[1:]):
                    found.append(f"{path.name}:{node.lineno} import {alias.name}")
    return found


def test_no_module_of_skdml_imports_private_scikit_learn_or_skorch():
    root = pathlib.Path(skdml.__file__).parent
    found = [hit for path in sorted(root.rglob("*.py")) for hit in _private_sklearn_imports(path)]
    assert found == []


def test_the_private_import_finder_finds_them(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from sklearn.utils._param_validation import Interval\n"
                   "from sklearn.base import _fit_context\nimport sklearn.utils._testing\n")
    assert len(_private_sklearn_imports(bad)) == 3
