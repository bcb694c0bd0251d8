"""Nearest neighbors in a learned metric, the fast way.

Every skdml learner's distance is the Euclidean distance of its embedding (the Hamming
distance of a hasher's codes, whose Euclidean distance is its square root and ranks alike):
``d(u, v) = ||f(u) - f(v)||`` with ``f = learner.transform``. So
``KNeighborsClassifier(metric=learner.get_metric())`` and a kNN on ``learner.transform(X)``
find the same neighbours -- but the first calls a Python function for every pair of samples,
which scikit-learn cannot run in compiled code or index in a tree, while the second embeds
each sample once and searches with scikit-learn's compiled Euclidean kernels.
:func:`make_knn` builds the second in one call; ``benchmarks/bench_knn.py`` measures the
difference (about a thousand times on digits, for the kNN's fit and predict).
"""

from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

__all__ = ["make_knn"]


def make_knn(learner, n_neighbors=5, **kneighbors_params):
    """A kNN classifier in the metric of ``learner``: ``learner`` then a Euclidean kNN.

    The pipeline ``Pipeline([("learner", learner), ("knn", KNeighborsClassifier(...))])``:
    its ``fit`` fits the learner, embeds the training samples once and indexes them; its
    ``predict`` embeds the queries and searches with scikit-learn's compiled Euclidean
    kernels. It finds the same neighbours as
    ``KNeighborsClassifier(metric=learner.get_metric())`` (up to the order of ties) at a
    fraction of the cost: the ``metric=`` path calls a Python function for every pair of
    samples.

    Parameters
    ----------
    learner : skdml learner (or any transformer)
        Fitted on the data given to the pipeline's ``fit``. To reuse a learner already
        fitted, as ``metric=learner.get_metric()`` does, pass
        ``sklearn.frozen.FrozenEstimator(learner)``: the pipeline then only embeds.
    n_neighbors : int, default=5
        Number of neighbours that vote.
    **kneighbors_params
        Other parameters of ``KNeighborsClassifier`` (``weights``, ``algorithm``,
        ``n_jobs``, ...), except ``metric``: the Euclidean distance of the embedding *is* the
        learned distance.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``"learner"`` and ``"knn"``: tune them with ``GridSearchCV`` as
        ``learner__<param>`` and ``knn__<param>``.

    Raises
    ------
    ValueError
        If ``learner`` has no ``transform`` or a ``metric`` is given.

    See Also
    --------
    skdml.hashing.HammingNeighbors : the fastest search for a hasher's binary codes.
    sklearn.neighbors.KNeighborsRegressor : for a learner of continuous targets (MLKR), put
        it after the learner in a pipeline the same way.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from skdml import NCA
    >>> from skdml.neighbors import make_knn
    >>> X, y = load_iris(return_X_y=True)
    >>> knn = make_knn(NCA(random_state=0), n_neighbors=3).fit(X, y)
    >>> round(knn.score(X, y), 3)
    0.987
    >>> nca = knn.named_steps["learner"]  # the fitted learner; reusing it costs no fit:
    >>> fast = make_knn(FrozenEstimator(nca), n_neighbors=3).fit(X, y)
    >>> slow = KNeighborsClassifier(3, metric=nca.get_metric()).fit(X, y)
    >>> bool((fast.predict(X) == slow.predict(X)).all())
    True
    """
    if not hasattr(learner, "transform"):
        raise ValueError(
            "make_knn needs a learner with a transform method (a skdml learner, or any "
            f"transformer), got {type(learner).__name__}."
        )
    if "metric" in kneighbors_params:
        raise ValueError(
            "make_knn searches the learner's embedding with the Euclidean distance, which is "
            "the learned distance; it takes no metric, got "
            f"metric={kneighbors_params['metric']!r}. For another metric, use "
            "make_pipeline(learner, KNeighborsClassifier(metric=...))."
        )
    knn = KNeighborsClassifier(n_neighbors=n_neighbors, **kneighbors_params)
    return Pipeline([("learner", learner), ("knn", knn)])
