"""kNN in a learned metric: ``metric=learner.get_metric()`` against the fast path, make_knn.

Protocol (../shared/ANCHORS.md): load_digits, StandardScaler, 70/30 stratified split
(random_state=0). Each learner is fitted once on the training split, untimed; then each way of
running a 3-NN classifier in its metric is timed on the same fitted learner, fit on the
training split plus predict on the test split:

- ``KNeighborsClassifier(3, metric=learner.get_metric())``: a Python call per pair of samples;
- ``make_knn(FrozenEstimator(learner), 3)`` (:func:`skdml.neighbors.make_knn`): embed once,
  then scikit-learn's compiled Euclidean search;
- for a Mahalanobis learner, also ``KNeighborsClassifier(3, metric="mahalanobis",
  metric_params={"VI": M})``: scikit-learn's compiled Mahalanobis distance, no embedding.

``time / fast`` is a row's time over make_knn's for the same learner; the accuracies must
agree (the same neighbours, up to ties). A hasher's ``get_metric()`` is slower still (it
encodes both samples at every call: about 6000 times make_knn's time for ITQ at 32 bits, near
5 minutes a run on digits, so it is left out); search its codes with
:class:`skdml.hashing.HammingNeighbors` or make_knn.

    .venv/bin/python benchmarks/bench_knn.py [--repeat 3] [--no-warmup]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _common import (  # noqa: E402
    digits_split, median_time, protocol_parser, start_run, thread_settings, write_table,
)


def main():
    from sklearn.frozen import FrozenEstimator
    from sklearn.neighbors import KNeighborsClassifier

    from skdml import LMNN, NCA
    from skdml.neighbors import make_knn

    args = protocol_parser(__doc__).parse_args()
    start_run(threads=args.threads, repeat=args.repeat, warmup=args.warmup)
    X_train, X_test, y_train, y_test = digits_split()

    def measure(knn):
        def run():
            return knn.fit(X_train, y_train).score(X_test, y_test)

        return median_time(run, args.repeat, args.warmup)

    rows = []
    with thread_settings(args.threads):
        learners = {
            "LMNN": LMNN(random_state=0),
            "NCA": NCA(random_state=0),
        }
        for name, learner in learners.items():
            learner.fit(X_train, y_train)
            ways = {
                "make_knn (transform + Euclidean kNN)":
                    make_knn(FrozenEstimator(learner), n_neighbors=3),
                "KNeighborsClassifier(metric=get_metric())":
                    KNeighborsClassifier(3, metric=learner.get_metric()),
            }
            if hasattr(learner, "get_mahalanobis_matrix"):
                ways["KNeighborsClassifier(metric='mahalanobis')"] = KNeighborsClassifier(
                    3, metric="mahalanobis",
                    metric_params={"VI": learner.get_mahalanobis_matrix()})
            fast_s = None
            for way, knn in ways.items():
                print(f"  {name}: {way} ...", flush=True)
                seconds, accuracy = measure(knn)
                fast_s = fast_s or seconds
                rows.append({"learner": name, "kNN": way, "fit+predict_s": seconds,
                             "accuracy": accuracy, "time / fast": seconds / fast_s})
    write_table("knn_fast_path", rows,
                ["learner", "kNN", "fit+predict_s", "accuracy", "time / fast"],
                note="3-NN on digits, fit on the training split and predict on the test split "
                "with one fitted learner; the learners' own fits are not timed.")


if __name__ == "__main__":
    main()
