"""torch, skorch and cvxpy are extras: the classical path lives without them, and a learner
that needs a missing one names the extra to install.

A missing module is simulated in a subprocess by a meta-path finder standing in front of the
usual ones: the blocked modules look exactly as they do when not installed (``find_spec``
returns None, ``import`` raises ``No module named ...``), and nothing is put in sys.modules.
"""

import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from skdml._optional import EXTRA_OF, optional_dependency

ROOT = pathlib.Path(__file__).resolve().parent.parent

_BLOCKER = '''
import importlib.abc
import sys

BLOCKED = {blocked!r}


class NotInstalled(importlib.abc.MetaPathFinder):
    """The usual finders, except that the blocked top-level modules are not found."""

    def __init__(self, finders):
        self.finders = finders

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            return None
        for finder in self.finders:
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                return spec
        return None

    def invalidate_caches(self):
        for finder in self.finders:
            if hasattr(finder, "invalidate_caches"):
                finder.invalidate_caches()


assert not BLOCKED & set(sys.modules), "imported before the blocker"
sys.meta_path[:] = [NotInstalled(list(sys.meta_path))]
'''


def run_without(blocked, code):
    """Run ``code`` in a fresh interpreter in which the modules ``blocked`` are missing;
    return its stdout (the test fails with its stderr if it fails)."""
    script = _BLOCKER.format(blocked=set(blocked)) + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_blocker_makes_a_module_look_not_installed():
    out = run_without({"torch"}, """
        import importlib.util
        assert importlib.util.find_spec("torch") is None
        try:
            import torch.nn
        except ModuleNotFoundError as exc:
            print(exc.name, exc)
        """)
    assert out.strip() == "torch No module named 'torch'"


def test_classical_learners_import_fit_and_save_without_torch_skorch_cvxpy():
    out = run_without({"torch", "skorch", "cvxpy"}, """
        from skdml import *  # noqa: F403 -- the deep names are left out, not broken

        import sys
        import warnings
        from io import BytesIO

        import numpy as np
        from sklearn.datasets import load_iris
        from sklearn.neighbors import KNeighborsClassifier

        import skdml
        from skdml import hashing, metrics

        warnings.simplefilter("ignore")  # small data: RCA, SDML and MCML say so; not our point

        assert "DDML" not in skdml.__all__ and "LDA" in skdml.__all__
        X, y = load_iris(return_X_y=True)
        fitted = []
        for name in skdml.__all__:
            cls = getattr(skdml, name)
            if not isinstance(cls, type):
                continue
            target = X[:, 0] if name == "MLKR" else y  # MLKR regresses a continuous target
            params = {"max_iter": 20} if name == "MCML" else {}
            Z = cls(**params).fit(X, target).transform(X)
            assert np.isfinite(Z).all(), name
            fitted.append(name)
        itml = ITML(random_state=0).fit(X, y)  # the default solver: numba, not cvxpy
        knn = KNeighborsClassifier(metric=itml.get_metric()).fit(X, y)
        assert knn.score(X, y) > 0.9
        codes = hashing.ITQ(n_bits=4, random_state=0).fit(X).transform(X)
        assert codes.shape == (len(X), 4)
        assert metrics.map_at_r(LDA().fit_transform(X, y), y) > 0.5
        buffer = BytesIO()
        skdml.io.save(itml, buffer)
        buffer.seek(0)
        np.testing.assert_allclose(skdml.io.load(buffer).transform(X), itml.transform(X))
        loaded = sorted({"torch", "skorch", "cvxpy"} & {m.partition(".")[0] for m in sys.modules})
        print(len(fitted), loaded)
        """)
    n_classical, loaded = out.split(maxsplit=1)
    assert int(n_classical) == 15 and loaded.strip() == "[]"


@pytest.mark.parametrize("missing", ["torch", "skorch"])
def test_deep_learners_name_the_deep_extra(missing):
    out = run_without({missing}, """
        import skdml

        for get in (lambda: skdml.DDML, lambda: skdml.hashing.DeepHashing):
            try:
                get()
            except ModuleNotFoundError as exc:
                print(type(exc.__cause__).__name__, "|", exc)
            else:
                raise AssertionError("no error")
        """)
    lines = out.strip().splitlines()
    assert len(lines) == 2
    for line, what in zip(lines, ("skdml.DDML", "skdml.hashing.DeepHashing")):
        assert line.startswith("ModuleNotFoundError | ")
        assert f"{what} needs {missing}, which is not installed" in line
        assert "pip install 'skdml[deep]'" in line


def test_itml_cvxpy_solver_names_the_cvx_extra():
    out = run_without({"cvxpy"}, """
        from sklearn.datasets import load_iris
        from skdml import ITML

        X, y = load_iris(return_X_y=True)
        ITML(random_state=0).fit(X, y)  # the default solver needs no cvxpy
        try:
            ITML(solver="cvxpy", random_state=0).fit(X, y)
        except ImportError as exc:
            print(exc)
        """)
    assert "ITML(solver='cvxpy') needs cvxpy, which is not installed" in out
    assert "pip install 'skdml[cvx]'" in out


def test_optional_dependency_rewrites_only_the_extras():
    with pytest.raises(ModuleNotFoundError, match=r"thing needs cvxpy.*skdml\[cvx\]") as info:
        with optional_dependency("thing"):
            raise ModuleNotFoundError("No module named 'cvxpy.atoms'", name="cvxpy.atoms")
    assert info.value.name == "cvxpy.atoms"
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    # a missing module that no extra brings is a bug or a broken install: left as it is
    with pytest.raises(ModuleNotFoundError, match="^No module named 'numpy_x'$"):
        with optional_dependency("thing"):
            raise ModuleNotFoundError("No module named 'numpy_x'", name="numpy_x")
    with pytest.raises(ImportError, match="cannot import name"):
        with optional_dependency("thing"):
            raise ImportError("cannot import name 'x' from 'torch'", name="torch")


def _pyproject():
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements):
    return {re.match(r"[A-Za-z0-9_.-]+", r).group().lower() for r in requirements}


def test_pyproject_extras_bring_what_the_errors_promise():
    project = _pyproject()
    extras = project["optional-dependencies"]
    assert not {"torch", "skorch", "cvxpy"} & _names(project["dependencies"])
    for module, extra in EXTRA_OF.items():
        assert module in _names(extras[extra]), (module, extra)
    # `all` is every extra a user of the library may want; test and docs are for developers
    (everything,) = extras["all"]
    listed = set(re.fullmatch(r"skdml\[([\w,]+)\]", everything).group(1).split(","))
    assert listed == set(EXTRA_OF.values())


def test_readme_and_makefile_install_every_extra():
    readme = (ROOT / "README.md").read_text()
    extras = _pyproject()["optional-dependencies"]
    for extra in extras:
        assert f"`{extra}`" in readme, f"README does not explain the extra {extra!r}"
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme
    # `make test` (README's test command, and .ci/run) installs what the suite imports
    makefile = (ROOT / "Makefile").read_text()
    (installed,) = re.findall(r"pip install --quiet -e '\.\[([\w,]+)\]'", makefile)
    assert {"all", "test"} <= set(installed.split(","))
    assert "torch==2.13.0" in makefile and "torch==2.13.0" in readme
