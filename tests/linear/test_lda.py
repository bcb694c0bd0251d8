"""LDA (skdml/linear/lda.py): scikit-learn's distances, shrinkage."""

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from skdml import LDA

from .conftest import _pdist


def test_lda_distances_match_sklearn_and_ignore_label_type():
    X, y = load_wine(return_X_y=True)
    ours = LDA().fit(X, np.array(["a", "b", "c"])[y])
    theirs = LinearDiscriminantAnalysis().fit(X, y)
    np.testing.assert_allclose(
        _pdist(ours.transform(X)), _pdist(theirs.transform(X)), rtol=1e-6, atol=1e-8
    )
    assert list(ours.classes_) == ["a", "b", "c"]
    assert ours.n_components_ == 2


def test_lda_eigen_with_shrinkage_handles_d_greater_than_n():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 50))
    y = np.repeat([0, 1], 10)
    X[y == 1, 0] += 5.0
    lda = LDA(solver="eigen", shrinkage="auto").fit(X, y)
    Z = lda.transform(X)
    assert Z.shape == (20, 1)
    assert abs(Z[y == 0].mean() - Z[y == 1].mean()) > 2 * Z[y == 0].std()


def test_lda_shrinkage_needs_eigen():
    with pytest.raises(ValueError, match="shrinkage needs solver='eigen'"):
        LDA(shrinkage=0.5).fit(*load_iris(return_X_y=True))
