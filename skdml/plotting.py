"""matplotlib helpers (the optional ``plot`` extra: ``pip install skdml[plot]``).

The curves are scikit-learn's displays (``RocCurveDisplay``, ``DetCurveDisplay``,
``PrecisionRecallDisplay``), returned as such; verification curves take scores, higher for
pairs more likely similar, as every scikit-learn metric does.
"""

from collections.abc import Mapping

import numpy as np
from sklearn.utils import check_array, check_consistent_length

__all__ = [
    "plot_det",
    "plot_embedding",
    "plot_precision_recall",
    "plot_roc",
    "plot_training_history",
]


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


def _styled(display, line_kwargs, legend_loc):
    """Apply ``line_kwargs`` to the display's curve (after sklearn drew it) and redraw the
    legend, so the styling works the same whatever scikit-learn version drew it."""
    if line_kwargs:
        display.line_.set(**line_kwargs)
    display.ax_.legend(loc=legend_loc, fontsize="small")
    return display


def _verification_scores(y_true, y_score):
    """Validated pair labels and scores (the checks of :mod:`skdml.metrics`)."""
    from .metrics import _check_verification

    _pyplot()
    return _check_verification(y_true, y_score)


#: The gid of the chance-level line plot_roc draws, so that it draws it once per axes.
_CHANCE = "skdml-roc-chance-level"


def plot_roc(y_true, y_score, *, ax=None, name=None, **line_kwargs):
    """ROC curve of pair verification, drawn by scikit-learn's ``RocCurveDisplay``.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        +1 for similar, -1 for dissimilar pairs.
    y_score : array-like of shape (n_pairs,)
        Scores of the pairs, higher for pairs more likely similar (scikit-learn's
        convention): ``learner.decision_function(pairs)`` or ``learner.pair_score(pairs)``;
        for distances, pass ``-distances``.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    name : str, default=None
        Legend entry; scikit-learn appends the ROC AUC.
    **line_kwargs
        Set on the curve (``display.line_``), e.g. ``color="gray"``.

    Returns
    -------
    display : sklearn.metrics.RocCurveDisplay
        With ``roc_auc``, ``ax_`` and ``figure_``. The chance level is drawn with the first
        curve on an axes.

    See Also
    --------
    plot_det : the DET curve, with the equal error rate.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdml.plotting import plot_roc
    >>> display = plot_roc([1, 1, -1, -1], [0.9, 0.6, 0.7, 0.1], name="toy")
    >>> display.roc_auc
    0.75
    >>> display.ax_.get_legend().get_texts()[0].get_text()
    'toy (AUC = 0.75)'
    """
    from sklearn.metrics import RocCurveDisplay

    y_true, y_score = _verification_scores(y_true, y_score)
    # the chance level once per axes, however many curves share them
    chance = ax is None or not any(line.get_gid() == _CHANCE for line in ax.get_lines())
    display = RocCurveDisplay.from_predictions(
        y_true, y_score, pos_label=1, name=name, ax=ax, plot_chance_level=chance
    )
    if chance:
        display.chance_level_.set_gid(_CHANCE)
    return _styled(display, line_kwargs, "lower right")


def plot_det(y_true, y_score, *, ax=None, name=None, **line_kwargs):
    """DET curve of pair verification (false reject against false accept rate, on normal
    deviate scales), drawn by scikit-learn's ``DetCurveDisplay``, the equal error rate in
    the legend.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        +1 for similar, -1 for dissimilar pairs.
    y_score : array-like of shape (n_pairs,)
        Scores of the pairs, higher for pairs more likely similar (see :func:`plot_roc`).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    name : str, default=None
        Legend entry; the equal error rate (:func:`skdml.metrics.equal_error_rate`) is
        appended.
    **line_kwargs
        Set on the curve (``display.line_``).

    Returns
    -------
    display : sklearn.metrics.DetCurveDisplay
        With ``fpr``, ``fnr``, ``ax_`` and ``figure_``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdml.plotting import plot_det
    >>> display = plot_det([1, 1, -1, -1], [0.9, 0.6, 0.7, 0.1], name="toy")
    >>> display.ax_.get_legend().get_texts()[0].get_text()
    'toy (EER = 0.500)'
    """
    from sklearn.metrics import DetCurveDisplay

    from .metrics import equal_error_rate

    y_true, y_score = _verification_scores(y_true, y_score)
    display = DetCurveDisplay.from_predictions(y_true, y_score, pos_label=1, name=name, ax=ax)
    eer = f"EER = {equal_error_rate(y_true, y_score):.3f}"
    display.line_.set_label(f"{name} ({eer})" if name else eer)
    return _styled(display, line_kwargs, "upper right")


def plot_precision_recall(precision, recall, *, ax=None, name=None, **line_kwargs):
    """A precision-recall curve from points already computed (retrieval or hashing), drawn
    by scikit-learn's ``PrecisionRecallDisplay``.

    For the precision-recall curve of scored pairs, use scikit-learn directly:
    ``PrecisionRecallDisplay.from_predictions(y_true, learner.decision_function(pairs),
    pos_label=1)``.

    Parameters
    ----------
    precision, recall : array-like of shape (n_points,)
        E.g. the precision and recall at each Hamming radius, or at each rank cut-off.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    name : str, default=None
        Legend entry.
    **line_kwargs
        Set on the curve (``display.line_``); by default the points are marked and joined
        by straight lines (each is a measured operating point, not a step of a ranking).

    Returns
    -------
    display : sklearn.metrics.PrecisionRecallDisplay
        With ``ax_`` and ``figure_``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdml.plotting import plot_precision_recall
    >>> display = plot_precision_recall([1.0, 0.8, 0.5], [0.1, 0.5, 1.0], name="ITQ 32 bits")
    >>> display.ax_.get_xlabel(), display.ax_.get_ylabel()
    ('Recall', 'Precision')
    """
    from sklearn.metrics import PrecisionRecallDisplay

    precision = _check_1d(precision, "precision")
    recall = _check_1d(recall, "recall")
    check_consistent_length(precision, recall)
    _pyplot()
    display = PrecisionRecallDisplay(precision=precision, recall=recall).plot(ax=ax, name=name)
    line_kwargs = {"marker": ".", "drawstyle": "default", **line_kwargs}
    return _styled(display, line_kwargs, "lower left")


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
