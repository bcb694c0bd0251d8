"""scikit-learn's own estimator checks over every public skdml estimator.

No check is skipped. Pair classifiers (KISSME) pass them too: their predict,
decision_function and score on pairs exist only once a threshold is set by a fit on pairs or by
calibrate_threshold, so the checks, which fit on samples, see a plain transformer.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from .conftest import make_instance, public_estimators

def test_every_public_estimator_is_checked():
    names = {cls.__name__ for cls in public_estimators()}
    assert {"Covariance", "PCA", "LDA", "KISSME"} <= names


@parametrize_with_checks(
    [make_instance(cls) for cls in public_estimators()],
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
