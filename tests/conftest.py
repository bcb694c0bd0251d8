import numpy as np
import pytest
from sklearn.base import BaseEstimator

import skdml


def public_estimators():
    """Every public estimator class of skdml, discovered from its public names."""
    found = []
    for name in skdml.__all__:
        obj = getattr(skdml, name)
        if isinstance(obj, type) and issubclass(obj, BaseEstimator):
            found.append(obj)
    return found


def make_instance(cls, **params):
    """A default instance, seeded where it takes a random_state."""
    est = cls(**params)
    if "random_state" in est.get_params():
        est.set_params(random_state=0)
    return est


@pytest.fixture
def rng():
    return np.random.default_rng(0)
