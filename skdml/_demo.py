"""The demo: every available learner on sklearn's bundled digits, against Euclidean kNN."""

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from . import metrics
from .linear import (
    ITML, KISSME, LDA, LFDA, LMNN, LSML, MMC, NCA, PCA, RCA, SCML, SDML, Covariance,
)


def demo_learners():
    """(name, unfitted learner) pairs shown by the demo, in order.

    Left out: MLKR (a regression learner: digits has classes, not a continuous target) and
    MCML (its convex solver needs minutes on 64 features; see benchmarks/).
    """
    return [
        ("Covariance (Ledoit-Wolf)", Covariance(shrinkage="ledoit_wolf")),
        ("PCA (32, whitened)", PCA(n_components=32, whiten=True, random_state=0)),
        ("LDA", LDA()),
        ("LMNN", LMNN(random_state=0)),
        ("NCA", NCA(random_state=0)),
        ("LFDA", LFDA()),
        ("ITML", ITML(random_state=0)),
        ("SDML", SDML(random_state=0)),
        ("RCA", RCA(random_state=0)),
        ("LSML", LSML(random_state=0)),
        ("SCML", SCML(random_state=0)),
        ("MMC", MMC(random_state=0)),
        ("KISSME (PCA 32 first)", _pca_then(KISSME())),
    ]


def _pca_then(learner):
    """KISSME is used on a PCA-reduced space in its paper; a Pipeline does just that."""
    from sklearn.pipeline import make_pipeline

    return make_pipeline(PCA(n_components=32, random_state=0), learner)


def run_demo(output=None, n_neighbors=3, stream=print):
    """Fit each learner on digits, print the kNN table, save a 2-D embedding figure.

    Parameters
    ----------
    output : str or path-like, default=None
        Where to save the figure (PNG); None skips the figure.
    n_neighbors : int, default=3
    stream : callable, default=print
        Receives each line of the table.

    Returns
    -------
    rows : list of dict
        One per method: name, fit time (s), kNN accuracy and MAP@R on the test split.
    """
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    stream(
        f"skdml demo: sklearn digits ({len(X_train)} train / {len(X_test)} test, "
        f"{X.shape[1]} features, {len(np.unique(y))} classes), {n_neighbors}-NN on each "
        "learned embedding"
    )
    rows, embeddings = [], []
    for name, learner in [("Euclidean (no learning)", None)] + demo_learners():
        start = time.perf_counter()
        if learner is None:
            Z_train, Z_test = X_train, X_test
        else:
            learner.fit(X_train, y_train)
            Z_train, Z_test = learner.transform(X_train), learner.transform(X_test)
        fit_time = time.perf_counter() - start
        knn = KNeighborsClassifier(n_neighbors=n_neighbors).fit(Z_train, y_train)
        rows.append({
            "method": name,
            "fit_s": fit_time,
            "accuracy": knn.score(Z_test, y_test),
            "map_at_r": metrics.map_at_r(Z_test, y_test, X_ref=Z_train, y_ref=y_train),
            "dims": Z_train.shape[1],
        })
        embeddings.append((name, Z_test))
    _print_table(rows, stream)
    if output is not None:
        _save_figure(embeddings, y_test, output)
        stream(f"2-D views of the test embeddings saved to {output}")
    return rows


def _print_table(rows, stream):
    base = rows[0]["accuracy"]
    width = max(len(r["method"]) for r in rows)
    stream(f"{'method':<{width}}  {'dims':>4}  {'fit (s)':>8}  {'kNN acc':>8}  "
           f"{'vs Eucl.':>8}  {'MAP@R':>6}")
    for r in rows:
        stream(f"{r['method']:<{width}}  {r['dims']:>4}  {r['fit_s']:>8.3f}  "
               f"{r['accuracy']:>8.4f}  {r['accuracy'] - base:>+8.4f}  {r['map_at_r']:>6.3f}")


def _save_figure(embeddings, y, output):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import plot_embedding

    n = len(embeddings)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4 * rows), squeeze=False)
    for ax, (name, Z) in zip(axes.ravel(), embeddings):
        plot_embedding(Z, y, ax=ax, title=name, method="tsne")
        if ax is not axes.ravel()[0]:
            ax.get_legend().remove()
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle("Digits test set in each learned space (t-SNE maps: who is whose neighbor)")
    fig.tight_layout()
    fig.savefig(output, dpi=110)
    plt.close(fig)
