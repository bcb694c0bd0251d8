"""
Several views, few pairs: DDMML and MvDML against one network on the concatenation
===================================================================================

When each sample comes in several feature views -- a face as LBP, HOG and SIFT
descriptors, a digit as a thumbnail and projection profiles -- the usual approach is one
network on the concatenated features. :class:`skdml.deep.DDMML` and
:class:`skdml.deep.MvDML` give each view its own network and learn how to combine them.
With few training pairs this generalizes better: the single network on the concatenation
fits its training pairs and carries less over to new ones.

The views come from :func:`skdml.datasets.make_digits_views` (a 4 x 4 thumbnail, row and
column profiles, diagonal profiles), plus a weak fourth view (gradient-orientation
histograms). The learners train on 500 labelled pairs of one half of the digits and verify
2000 pairs of the other half; the right panel shows the view weights DDMML learned.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdml.datasets import make_digits_views, make_pairs
from skdml.deep import DDML, DDMML, MvDML
from skdml.plotting import plot_roc

views = ("pooled", "profiles", "diagonals", "gradients")
X, y, widths = make_digits_views(views=views)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y,
                                                    random_state=0)
pairs, labels = make_pairs(X_train, y_train, 500, random_state=0)
test_pairs, test_labels = make_pairs(X_test, y_test, 2000, random_state=1)

learners = {
    "DDML, concatenated views": DDML(hidden_sizes=(96, 32), random_state=0),
    "DDMML, one network a view": DDMML(views=widths, random_state=0),
    "MvDML, shared + individual": MvDML(views=widths, random_state=0),
}
fig, (ax_roc, ax_w) = plt.subplots(1, 2, figsize=(11, 5), width_ratios=(3, 2))
for name, learner in learners.items():
    learner.fit(pairs, labels)
    accuracy = learner.score(test_pairs, test_labels)
    plot_roc(test_labels, learner.decision_function(test_pairs), ax=ax_roc,
             name=f"{name} (accuracy {accuracy:.3f})")
scaler = StandardScaler().fit(X_train)  # the learners standardize their input inside
a, b = scaler.transform(test_pairs[:, 0]), scaler.transform(test_pairs[:, 1])
plot_roc(test_labels, -np.linalg.norm(a - b, axis=1), ax=ax_roc,
         name="Euclidean distance, standardized", linestyle=":")
ax_roc.set_title("Verification of new pairs (500 training pairs)")
ax_roc.legend(fontsize=7, loc="lower right")

ddmml = learners["DDMML, one network a view"]
ax_w.bar(views, ddmml.view_weights_, color="tab:orange")
ax_w.set_ylabel("DDMML view weight")
ax_w.set_title("The weak gradient view weighs least")
fig.tight_layout()
plt.show()
