"""Reducers: how a loss turns its per-term values into the scalar that is minimized.

A loss's ``compute`` returns one value per term (per pair, triplet, anchor or sample) and,
where the terms belong to anchors, the anchor of each term. The loss's ``reducer`` makes
the scalar, called as ``reducer(values, anchors=None)``:

- :class:`MeanReducer`: the mean of all terms (the default of most losses);
- :class:`AvgNonZeroReducer`: the sum over the number of non-zero terms, so easy terms
  (zero for a hinge) do not dilute the hard ones (the margin loss's default);
- :class:`PerAnchorReducer`: the mean per anchor, then a reducer over the anchors, so an
  anchor with many pairs counts as much as one with few;
- :class:`ThresholdReducer`: the mean of the terms inside ``(low, high)``.

An empty set of terms reduces to a zero that stays in the autograd graph, never NaN.
"""

import math
import numbers

import torch

from ._params import ParamsMixin

__all__ = [
    "AvgNonZeroReducer",
    "BaseReducer",
    "MeanReducer",
    "PerAnchorReducer",
    "ThresholdReducer",
]


class BaseReducer(ParamsMixin):
    """Base of the reducers: checks, then :meth:`reduce`.

    A subclass implements ``reduce(values, anchors)``, returning a 0-d tensor.
    """

    #: whether ``reduce`` needs the anchor of each term
    needs_anchors = False

    def __call__(self, values, anchors=None):
        if values.dim() != 1:
            raise ValueError(
                f"{type(self).__name__} reduces a 1-D tensor of per-term values, got shape "
                f"{tuple(values.shape)}."
            )
        if anchors is not None and anchors.shape != values.shape:
            raise ValueError(
                f"{type(self).__name__}: {len(values)} values but {len(anchors)} anchors."
            )
        if self.needs_anchors and anchors is None:
            raise ValueError(
                f"{type(self).__name__} averages per anchor, but the loss gave no anchor "
                "for its terms; use MeanReducer() or AvgNonZeroReducer() with this loss."
            )
        if len(values) == 0:
            return values.sum()
        return self.reduce(values, anchors)

    def reduce(self, values, anchors):
        raise NotImplementedError(f"{type(self).__name__} must implement reduce(values, anchors).")


class MeanReducer(BaseReducer):
    """The mean of all terms."""

    def reduce(self, values, anchors):
        return values.mean()


class AvgNonZeroReducer(BaseReducer):
    """The sum of the terms over the number of non-zero ones (at least 1)."""

    def reduce(self, values, anchors):
        return values.sum() / (values > 0).sum().clamp_min(1)


class PerAnchorReducer(BaseReducer):
    """The mean of each anchor's terms, then ``anchor_reducer`` over the anchors.

    Parameters
    ----------
    anchor_reducer : reducer, default=MeanReducer()
        Reduces the per-anchor means.
    """

    _param_names = ("anchor_reducer",)
    needs_anchors = True

    def __init__(self, anchor_reducer=None):
        if anchor_reducer is not None and not isinstance(anchor_reducer, BaseReducer):
            raise ValueError(
                f"PerAnchorReducer: anchor_reducer must be a reducer, got {anchor_reducer!r}."
            )
        self.anchor_reducer = MeanReducer() if anchor_reducer is None else anchor_reducer

    def reduce(self, values, anchors):
        ids, inverse = torch.unique(anchors, return_inverse=True)
        sums = torch.zeros(len(ids), dtype=values.dtype, device=values.device)
        sums = sums.index_add(0, inverse, values)
        counts = torch.bincount(inverse, minlength=len(ids)).to(values.dtype)
        return self.anchor_reducer(sums / counts)


class ThresholdReducer(BaseReducer):
    """The mean of the terms with ``low < value < high`` (0 when there are none).

    Parameters
    ----------
    low : float or None, default=None
        Terms at or below it are dropped (e.g. ``0``: easy terms of a hinge).
    high : float or None, default=None
        Terms at or above it are dropped (outliers).
    """

    _param_names = ("low", "high")

    def __init__(self, low=None, high=None):
        for value, name in ((low, "low"), (high, "high")):
            if value is not None and (not isinstance(value, numbers.Real)
                                      or isinstance(value, bool) or math.isnan(value)):
                raise ValueError(f"ThresholdReducer: {name} must be a number or None, got "
                                 f"{value!r}.")
        if low is not None and high is not None and not low < high:
            raise ValueError(f"ThresholdReducer needs low < high, got low={low!r}, "
                             f"high={high!r}.")
        self.low = low
        self.high = high

    def reduce(self, values, anchors):
        keep = torch.ones_like(values, dtype=torch.bool)
        if self.low is not None:
            keep &= values > self.low
        if self.high is not None:
            keep &= values < self.high
        return values[keep].sum() / keep.sum().clamp_min(1)


def check_reducer(reducer, owner, *, default):
    if reducer is None:
        return default
    if not isinstance(reducer, BaseReducer):
        raise ValueError(
            f"{owner}: reducer must be an instance of a skdml.deep.reducers class (for "
            f"example MeanReducer()), got {reducer!r}."
        )
    return reducer
