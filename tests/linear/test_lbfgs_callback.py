"""The public ``callback`` of the L-BFGS learners: called once per iteration with a copy of
the current components, as scikit-learn's NCA does (flattened there)."""

import numpy as np
import pytest
from sklearn.datasets import load_iris

from skdml import LSML, MLKR, NCA


def _learners():
    return [NCA(n_components=2, max_iter=30), MLKR(n_components=2, max_iter=30),
            LSML(max_iter=30, random_state=0)]


@pytest.mark.parametrize("learner", _learners(), ids=lambda e: type(e).__name__)
def test_callback_sees_every_iteration(learner):
    X, y = load_iris(return_X_y=True)
    seen = []
    learner.set_params(callback=lambda L, n_iter: seen.append((L, n_iter)))
    learner.fit(X, y)
    assert [n for _, n in seen] == list(range(1, len(seen) + 1))
    assert len(seen) == learner.n_iter_
    shapes = {L.shape for L, _ in seen}
    assert shapes == {learner.components_.shape}
    # copies: the last one is the answer, and editing one changes nothing
    np.testing.assert_allclose(seen[-1][0], learner.components_)
    seen[-1][0][:] = 0
    assert np.any(learner.components_ != 0)


@pytest.mark.parametrize("learner", _learners(), ids=lambda e: type(e).__name__)
def test_callback_must_be_callable(learner):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="callback"):
        learner.set_params(callback="print").fit(X, y)
    assert not hasattr(learner, "components_")
