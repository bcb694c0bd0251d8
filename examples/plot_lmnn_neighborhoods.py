"""
LMNN: neighborhoods before and after
====================================

:class:`skdml.LMNN` learns a linear map under which each sample's nearest neighbors share
its class, with a margin to the samples of other classes. Here it maps the 13 wine features
to two dimensions, so we can look at the learned space directly: every sample is joined to
its three nearest neighbors, in gray when the neighbor has the same class and in red when
it does not. Before learning (left, the first two principal axes of the standardized
features) many neighborhoods mix classes; after LMNN (right) almost none do.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler

from skdml import LMNN, PCA
from skdml.kernels import knn

X, y = load_wine(return_X_y=True)
X = StandardScaler().fit_transform(X)

spaces = {
    "Euclidean (first two principal axes)": PCA(n_components=2).fit(X).transform(X),
    "LMNN, 2 components": LMNN(n_neighbors=3, n_components=2, random_state=0)
    .fit(X, y).transform(X),
}
fig, axes = plt.subplots(1, 2, figsize=(11, 5))
for ax, (title, Z) in zip(axes, spaces.items()):
    _, neighbors = knn(Z, k=3, exclude_self=True)
    impure = 0
    for i, row in enumerate(neighbors):
        for j in row:
            same = y[i] == y[j]
            impure += not same
            ax.plot(*Z[[i, j]].T, color="0.8" if same else "tab:red",
                    linewidth=0.6 if same else 1.2, zorder=1)
    for label in np.unique(y):
        ax.scatter(*Z[y == label].T, s=14, zorder=2, label=f"class {label}")
    ax.set_title(f"{title}\n{impure} of {neighbors.size} neighbor links cross classes")
    ax.set_xticks([])
    ax.set_yticks([])
axes[0].legend(loc="best", fontsize="small")
fig.tight_layout()
plt.show()
