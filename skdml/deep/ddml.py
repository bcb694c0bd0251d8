"""DDML: discriminative deep metric learning (Hu, Lu & Tan)."""

from numbers import Real

import torch

from .._param_validation import Interval
from ._base import DeepMetricLearner
from ._modules import MLP
from ._pairs import DeepPairMixin
from .losses import GeneralizedLogisticLoss

__all__ = ["DDML"]


class DDML(DeepPairMixin, DeepMetricLearner):
    """Discriminative deep metric learning: a tanh MLP trained with a thresholded pair loss.

    The network ``f`` (tanh layers, Xavier-uniform initialization) is trained so that the
    squared distance ``d_ij^2 = |f(x_i) - f(x_j)|^2`` of every pair of a batch falls below
    ``tau - 1`` for pairs of one class and above ``tau + 1`` for pairs of different classes,
    by minimizing the generalized logistic loss
    ``g(1 - l_ij (tau - d_ij^2))``, ``g(z) = log(1 + exp(beta z)) / beta``, ``l_ij = +1`` for
    similar and ``-1`` for dissimilar pairs, plus the weight decay ``lambda / 2 |W|^2`` (the
    optimizer's ``weight_decay``), with :class:`~skdml.deep.losses.GeneralizedLogisticLoss`.

    Two forms of supervision, told apart by the shape of ``X`` (as for ITML):

    - labelled pairs, the paper's (Algorithm 1 of [1]_ learns from pairs ``(x_i, x_j,
      l_ij)``): ``fit(pairs, y)`` with pairs of shape (n_pairs, 2, n_features), or integer
      index pairs of shape (n_pairs, 2) with ``preprocessor=X``, and ``y`` in {+1, -1}.
      Batches hold ``batch_size`` pairs in random order and the loss sees exactly those
      pairs, with their labels. The fit then calibrates ``threshold_``, the distance that
      best separates the training pairs, and DDML is a classifier of pairs:
      ``decision_function(pairs)`` (``threshold_ - distance``, higher for pairs more alike),
      ``predict(pairs)`` in {-1, +1}, ``score(pairs, y)`` (accuracy) and
      ``calibrate_threshold(pairs, y, ...)``, as for the classical pair learners;
    - class labels: ``fit(X, y)``. Batches are class-balanced, and the loss sees all their
      pairs; the learner is a transformer (``calibrate_threshold`` makes it a classifier of
      pairs too).

    The paper's three parameters are named so that ``GridSearchCV`` can tune them:
    ``tau``, ``beta`` and ``weight_decay`` (the paper's lambda). Every
    :class:`~skdml.deep.DeepMetricLearner` parameter and skorch sub-parameter works too.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(128, 64)
        Widths of the tanh layers; the last one is the embedding dimension.
    tau : float, default=3.0
        Threshold on squared embedding distances.
    beta : float, default=2.0
        Sharpness of the generalized logistic function ``g``.
    weight_decay : float, default=1e-4
        Lambda, the L2 penalty on the network's weights and biases.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        The paper uses plain gradient descent; Adam reaches the same loss in far fewer epochs.
    lr : float, default=1e-3
    max_epochs : int, default=30
    batch_size : int, default=128
        Samples per batch in a fit on class labels, pairs per batch in a fit on pairs.
    samples_per_class : int or None, default=None
        Class-balanced batches of a fit on class labels (see
        :class:`~skdml.deep.DeepMetricLearner`); unused by a fit on pairs.
    train_split : callable or None, default=None
    callbacks : list or None, default=None
    device : str or torch.device, default='cpu'
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
    warm_start : bool, default=False
    n_jobs : int or None, default=None
        Threads of torch, BLAS and numba during ``fit``, ``partial_fit`` and ``transform``
        (restored afterwards): ``None`` means 1 unless in a
        ``joblib.parallel_config(n_jobs=...)`` context, ``-1`` means all cores
        (scikit-learn's meaning). One thread is the fastest for small networks on the CPU
        and never oversubscribes a busy machine; a large network may gain from more.
    standardize : bool, default=True
        Centre and scale each input feature with the training data's mean and standard
        deviation before the network sees it (see
        :class:`~skdml.deep.DeepMetricLearner`); ``False`` feeds ``X`` as it is.
    **kwargs
        skorch sub-parameters (``module__activation``, ``iterator_train__...``, ...).

    Attributes
    ----------
    module_ : MLP
    loss_ : GeneralizedLogisticLoss
    history_ : skorch.History
    classes_ : ndarray of shape (n_classes,)
        The class labels after a fit on them; ``[-1, 1]`` (dissimilar, similar) after a
        fit on pairs or :meth:`calibrate_threshold`: the classes of the pair classifier.
    threshold_ : float
        Pairs at a learned distance ``<= threshold_`` are predicted similar. Set by a fit on
        pairs (on the training pairs), or by :meth:`calibrate_threshold`.
    embedding_dim_ : int
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in,)
        Defined when ``X`` has feature names that are all strings.

    References
    ----------
    .. [1] J. Hu, J. Lu and Y.-P. Tan, "Discriminative deep metric learning for face
       verification in the wild", CVPR 2014.
    .. [2] J. Lu, J. Hu and Y.-P. Tan, "Discriminative deep metric learning for face and
       kinship verification", IEEE Transactions on Image Processing 26(9), 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from skdml.deep import DDML
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(DDML(hidden_sizes=(16, 8), max_epochs=20, random_state=0),
    ...                       KNeighborsClassifier(n_neighbors=3))
    >>> model.fit(X, y).score(X, y) > 0.9
    True

    From labelled pairs, as index pairs into ``X``:

    >>> from skdml.datasets import make_pairs
    >>> pairs, labels = make_pairs(X, y, 300, return_indices=True, random_state=0)
    >>> ddml = DDML(hidden_sizes=(16, 8), max_epochs=20, random_state=0)
    >>> ddml.fit(pairs[:200], labels[:200], preprocessor=X).classes_
    array([-1,  1])
    >>> ddml.score(pairs[200:], labels[200:], preprocessor=X) > 0.8
    True
    """

    _parameter_constraints = {
        **{k: v for k, v in DeepMetricLearner._parameter_constraints.items()
           if k not in ("module", "loss", "miner")},
        "hidden_sizes": [tuple, list],
        "tau": [Interval(Real, None, None, closed="neither")],
        "beta": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        hidden_sizes=(128, 64),
        *,
        tau=3.0,
        beta=2.0,
        weight_decay=1e-4,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=30,
        batch_size=128,
        samples_per_class=None,
        train_split=None,
        callbacks=None,
        device="cpu",
        random_state=None,
        verbose=0,
        warm_start=False,
        n_jobs=None,
        standardize=True,
        **kwargs,
    ):
        self.hidden_sizes = hidden_sizes
        self.tau = tau
        self.beta = beta
        self.weight_decay = weight_decay
        super().__init__(
            module=MLP,
            loss=GeneralizedLogisticLoss,
            miner=None,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            samples_per_class=samples_per_class,
            train_split=train_split,
            callbacks=callbacks,
            device=device,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            n_jobs=n_jobs,
            standardize=standardize,
            **kwargs,
        )

    def get_params_for(self, prefix):
        """skorch's sub-parameters, with DDML's named parameters filled in where unset."""
        params = dict(super().get_params_for(prefix))
        if prefix == "module":
            params.setdefault("hidden_sizes", tuple(self.hidden_sizes))
            params.setdefault("activation", "tanh")
        elif prefix == "loss":
            params.setdefault("tau", self.tau)
            params.setdefault("beta", self.beta)
        elif prefix == "optimizer":
            params.setdefault("weight_decay", self.weight_decay)
        return params
