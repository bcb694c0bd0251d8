"""matplotlib helpers (the optional ``plot`` extra: ``pip install skdml[plot]``)."""

import numpy as np
from sklearn.utils import check_array, check_consistent_length

__all__ = ["plot_embedding"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skdml.plotting needs matplotlib: pip install 'skdml[plot]'"
        ) from exc
    return plt


def plot_embedding(X, y=None, *, ax=None, title=None, method="pca", random_state=0):
    """Scatter an embedding in 2-D, one color per class.

    Embeddings with more than two dimensions are first mapped to 2-D by scikit-learn:
    ``method='pca'`` shows the two principal axes (a linear view of the learned space);
    ``method='tsne'`` a t-SNE map, which preserves who is whose neighbor -- what a kNN
    classifier sees -- at the cost of a few seconds.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_dims)
        The embedding, e.g. ``learner.transform(X)``.
    y : array-like of shape (n_samples,), default=None
        Class labels for the colors (any type).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    title : str, default=None
    method : {'pca', 'tsne'}, default='pca'
        How embeddings with more than two dimensions are brought to 2-D.
    random_state : int, default=0
        Seeds the PCA solver or t-SNE.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from skdml import LDA
    >>> from skdml.plotting import plot_embedding
    >>> X, y = load_iris(return_X_y=True)
    >>> ax = plot_embedding(LDA().fit_transform(X, y), y, title="LDA")
    >>> ax.get_title()
    'LDA'
    """
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}.")
    plt = _pyplot()
    X = check_array(X, dtype=(np.float64, np.float32), input_name="X")
    if X.shape[1] > 2 and method == "pca":
        from sklearn.decomposition import PCA

        X = PCA(n_components=2, random_state=random_state).fit_transform(X)
    elif X.shape[1] > 2:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (X.shape[0] - 1) / 3)
        X = TSNE(perplexity=perplexity, init="pca", random_state=random_state).fit_transform(X)
    elif X.shape[1] == 1:
        X = np.column_stack([X[:, 0], np.zeros(len(X))])
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    if y is None:
        ax.scatter(X[:, 0], X[:, 1], s=8)
    else:
        y = np.asarray(y)
        check_consistent_length(X, y)
        classes, codes = np.unique(y, return_inverse=True)
        cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        for k, label in enumerate(classes):
            mask = codes == k
            ax.scatter(X[mask, 0], X[mask, 1], s=8, color=cmap(k % cmap.N), label=str(label))
        if len(classes) <= 20:
            ax.legend(fontsize="x-small", markerscale=1.5, loc="best", ncols=2)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    return ax
