"""
Tuning a metric learner in a Pipeline with GridSearchCV
=======================================================

A metric learner is a scikit-learn transformer, so it sits in a ``Pipeline`` in front of a
``KNeighborsClassifier`` and its parameters are tuned like any other. Here we tune how many
PCA dimensions feed :class:`skdml.KISSME` together with the number of neighbors, and
compare with tuning for retrieval (MAP@R) via :func:`skdml.metrics.make_retrieval_scorer`.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from skdml import KISSME, PCA
from skdml.metrics import make_retrieval_scorer

X, y = load_digits(return_X_y=True)
cv = StratifiedKFold(3, shuffle=True, random_state=0)

pipe = Pipeline([
    ("pca", PCA(random_state=0)),
    ("kissme", KISSME()),
    ("knn", KNeighborsClassifier()),
])
grid = {"pca__n_components": [10, 20, 30, 40], "knn__n_neighbors": [1, 5]}
search = GridSearchCV(pipe, grid, cv=cv).fit(X, y)
print("best for kNN accuracy:", search.best_params_, f"{search.best_score_:.3f}")

# For retrieval, score the embedding itself (the pipeline without the classifier).
embed = Pipeline([("pca", PCA(random_state=0)), ("kissme", KISSME())])
retrieval = GridSearchCV(embed, {"pca__n_components": grid["pca__n_components"]},
                         scoring=make_retrieval_scorer("map_at_r"), cv=cv).fit(X, y)
print("best for MAP@R:", retrieval.best_params_, f"{retrieval.best_score_:.3f}")

results = search.cv_results_
fig, ax = plt.subplots(figsize=(6, 4))
for k in grid["knn__n_neighbors"]:
    mask = np.asarray(results["param_knn__n_neighbors"]) == k
    ax.plot(grid["pca__n_components"], results["mean_test_score"][mask], "o-",
            label=f"{k}-NN accuracy")
ax.plot(grid["pca__n_components"], retrieval.cv_results_["mean_test_score"], "s--",
        label="MAP@R of the embedding")
ax.set_xlabel("PCA dimensions before KISSME")
ax.set_ylabel("cross-validated score")
ax.legend()
plt.show()
