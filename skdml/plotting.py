"""matplotlib helpers (the optional ``plot`` extra: ``pip install skdml[plot]``)."""

from collections.abc import Mapping

import numpy as np
from sklearn.utils import check_array, check_consistent_length

__all__ = ["plot_embedding", "plot_precision_recall", "plot_roc", "plot_training_history"]


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
    if X.shape[1] > 2 and X.shape[0] == 1:
        X = np.zeros((1, 2))  # a single point: nothing to project, drawn at the origin
    elif X.shape[1] > 2 and method == "pca":
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


def _axes(ax, figsize=(4.5, 4)):
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _check_1d(values, name):
    values = check_array(values, ensure_2d=False, dtype=np.float64, input_name=name)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {values.shape}.")
    return values


def _check_scores(y_true, scores, name):
    from sklearn.utils import column_or_1d

    y_true = column_or_1d(y_true)
    scores = _check_1d(scores, name)
    check_consistent_length(y_true, scores)
    return y_true, scores


def plot_roc(y_true, distances, *, ax=None, label=None, **line_kwargs):
    """ROC curve of pair verification: call a pair similar when its distance is small.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        +1 for similar, -1 for dissimilar pairs.
    distances : array-like of shape (n_pairs,)
        Learned distances of the pairs (e.g. ``learner.pair_distance(pairs)``).
    ax : matplotlib Axes, default=None
    label : str, default=None
        Legend entry; the ROC AUC and equal error rate are appended.
    **line_kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdml.plotting import plot_roc
    >>> ax = plot_roc([1, 1, -1, -1], [0.1, 0.4, 0.3, 0.9], label="toy")
    >>> ax.get_legend().get_texts()[0].get_text()
    'toy (AUC 0.750, EER 0.500)'
    """
    from sklearn.metrics import roc_curve

    from .metrics import equal_error_rate, verification_roc_auc

    y_true, distances = _check_scores(y_true, distances, "distances")
    auc = verification_roc_auc(y_true, distances)
    eer = equal_error_rate(y_true, distances)
    fpr, tpr, _ = roc_curve(np.asarray(y_true) == 1, -distances)
    ax = _axes(ax)
    text = f"AUC {auc:.3f}, EER {eer:.3f}"
    ax.plot(fpr, tpr, label=f"{label} ({text})" if label else text, **line_kwargs)
    ax.plot([0, 1], [0, 1], ":", color="gray", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_precision_recall(precision, recall, *, ax=None, label=None, **line_kwargs):
    """A precision-recall curve (retrieval or hashing), from points already computed.

    Parameters
    ----------
    precision, recall : array-like of shape (n_points,)
        E.g. the precision and recall at each Hamming radius, or at each rank cut-off.
    ax : matplotlib Axes, default=None
    label : str, default=None
    **line_kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdml.plotting import plot_precision_recall
    >>> ax = plot_precision_recall([1.0, 0.8, 0.5], [0.1, 0.5, 1.0], label="ITQ 32 bits")
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('recall', 'precision')
    """
    precision = _check_1d(precision, "precision")
    recall = _check_1d(recall, "recall")
    check_consistent_length(precision, recall)
    ax = _axes(ax)
    line_kwargs.setdefault("marker", ".")
    ax.plot(recall, precision, label=label, **line_kwargs)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    if label is not None:
        ax.legend(loc="lower left", fontsize="small")
    return ax


def plot_training_history(history, keys=("train_loss", "valid_loss"), *, ax=None):
    """Curves of a skorch training history (``net.history``), one per key present.

    Parameters
    ----------
    history : skorch.History or list of dict
        One dict per epoch, as skorch records it (``learner.history``).
    keys : sequence of str, default=('train_loss', 'valid_loss')
        The per-epoch entries to draw; keys absent from the history are skipped.
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdml.plotting import plot_training_history
    >>> history = [{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.5}]
    >>> ax = plot_training_history(history)
    >>> [line.get_label() for line in ax.get_lines()]
    ['train_loss']
    """
    epochs = list(history)
    if not epochs:
        raise ValueError("history is empty: fit the learner first.")
    if not all(isinstance(row, Mapping) for row in epochs):
        kinds = sorted({type(row).__name__ for row in epochs if not isinstance(row, Mapping)})
        raise ValueError(
            "history must hold one dict per epoch (as skorch's net.history does), got "
            f"entries of type {', '.join(kinds)}."
        )
    ax = _axes(ax, figsize=(5, 3.5))
    drawn = 0
    for key in keys:
        points = [(row.get("epoch", i + 1), row[key]) for i, row in enumerate(epochs)
                  if key in row]
        if points:
            ax.plot(*zip(*points), marker=".", label=key)
            drawn += 1
    if not drawn:
        raise ValueError(
            f"none of the keys {list(keys)} is in the history; it has {sorted(epochs[-1])}."
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(fontsize="small")
    return ax
