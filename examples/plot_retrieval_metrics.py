"""
Retrieval metrics: MAP@R, mAP, MRR, clustering scores, micro and macro averages
===============================================================================

Each query of a held-out set is ranked against a reference set by Euclidean distance in an
embedding, and the ranking is scored by the measures of :mod:`skdml.metrics`:

- precision@1 (the accuracy of a 1-NN classifier) and MRR look at the top of the ranking;
- MAP@R (Musgrave et al., 2020) at the first ``R`` references, ``R`` being the number of
  references of the query's class;
- mAP at the whole ranking (a relevant reference ranked last still counts a little);
- NMI and AMI score a k-means clustering of the embedding instead; AMI is corrected for
  chance.

The digits here are made imbalanced (the queries of four classes are thinned out), so the
``average='macro'`` figures, where every class weighs the same, differ from the default
``'micro'`` ones, the mean over queries. On both embeddings the top of the ranking is
good (LDA even loses a little at P@1), while MAP@R and mAP, which score where
the whole class ranks, rise sharply with LDA: a 1-NN accuracy alone would miss it.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdml import LDA
from skdml import metrics

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y,
                                                    random_state=0)
# Imbalanced queries: keep one in five test samples of the digits 0-3.
rng = np.random.default_rng(0)
keep = (y_test > 3) | (rng.random(len(y_test)) < 0.2)
X_query, y_query = X_test[keep], y_test[keep]

embeddings = {"Euclidean": lambda Z: Z, "LDA": LDA().fit(X_train, y_train).transform}
ranking = {
    "P@1": (metrics.precision_at_k, {}),
    "MRR": (metrics.mean_reciprocal_rank, {}),
    "MAP@R": (metrics.map_at_r, {}),
    "mAP": (metrics.mean_average_precision, {}),
}
clustering = {"NMI": metrics.nmi_kmeans, "AMI": metrics.ami_kmeans}

scores = {}
for name, embed in embeddings.items():
    Q, R = embed(X_query), embed(X_train)
    for metric, (function, kwargs) in ranking.items():
        for average in ("micro", "macro"):
            scores[name, metric, average] = function(Q, y_query, X_ref=R, y_ref=y_train,
                                                     average=average)
    for metric, function in clustering.items():
        scores[name, metric, None] = function(Q, y_query, random_state=0)

for (name, metric, average), value in scores.items():
    print(f"{name:>9}  {metric:>5}  {average or '':>5}  {value:.3f}")

# %%
# The ranking metrics, micro (solid) and macro (hatched), and the clustering scores.
labels = list(ranking) + list(clustering)
x = np.arange(len(labels))
fig, ax = plt.subplots(figsize=(7, 3.5))
for i, name in enumerate(embeddings):
    micro = [scores.get((name, m, "micro"), scores.get((name, m, None))) for m in labels]
    macro = [scores.get((name, m, "macro"), np.nan) for m in labels]
    ax.bar(x + (2 * i - 1.5) * 0.2, micro, 0.2, label=f"{name}, micro", color=f"C{i}")
    ax.bar(x + (2 * i - 0.5) * 0.2, macro, 0.2, label=f"{name}, macro", color=f"C{i}",
           alpha=0.5, hatch="//")
ax.set_xticks(x, labels)
ax.set_ylim(0, 1)
ax.set_ylabel("score (higher is better)")
ax.legend(ncol=4, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1))
fig.tight_layout()
plt.show()
