"""
Learned metric versus Euclidean distance
========================================

Wine has 13 features on very different scales (proline runs into the thousands, hue stays
near 1), so a Euclidean kNN listens to one or two of them. A learned Mahalanobis metric
reweights and rotates the features; here we compare the Euclidean space with the spaces
learned by :class:`skdml.Covariance` (unsupervised whitening) and :class:`skdml.LDA`
(supervised), by 3-NN accuracy on held-out samples and by a picture of each space.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from skdml import LDA, Covariance
from skdml.plotting import plot_embedding

X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, random_state=0,
                                                    stratify=y)

spaces = {"Euclidean": None, "Covariance": Covariance(), "LDA": LDA()}
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (name, learner) in zip(axes, spaces.items()):
    if learner is None:
        Z_train, Z_test = X_train, X_test
    else:
        learner.fit(X_train, y_train)
        Z_train, Z_test = learner.transform(X_train), learner.transform(X_test)
    accuracy = KNeighborsClassifier(3).fit(Z_train, y_train).score(Z_test, y_test)
    print(f"{name:>10}: 3-NN accuracy {accuracy:.3f}")
    plot_embedding(Z_test, y_test, ax=ax, title=f"{name} (3-NN acc. {accuracy:.2f})")
fig.tight_layout()
plt.show()
