"""The small-object protocol of distances, reducers, regularizers and miners."""


class ParamsMixin:
    """``get_params``, equality, hashing and ``repr`` from the names in ``_param_names``.

    These objects are plain settings (no learned state), so two with the same class and
    parameters are equal, and a learner can rebuild one from ``get_params()`` with changed
    ``miner__<name>`` / ``loss__<name>`` values.
    """

    _param_names = ()

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in self._param_names}

    def __eq__(self, other):
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self):
        return hash((type(self), tuple(self.get_params().items())))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
