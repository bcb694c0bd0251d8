"""Distances between embeddings, shared by the losses and miners of :mod:`skdml.deep`.

A distance is an object called as ``distance(x, ref=None)``: it returns the matrix of its
values between the rows of ``x`` (shape (n, d)) and those of ``ref`` (shape (m, d); ``x``
itself when ``None``), of shape (n, m). ``distance.pairwise(x, y)`` gives the values of
matching rows, of shape (n,). Each loss and miner takes one as ``distance=`` and measures
everything with it, so a change of geometry is one argument::

    from skdml.deep import DeepMetricLearner, HardMiner, TripletMarginLoss
    from skdml.deep.distances import CosineSimilarity

    learner = DeepMetricLearner(loss=TripletMarginLoss(distance=CosineSimilarity()),
                                miner=HardMiner(distance=CosineSimilarity()))

Two kinds exist, told apart by :attr:`BaseDistance.is_inverted`:

- distances (:class:`LpDistance`): smaller means closer;
- similarities (:class:`CosineSimilarity`, :class:`DotProductSimilarity`): larger means
  closer.

A loss whose formula needs one kind refuses the other when it is built. Code that works
with both compares values through :meth:`BaseDistance.closeness`, which is larger for
closer pairs whichever the kind.
"""

import math
import numbers

import torch
from torch.nn import functional as F

from ._params import ParamsMixin

__all__ = ["BaseDistance", "CosineSimilarity", "DotProductSimilarity", "LpDistance"]

_EPS = 1e-12


def _sq_dist_matrix(x, ref=None):
    """All squared Euclidean distances through the Gram matrix: one matmul, O(n m d).

    Far cheaper than one difference vector per pair (tens of thousands of pairs per batch).
    Round-off can make an entry slightly negative: clamped at 0.
    """
    if ref is None:
        sq = (x * x).sum(1)
        return (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min(0.0)
    return ((x * x).sum(1)[:, None] + (ref * ref).sum(1)[None, :]
            - 2.0 * (x @ ref.T)).clamp_min(0.0)


def _dist_matrix(x, ref=None):
    # sqrt clamped away from 0: the gradient of ||0|| is taken as 0, never NaN
    return _sq_dist_matrix(x, ref).clamp_min(_EPS).sqrt()


class BaseDistance(ParamsMixin):
    """Base of the distances: optional L2 normalization, then :meth:`compute`.

    Subclasses set :attr:`is_inverted` and implement ``compute(x, ref)`` (the full matrix)
    and, when cheaper than a matrix, ``compute_pairwise(x, y)``.

    Parameters
    ----------
    normalize_embeddings : bool, default=False
        L2-normalize every embedding before measuring.
    """

    #: False for a distance (smaller is closer), True for a similarity (larger is closer)
    is_inverted = False
    _param_names = ("normalize_embeddings",)

    def __init__(self, normalize_embeddings=False):
        if not isinstance(normalize_embeddings, (bool, numbers.Integral)):
            raise ValueError(
                f"{type(self).__name__}: normalize_embeddings must be a bool, got "
                f"{normalize_embeddings!r}."
            )
        self.normalize_embeddings = bool(normalize_embeddings)

    def _prepare(self, x):
        if x.dim() != 2:
            raise ValueError(
                f"{type(self).__name__} expects embeddings of shape (n, d), got "
                f"{tuple(x.shape)}."
            )
        return F.normalize(x, dim=1) if self.normalize_embeddings else x

    def __call__(self, x, ref=None):
        x = self._prepare(x)
        if ref is not None:
            ref = self._prepare(ref)
            if ref.shape[1] != x.shape[1]:
                raise ValueError(
                    f"{type(self).__name__}: embeddings of width {x.shape[1]} and reference "
                    f"embeddings of width {ref.shape[1]} cannot be compared."
                )
        return self.compute(x, ref)

    def pairwise(self, x, y):
        """The values between matching rows ``x[i]``, ``y[i]``: shape (n,)."""
        if x.shape != y.shape:
            raise ValueError(
                f"{type(self).__name__}.pairwise expects two arrays of one shape, got "
                f"{tuple(x.shape)} and {tuple(y.shape)}."
            )
        return self.compute_pairwise(self._prepare(x), self._prepare(y))

    def compute(self, x, ref):
        """The (n, m) matrix between ``x`` and ``ref`` (``x`` itself when ``None``).

        Called on embeddings already normalized when ``normalize_embeddings`` is set.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement compute(x, ref).")

    def compute_pairwise(self, x, y):
        return self.compute(x, y).diagonal()

    def closeness(self, values):
        """``values`` turned so that larger always means closer (negated for a distance)."""
        return values if self.is_inverted else -values


class LpDistance(BaseDistance):
    """The Lp distance raised to a power: ``(sum_k |x_k - y_k|^p)^(power / p)``.

    ``p=2, power=1`` is the Euclidean distance, ``power=2`` its square (computed exactly,
    without a square root). The Euclidean case goes through the Gram matrix (one matmul);
    other ``p`` through :func:`torch.cdist`. The gradient at a zero distance is taken as 0.

    Parameters
    ----------
    p : float, default=2
        ``p >= 1``.
    power : float, default=1
        ``> 0``.
    normalize_embeddings : bool, default=False
        L2-normalize the embeddings first (chordal distance on the sphere).

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.distances import LpDistance
    >>> LpDistance(power=2)(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
    tensor([[ 0., 25.],
            [25.,  0.]])
    """

    _param_names = ("p", "power", "normalize_embeddings")

    def __init__(self, p=2, power=1, normalize_embeddings=False):
        super().__init__(normalize_embeddings)
        for value, name, low in ((p, "p", 1.0), (power, "power", 0.0)):
            if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                    or not math.isfinite(value) or value < low or (low == 0 and value == 0)):
                op = ">= 1" if low else "> 0"
                raise ValueError(
                    f"LpDistance: {name} must be a finite number {op}, got {value!r}.")
        self.p = p
        self.power = power

    def compute(self, x, ref):
        if self.p == 2:
            if self.power == 2:
                return _sq_dist_matrix(x, ref)
            d = _dist_matrix(x, ref)
        else:
            d = torch.cdist(x, x if ref is None else ref, p=float(self.p))
        return d if self.power == 1 else d ** self.power

    def compute_pairwise(self, x, y):
        diff = x - y
        if self.p == 2 and self.power == 2:
            return (diff * diff).sum(1)
        d = diff.abs().pow(self.p).sum(1).clamp_min(_EPS).pow(1.0 / self.p)
        return d if self.power == 1 else d ** self.power


class CosineSimilarity(BaseDistance):
    """Cosine similarity: the dot product of the L2-normalized vectors, in [-1, 1]; larger is
    closer.

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.distances import CosineSimilarity
    >>> CosineSimilarity()(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    tensor([[1., 0.],
            [0., 1.]])
    """

    is_inverted = True
    _param_names = ()

    def __init__(self):
        super().__init__(normalize_embeddings=True)

    def compute(self, x, ref):
        return x @ (x if ref is None else ref).T

    def compute_pairwise(self, x, y):
        return (x * y).sum(1)


class DotProductSimilarity(BaseDistance):
    """The dot product of two vectors; larger is closer (unbounded unless normalized).

    Parameters
    ----------
    normalize_embeddings : bool, default=False
        True makes it the cosine similarity.
    """

    is_inverted = True

    def compute(self, x, ref):
        return x @ (x if ref is None else ref).T

    def compute_pairwise(self, x, y):
        return (x * y).sum(1)


def check_distance(distance, owner, *, default, kind="any"):
    """``distance`` (or ``default`` when None), checked against the kind a formula needs.

    ``kind`` is ``'distance'`` (smaller is closer), ``'similarity'`` (larger is closer) or
    ``'any'``. Raises a ValueError naming the mismatch.
    """
    if distance is None:
        return default
    if not isinstance(distance, BaseDistance):
        raise ValueError(
            f"{owner}: distance must be an instance of a skdml.deep.distances class (for "
            f"example LpDistance()), got {distance!r}."
        )
    if kind == "distance" and distance.is_inverted:
        raise ValueError(
            f"{owner} needs a distance (smaller is closer), got the similarity {distance!r}; "
            "use LpDistance(...)."
        )
    if kind == "similarity" and not distance.is_inverted:
        raise ValueError(
            f"{owner} needs a similarity (larger is closer), got the distance {distance!r}; "
            "use CosineSimilarity() or DotProductSimilarity(...)."
        )
    return distance
