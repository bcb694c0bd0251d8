"""The demo: every classical learner on sklearn's bundled digits, against Euclidean kNN.

Only the standard library is imported at module level, so that ``python -m skdml --help``
lists the learners without importing scikit-learn.
"""

import functools
import time

BASELINE = "Euclidean (no learning)"

#: the demo's learners: command-line key -> the name shown, in the demo's order.
#: Left out: MLKR (a regression learner: digits has classes, not a continuous target) and
#: MCML (its convex solver needs minutes on 64 features; see benchmarks/).
LEARNERS = {
    "covariance": "Covariance (Ledoit-Wolf)",
    "pca": "PCA (32, whitened)",
    "lda": "LDA",
    "lmnn": "LMNN",
    "nca": "NCA",
    "lfda": "LFDA",
    "itml": "ITML",
    "sdml": "SDML",
    "rca": "RCA",
    "lsml": "LSML",
    "scml": "SCML",
    "mmc": "MMC",
    "kissme": "KISSME (PCA 32 first)",
}

#: test points drawn in each map: a stratified subsample keeps t-SNE to about a second a map.
MAP_POINTS = 300

_print = functools.partial(print, flush=True)  # lines appear as they come, even in a pipe


def demo_learners(keys=None):
    """(name, unfitted learner) pairs shown by the demo, in order.

    Parameters
    ----------
    keys : sequence of str, default=None
        Keys of :data:`LEARNERS` to keep (in the demo's order); None keeps all.
    """
    from sklearn.pipeline import make_pipeline

    from . import linear

    factories = {
        "covariance": lambda: linear.Covariance(shrinkage="ledoit_wolf"),
        "pca": lambda: linear.PCA(n_components=32, whiten=True, random_state=0),
        "lda": linear.LDA,
        "lmnn": lambda: linear.LMNN(random_state=0),
        "nca": lambda: linear.NCA(random_state=0),
        "lfda": linear.LFDA,
        "itml": lambda: linear.ITML(random_state=0),
        "sdml": lambda: linear.SDML(random_state=0),
        "rca": lambda: linear.RCA(random_state=0),
        "lsml": lambda: linear.LSML(random_state=0),
        "scml": lambda: linear.SCML(random_state=0),
        "mmc": lambda: linear.MMC(random_state=0),
        # KISSME is used on a PCA-reduced space in its paper; a Pipeline does just that.
        "kissme": lambda: make_pipeline(
            linear.PCA(n_components=32, random_state=0), linear.KISSME()),
    }
    chosen = set(LEARNERS if keys is None else keys)
    if chosen - set(LEARNERS):
        raise ValueError(f"unknown demo learner(s) {sorted(chosen - set(LEARNERS))}; "
                         f"choose from {list(LEARNERS)}.")
    return [(name, factories[key]()) for key, name in LEARNERS.items() if key in chosen]


def load_split():
    """Digits, standardized, split 70/30 (stratified, seed 0): X_train, X_test, y_train, y_test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def run_demo(output=None, n_neighbors=3, learners=None, embedding_map="tsne", stream=_print):
    """Fit each learner on digits, print a line as each finishes and the table at the end,
    and save a 2-D map of each test embedding.

    Parameters
    ----------
    output : str or path-like, default=None
        Where to save the figure (any format matplotlib writes); None skips the figure.
    n_neighbors : int, default=3
    learners : sequence of str, default=None
        Keys of :data:`LEARNERS` to run; None runs all. The Euclidean baseline always runs.
    embedding_map : {'tsne', 'pca'}, default='tsne'
        How each map is drawn: t-SNE (who is whose neighbor, what kNN sees) of
        :data:`MAP_POINTS` test points, or the two principal axes of the whole test set.
    stream : callable, default=print (flushed)
        Receives each line of output.

    Returns
    -------
    rows : list of dict
        One per method: name, fit time (s), kNN accuracy, MAP@R on the test split, dims.
    """
    from sklearn.neighbors import KNeighborsClassifier

    from .metrics import map_at_r

    if embedding_map not in ("tsne", "pca"):
        raise ValueError(f"embedding_map must be 'tsne' or 'pca', got {embedding_map!r}.")
    methods = [(BASELINE, None)] + demo_learners(learners)
    X_train, X_test, y_train, y_test = load_split()
    stream(
        f"skdml demo: sklearn digits ({len(X_train)} train / {len(X_test)} test, "
        f"{X_train.shape[1]} features, {len(set(y_train))} classes), {n_neighbors}-NN on each "
        f"learned embedding; {len(methods) - 1} learners, a line as each finishes"
    )
    rows, embeddings = [], []
    width = max(len(name) for name, _ in methods)
    for i, (name, learner) in enumerate(methods, start=1):
        start = time.perf_counter()
        if learner is None:
            Z_train, Z_test = X_train, X_test
        else:
            learner.fit(X_train, y_train)
            Z_train, Z_test = learner.transform(X_train), learner.transform(X_test)
        fit_time = time.perf_counter() - start
        knn = KNeighborsClassifier(n_neighbors=n_neighbors).fit(Z_train, y_train)
        row = {
            "method": name,
            "fit_s": fit_time,
            "accuracy": knn.score(Z_test, y_test),
            "map_at_r": map_at_r(Z_test, y_test, X_ref=Z_train, y_ref=y_train),
            "dims": Z_train.shape[1],
        }
        rows.append(row)
        embeddings.append((name, Z_test))
        stream(f"[{i:>2}/{len(methods)}] {name:<{width}}  fit {fit_time:7.3f} s  "
               f"{n_neighbors}-NN accuracy {row['accuracy']:.4f} "
               f"({row['accuracy'] - rows[0]['accuracy']:+.4f} vs Euclidean)  "
               f"MAP@R {row['map_at_r']:.3f}")
    stream("")
    _print_table(rows, stream)
    if output is not None:
        start = time.perf_counter()
        how = (f"t-SNE of {MAP_POINTS} test points" if embedding_map == "tsne"
               else "the first two principal axes of the test set")
        stream(f"drawing {len(embeddings)} maps ({how}) ...")
        titles = [f"{name}\n{n_neighbors}-NN accuracy {row['accuracy']:.3f}"
                  for (name, _), row in zip(embeddings, rows)]
        maps, y_map = _maps_2d([Z for _, Z in embeddings], y_test, embedding_map)
        _save_figure(list(zip(titles, maps)), y_map, output, embedding_map)
        stream(f"2-D maps of the test embeddings saved to {output} "
               f"({time.perf_counter() - start:.1f} s)")
    return rows


def _maps_2d(Zs, y, method):
    """Each embedding in 2-D, and the labels of the points kept.

    'tsne' maps the same stratified :data:`MAP_POINTS` test points of every embedding with
    500 iterations, not sklearn's 1000: on digits the KL divergence ends within 5% of the
    1000-iteration one (0.61 against 0.59) at about 60% of the cost. 'pca' projects the
    whole test set on its two principal axes.
    """
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    if method == "pca":
        return [PCA(n_components=2, random_state=0).fit_transform(Z) for Z in Zs], y
    if len(y) > MAP_POINTS:
        keep, _ = train_test_split(np.arange(len(y)), train_size=MAP_POINTS, stratify=y,
                                   random_state=0)
        keep.sort()
        Zs, y = [Z[keep] for Z in Zs], y[keep]
    tsne = TSNE(n_components=2, perplexity=min(30.0, (len(y) - 1) / 3), init="pca",
                max_iter=500, random_state=0)
    # One thread: t-SNE's OpenMP loops on a busy machine run 5-10x slower on all cores.
    with threadpool_limits(limits=1):
        return [tsne.fit_transform(Z) for Z in Zs], y


def _print_table(rows, stream):
    base = rows[0]["accuracy"]
    width = max(len(r["method"]) for r in rows)
    stream(f"{'method':<{width}}  {'dims':>4}  {'fit (s)':>8}  {'kNN acc':>8}  "
           f"{'vs Eucl.':>8}  {'MAP@R':>6}")
    for r in rows:
        stream(f"{r['method']:<{width}}  {r['dims']:>4}  {r['fit_s']:>8.3f}  "
               f"{r['accuracy']:>8.4f}  {r['accuracy'] - base:>+8.4f}  {r['map_at_r']:>6.3f}")


def _save_figure(panels, y, output, method="tsne"):
    """One scatter per (title, 2-D embedding) panel, a shared legend, saved to ``output``;
    ``method`` ('tsne' or 'pca') names the maps in the figure's title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import plot_embedding

    n = len(panels)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols + 0.8, 3.8 * rows + 0.6),
                             squeeze=False, layout="constrained")
    for ax, (title, Z) in zip(axes.ravel(), panels):
        plot_embedding(Z, y, ax=ax)
        ax.set_title(title, fontsize="medium")
        ax.get_legend().remove()
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", title="digit", markerscale=2)
    what = "t-SNE maps: who is whose neighbor" if method == "tsne" else "first two principal axes"
    fig.suptitle(f"Digits test set in each learned space ({what})")
    fig.savefig(output, dpi=100)
    plt.close(fig)
