"""Thin namespaces for users of other metric learning libraries; nothing is re-implemented.

- :mod:`skdml.compat.metric_learn`: metric-learn 0.7's public names and constructor
  signatures, mapped onto skdml's learners (see the migration page of the docs).

Nothing here is imported by ``import skdml``: ``from skdml.compat import metric_learn``
loads it on demand.
"""

__all__ = ["metric_learn"]
