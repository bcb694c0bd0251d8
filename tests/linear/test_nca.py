"""NCA (skdml/linear/nca.py): quality on digits, in a grid search."""

from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from skdml.linear.nca import NCA

from .conftest import _knn_score


def test_nca_on_digits_beats_euclidean():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X[:400], y[:400], test_size=0.5,
                                              random_state=0, stratify=y[:400])
    nca = NCA(n_components=16, random_state=0).fit(X_tr, y_tr)
    learned = _knn_score(nca.transform(X_tr), y_tr, nca.transform(X_te), y_te)
    assert learned >= _knn_score(X_tr, y_tr, X_te, y_te) - 0.01
    assert learned >= 0.95


def test_grid_search_over_nca_pipeline():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(NCA(random_state=0, max_iter=30), KNeighborsClassifier(3))
    search = GridSearchCV(pipe, {"nca__n_components": [1, 2]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.9
