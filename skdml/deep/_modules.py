"""Networks for deep metric learning: plain torch modules, no estimator logic."""

from torch import nn

__all__ = ["MLP"]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "identity": nn.Identity}


class MLP(nn.Module):
    """A fully connected network, the embedding of DDML and its seeds.

    ``n_features -> hidden_sizes[0] -> ... -> hidden_sizes[-1]``, each layer an affine map
    followed by the activation; the last one by ``output_activation``, the same by default
    (as in DDML, whose embedding is the output of the top tanh layer). Weights are
    initialized Xavier-uniform, biases zero.

    Parameters
    ----------
    n_features : int
        Input dimension. A :class:`~skdml.deep.DeepMetricLearner` sets it from the data.
    hidden_sizes : tuple of int, default=(128, 64)
        Widths of the layers; the last one is the embedding dimension.
    activation : {'tanh', 'relu', 'sigmoid', 'identity'}, default='tanh'
    output_activation : {'same', 'tanh', 'relu', 'sigmoid', 'identity'}, default='same'
        The last layer's activation; ``'same'`` is ``activation``. ``'identity'`` leaves
        the embedding unclipped: losses on angles with a learned norm (SphereFace's logits
        are ``|x| cos``) drive a ReLU-ended network to the all-zero embedding, where every
        unit is dead and training stops (the learner picks ``'identity'`` for them, see
        :class:`~skdml.deep.DeepMetricLearner`).
    normalize : bool, default=False
        L2-normalize the output (embeddings on the unit sphere), as losses built on cosine
        similarity expect.
    """

    #: The network takes flat samples, of shape (n_samples, n_features): the learners
    #: refuse arrays of more dimensions with a clear error.
    flat_samples = True

    def __init__(self, n_features, hidden_sizes=(128, 64), activation="tanh",
                 output_activation="same", normalize=False):
        super().__init__()
        if not isinstance(activation, str) or activation not in _ACTIVATIONS:
            raise ValueError(
                f"MLP: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}."
            )
        if output_activation == "same":
            output_activation = activation
        if not isinstance(output_activation, str) or output_activation not in _ACTIVATIONS:
            raise ValueError(
                "MLP: output_activation must be 'same' or one of "
                f"{sorted(_ACTIVATIONS)} ('identity' for no activation), got "
                f"{output_activation!r}."
            )
        sizes = [int(n_features), *[int(h) for h in hidden_sizes]]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(
                "MLP needs n_features >= 1 and at least one layer of width >= 1, got "
                f"n_features={n_features!r}, hidden_sizes={hidden_sizes!r}."
            )
        layers = []
        n_layers = len(sizes) - 1
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            linear = nn.Linear(fan_in, fan_out)
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
            # every layer keeps its activation module (Identity included): code reading the
            # network layer by layer (DTML's hidden outputs) sees one structure
            name = output_activation if i == n_layers - 1 else activation
            layers += [linear, _ACTIVATIONS[name]()]
        self.net = nn.Sequential(*layers)
        self.n_features = sizes[0]
        self.normalize = normalize

    def forward(self, X):
        if X.dim() != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"MLP expects input of shape (n_samples, {self.n_features}), got a tensor of "
                f"shape {tuple(X.shape)}."
            )
        Z = self.net(X)
        if self.normalize:
            Z = nn.functional.normalize(Z, dim=1)
        return Z
