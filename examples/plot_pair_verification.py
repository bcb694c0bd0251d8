"""
Pair verification with ITML and KISSME
======================================

Verification data -- faces, kinship, person re-identification -- usually comes as pairs
labeled "same" (+1) or "different" (-1). :class:`skdml.ITML` and :class:`skdml.KISSME`
learn a metric directly from such pairs, calibrate a distance threshold, and then answer
"same or not?" for new pairs.

Here the pairs are built from digits with :func:`skdml.datasets.make_pairs`: two images of
the same digit are a similar pair. The samples are split first, so no test image was seen
in training. We fit on training pairs, calibrate the threshold on validation pairs, and
compare the ROC and DET curves (scikit-learn's displays) of the learned metrics with the
Euclidean distance on test pairs.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdml import ITML, KISSME, PCA
from skdml.datasets import make_pairs
from skdml.plotting import plot_det, plot_roc

X, y = load_digits(return_X_y=True)
X_fit, X_test, y_fit, y_test = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_fit)
X_fit, X_test = scaler.transform(X_fit), scaler.transform(X_test)

train_idx, train_labels = make_pairs(X_fit, y_fit, 3000, return_indices=True, random_state=0)
val_idx, val_labels = make_pairs(X_fit, y_fit, 1000, return_indices=True, random_state=1)
test_idx, test_labels = make_pairs(X_test, y_test, 2000, return_indices=True, random_state=2)

# KISSME works on a reduced space, as in its paper: 30 PCA dimensions learned on X_fit.
pca = PCA(n_components=30, random_state=0).fit(X_fit)
learners = {
    "ITML": (ITML(random_state=0), X_fit, X_test),
    "KISSME (PCA 30)": (KISSME(), pca.transform(X_fit), pca.transform(X_test)),
}

# Curves take scores, higher for pairs more likely similar (scikit-learn's convention): a
# learner's decision_function, or minus a distance.
fig, (ax_roc, ax_det) = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
euclid = np.linalg.norm(X_test[test_idx[:, 0]] - X_test[test_idx[:, 1]], axis=1)
for ax, plot in ((ax_roc, plot_roc), (ax_det, plot_det)):
    plot(test_labels, -euclid, ax=ax, name="Euclidean", color="gray")
for name, (learner, Z_fit, Z_test) in learners.items():
    learner.fit(train_idx, train_labels, preprocessor=Z_fit)
    learner.calibrate_threshold(val_idx, val_labels, preprocessor=Z_fit)
    accuracy = learner.score(test_idx, test_labels, preprocessor=Z_test)
    print(f"{name:>16}: verification accuracy on test pairs {accuracy:.3f}")
    scores = learner.decision_function(test_idx, preprocessor=Z_test)
    plot_roc(test_labels, scores, ax=ax_roc, name=name)
    plot_det(test_labels, scores, ax=ax_det, name=name)
ax_roc.set_title("ROC: same digit or not?")
ax_det.set_title("DET, with the equal error rate")
plt.show()
