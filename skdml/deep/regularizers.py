"""Regularizers a loss adds to its value: on the embeddings, or on its learned class vectors.

A regularizer is called as ``regularizer(tensor)`` on a 2-D tensor (a batch of embeddings,
or a loss's class vectors / proxies, one per row) and returns a scalar. Every loss takes
``embedding_regularizer=`` (applied to the batch's embeddings); a loss with learned class
vectors also takes ``weight_regularizer=`` (applied to them). Each has a ``weight``, the
factor of its value in the loss.
"""

import math
import numbers

from ._params import ParamsMixin

__all__ = ["BaseRegularizer", "CenterInvariantRegularizer", "LpRegularizer"]


def _check_weight(weight, owner):
    if (not isinstance(weight, numbers.Real) or isinstance(weight, bool)
            or not math.isfinite(weight) or weight < 0):
        raise ValueError(f"{owner}: weight must be a finite number >= 0, got {weight!r}.")
    return float(weight)


class BaseRegularizer(ParamsMixin):
    """Base of the regularizers: checks the input, then ``weight * compute(tensor)``."""

    _param_names = ("weight",)

    def __init__(self, weight=1.0):
        self.weight = _check_weight(weight, type(self).__name__)

    def __call__(self, tensor):
        if tensor.dim() != 2:
            raise ValueError(
                f"{type(self).__name__} expects a 2-D tensor (one vector per row), got shape "
                f"{tuple(tensor.shape)}."
            )
        return self.weight * self.compute(tensor)

    def compute(self, tensor):
        raise NotImplementedError(f"{type(self).__name__} must implement compute(tensor).")


class LpRegularizer(BaseRegularizer):
    """The mean over rows of ``||v||_p ** power``: keeps embeddings (or proxies) small.

    Parameters
    ----------
    p : float, default=2
    power : float, default=1
    weight : float, default=1.0

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.regularizers import LpRegularizer
    >>> LpRegularizer()(torch.tensor([[3.0, 4.0], [0.0, 1.0]]))
    tensor(3.)
    """

    _param_names = ("p", "power", "weight")

    def __init__(self, p=2, power=1, weight=1.0):
        super().__init__(weight)
        for value, name, low in ((p, "p", 1.0), (power, "power", 0.0)):
            if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                    or not math.isfinite(value) or value < low or (low == 0 and value == 0)):
                op = ">= 1" if low else "> 0"
                raise ValueError(f"LpRegularizer: {name} must be a finite number {op}, got "
                                 f"{value!r}.")
        self.p = p
        self.power = power

    def compute(self, tensor):
        norms = tensor.norm(p=self.p, dim=1)
        return (norms if self.power == 1 else norms ** self.power).mean()


class CenterInvariantRegularizer(BaseRegularizer):
    """Center-invariant term: ``1/4`` the mean over classes of
    ``(||w_c||^2 - mean_k ||w_k||^2)^2``, for the class vectors ``w``.

    It pulls every class vector to one common norm, so no class gets a larger share of the
    angular space for having more samples (Wu, Hu, Deng, Li and Jia, "Deep face recognition
    with center invariant loss", ACM MM Thematic Workshops 2017). Meant for a loss's
    ``weight_regularizer``.

    Parameters
    ----------
    weight : float, default=1.0
    """

    def compute(self, tensor):
        sq = (tensor * tensor).sum(1)
        return 0.25 * ((sq - sq.mean()) ** 2).mean()
