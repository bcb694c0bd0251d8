"""
DDML: training curve and learned embedding
==========================================

:class:`skdml.DDML` (discriminative deep metric learning, Hu, Lu & Tan) trains a tanh
multilayer perceptron so that same-class pairs fall below a distance threshold and
different-class pairs above it. It is a scikit-learn transformer built on skorch: ``fit``
trains, ``transform`` embeds, and ``history`` holds the per-epoch losses, which
:func:`skdml.plotting.plot_training_history` draws. With a validation split, skorch also
records the validation loss.
"""

import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from skorch.dataset import ValidSplit

from skdml import DDML
from skdml.metrics import map_at_r, precision_at_k
from skdml.plotting import plot_embedding, plot_training_history

torch.set_num_threads(1)  # small network: one thread is fastest
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0,
                                                    stratify=y)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

ddml = DDML(max_epochs=30, train_split=ValidSplit(5, stratified=True), random_state=0)
ddml.fit(X_train, y_train)
Z_train, Z_test = ddml.transform(X_train), ddml.transform(X_test)
print(f"test queries against the training set: "
      f"P@1 {precision_at_k(Z_test, y_test, 1, X_ref=Z_train, y_ref=y_train):.3f}, "
      f"MAP@R {map_at_r(Z_test, y_test, X_ref=Z_train, y_ref=y_train):.3f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
plot_training_history(ddml.history, ax=left)
left.set_title("DDML loss per epoch")
plot_embedding(Z_test, y_test, ax=right, method="tsne", title="Test digits, DDML embedding")
fig.tight_layout()
plt.show()
