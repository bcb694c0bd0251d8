"""
LMNN on dense data: which impostors count
=========================================

LMNN's push term is a hinge loss on the *impostors* of each sample: the samples of other
classes that come within a unit margin of its target neighbors. In the paper's objective
every such impostor counts. Their number per sample grows with the density of the data, so
when classes overlap, the samples of the overlap pay for more and more of them as the
training set grows, the push term outweighs the pull term, and the learned metric's gain
over the Euclidean distance fades. Counting only each sample's few nearest impostors (as
mlpack's LMNN does; ``n_impostors``, the default of the minibatch solver) keeps the push
term the same size at any number of samples.

Here ten classes of two clusters each live in 10 informative and 10 noise dimensions. For
growing training sets we fit :class:`skdml.LMNN` with ``solver='sgd'`` and its default
``n_impostors='auto'`` (each sample's 3 nearest impostors among the step's reference
samples), and with ``n_impostors=None`` (every impostor: the paper's objective), and score
3-NN on the same held-out samples (past 10,000 samples ``n_passes='auto'`` runs several
target-neighbor passes, for both). The gain of the paper's objective over the Euclidean
distance shrinks as the training set grows; the nearest impostors keep it.
"""

import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import make_classification
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skdml import LMNN

X, y = make_classification(n_samples=22_000, n_features=20, n_informative=10,
                           n_redundant=0, n_classes=10, n_clusters_per_class=2,
                           class_sep=2.0, random_state=0)
X = StandardScaler().fit_transform(X)
X_test, y_test, X_pool, y_pool = X[:2000], y[:2000], X[2000:], y[2000:]


def knn_accuracy(Z_train, y_train, Z_test):
    return KNeighborsClassifier(n_neighbors=3).fit(Z_train, y_train).score(Z_test, y_test)


sizes = [1000, 3000, 10_000, 20_000]
curves = {"Euclidean": [], "LMNN sgd, n_impostors='auto'": [],
          "LMNN sgd, n_impostors=None": []}
for n in sizes:
    X_train, y_train = X_pool[:n], y_pool[:n]
    curves["Euclidean"].append(knn_accuracy(X_train, y_train, X_test))
    for n_impostors in ["auto", None]:
        lmnn = LMNN(solver="sgd", n_impostors=n_impostors, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a pass may stop on max_iter; not the point here
            lmnn.fit(X_train, y_train)
        curves[f"LMNN sgd, n_impostors={n_impostors!r}"].append(
            knn_accuracy(lmnn.transform(X_train), y_train, lmnn.transform(X_test)))

fig, ax = plt.subplots(figsize=(7, 4.5))
for (label, scores), marker in zip(curves.items(), "os^"):
    ax.plot(sizes, scores, marker=marker, label=label)
    print(label, " ".join(f"{s:.3f}" for s in scores))
ax.set_xscale("log")
ax.set_xlabel("training samples")
ax.set_ylabel("3-NN accuracy on 2,000 held-out samples")
ax.set_title("LMNN on overlapping classes: all impostors vs the nearest")
ax.legend()
fig.tight_layout()
plt.show()
