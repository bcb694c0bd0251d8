"""
Pair verification with KISSME
=============================

Verification data -- faces, kinship, person re-identification -- usually comes as pairs
labeled "same" (+1) or "different" (-1). :class:`skdml.KISSME` learns a metric directly from
such pairs, calibrates a distance threshold, and then answers "same or not?" for new pairs.

Here the pairs are built from digits: two images of the same digit are a similar pair.
We fit on training pairs, calibrate the threshold on validation pairs, and compare the ROC
curve of the learned distance with that of the Euclidean distance on test pairs.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_curve
from sklearn.model_selection import train_test_split

from skdml import KISSME, PCA
from skdml.constraints import pairs_from_labels
from skdml.metrics import equal_error_rate, verification_roc_auc

X, y = load_digits(return_X_y=True)
X_fit, X_test, y_fit, y_test = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)

# Reduce to 30 dimensions first (as the KISSME paper does), learned on the training images.
pca = PCA(n_components=30, random_state=0).fit(X_fit)
Z_fit, Z_test = pca.transform(X_fit), pca.transform(X_test)

train_idx, train_labels = pairs_from_labels(y_fit, 4000, random_state=0)
val_idx, val_labels = pairs_from_labels(y_fit, 1000, random_state=1)
test_idx, test_labels = pairs_from_labels(y_test, 2000, random_state=2)

kissme = KISSME().fit(train_idx, train_labels, preprocessor=Z_fit)
kissme.calibrate_threshold(val_idx, val_labels, preprocessor=Z_fit)
print(f"verification accuracy on test pairs: "
      f"{kissme.score(test_idx, test_labels, preprocessor=Z_test):.3f}")

curves = {
    "Euclidean (PCA 30)": np.linalg.norm(Z_test[test_idx[:, 0]] - Z_test[test_idx[:, 1]], axis=1),
    "KISSME": kissme.pair_distance(test_idx, preprocessor=Z_test),
}
fig, ax = plt.subplots(figsize=(5, 5))
for name, distances in curves.items():
    fpr, tpr, _ = roc_curve(test_labels == 1, -distances)
    auc = verification_roc_auc(test_labels, distances)
    eer = equal_error_rate(test_labels, distances)
    print(f"{name:>20}: ROC AUC {auc:.3f}, EER {eer:.3f}")
    ax.plot(fpr, tpr, label=f"{name}: AUC {auc:.3f}, EER {eer:.3f}")
ax.plot([0, 1], [0, 1], ":", color="gray")
ax.set_xlabel("false positive rate")
ax.set_ylabel("true positive rate")
ax.set_title("Digit pairs: same digit or not?")
ax.legend(loc="lower right")
plt.show()
