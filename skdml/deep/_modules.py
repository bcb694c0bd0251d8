"""Networks for deep metric learning: plain torch modules, no estimator logic."""

from torch import nn

__all__ = ["MLP"]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "identity": nn.Identity}


class MLP(nn.Module):
    """A fully connected network, the embedding of DDML and its seeds.

    ``n_features -> hidden_sizes[0] -> ... -> hidden_sizes[-1]``, each layer an affine map
    followed by the activation (the last one included, as in DDML, whose embedding is the
    output of the top tanh layer). Weights are initialized Xavier-uniform, biases zero.

    Parameters
    ----------
    n_features : int
        Input dimension. A :class:`~skdml.deep.DeepMetricLearner` sets it from the data.
    hidden_sizes : tuple of int, default=(128, 64)
        Widths of the layers; the last one is the embedding dimension.
    activation : {'tanh', 'relu', 'sigmoid', 'identity'}, default='tanh'
    normalize : bool, default=False
        L2-normalize the output (embeddings on the unit sphere), as losses built on cosine
        similarity expect.
    """

    def __init__(self, n_features, hidden_sizes=(128, 64), activation="tanh", normalize=False):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"MLP: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}."
            )
        sizes = [int(n_features), *[int(h) for h in hidden_sizes]]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(
                "MLP needs n_features >= 1 and at least one layer of width >= 1, got "
                f"n_features={n_features!r}, hidden_sizes={hidden_sizes!r}."
            )
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            linear = nn.Linear(fan_in, fan_out)
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
            layers += [linear, _ACTIVATIONS[activation]()]
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
