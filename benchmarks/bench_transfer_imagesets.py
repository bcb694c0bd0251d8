"""Transfer (DTML, DSTML) and image sets (MMDML) on digits: do the papers' orderings hold?

Transfer, after Hu, Lu & Tan (CVPR 2015 / TIP 2016). Data: ``make_digits_domain_shift``
(source: half the digits; target: the other half blurred, contrast-changed and noised), as
pixels: the learners standardize their input themselves, with the statistics of source and
target together (the target is unlabeled but available, as in the papers). Each learner
trains at its defaults on the labeled source plus the unlabeled target (``y == -1``); the
figure is the 3-NN accuracy of the target samples classified against the labeled source,
both embedded (Euclidean: on the pixels, and on the pixels standardized as the learners
see them). Papers' ordering: DSTML >= DTML > DTML with beta=0 > Euclidean; beside it, the
ablations that explain the defaults: DSTML without its hidden-layer term (``omega=0``,
DTML on DSTML's two-layer network) and with the paper's threshold ``tau=0``. 3 seeds.

Image sets, after Lu et al. (CVPR 2015). Data: ``make_digits_image_sets`` on two disjoint
halves of the digits (training and test sets share no image), 10 sets per class each, sizes
2..12, set-level blur and contrast, per-image noise; intensities scaled to [0, 1]. The
figure is the accuracy of classifying the test sets. Papers' ordering: MMDML (one network
per class) beats a single shared network trained with the same loss, and the nearest
set-mean rule (Euclidean distance of set means, 1-NN over the training sets).

Every figure is the mean +- std over 5 seeds, 3 for transfer (the data and the networks
both reseeded).
Every contender runs on the same threads (``--threads``, default 1: torch, BLAS/OpenMP and
numba; numba's OpenMP workers, once started, spin and slow torch's training in the same
process on a 2-core machine). No peer: neither metric-learn nor the other peers of
.venv-peers have a transfer or image-set learner, so the baselines above, measured in this
run, stand in; the ratio column is ours over the Euclidean / set-mean baseline.

    .venv/bin/python benchmarks/bench_transfer_imagesets.py [--threads 1] \
        [--part {all,transfer,image-sets}]
"""

import time
import warnings

import numpy as np
from _common import knn_accuracy, protocol_parser, start_run, thread_settings, write_table
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skdml._datasets_deep import make_digits_domain_shift, make_digits_image_sets
from skdml.deep.dtml import DSTML, DTML
from skdml.deep.mmdml import MMDML
from skdml.kernels import knn

SEEDS = range(5)
TRANSFER_SEEDS = range(3)
#: the name of DSTML without its hidden-layer term: DTML on DSTML's two-layer network
DSTML_OFF = "DSTML, no hidden-layer term (omega=0)"


def transfer_run(seed):
    Xs, ys, Xt, yt = make_digits_domain_shift(random_state=seed)
    X = np.vstack([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    scaler = StandardScaler().fit(X)  # what the learners do inside
    out = {"Euclidean": knn_accuracy(Xs, ys, Xt, yt),
           "Euclidean, standardized": knn_accuracy(scaler.transform(Xs), ys,
                                                   scaler.transform(Xt), yt)}
    models = {  # defaults: DTML one tanh layer (128,), DSTML two (128, 64)
        "DTML beta=0 (no transfer)": DTML(beta=0.0),
        "DTML": DTML(),
        DSTML_OFF: DSTML(omega=0.0),
        "DSTML, paper's threshold tau=0": DSTML(tau=0.0),
        "DSTML": DSTML(),
    }
    for name, model in models.items():
        model.set_params(random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        out[name] = knn_accuracy(model.transform(Xs), ys, model.transform(Xt), yt)
    return out


def image_set_run(seed):
    X, y = load_digits(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.5, stratify=y, random_state=seed)
    train, y_train = make_digits_image_sets(Xa, ya, random_state=seed)
    test, y_test = make_digits_image_sets(Xb, yb, random_state=seed + 100)
    train, test = [s / 16 for s in train], [s / 16 for s in test]
    means = np.array([s.mean(0) for s in train])
    out = {
        "nearest set mean": KNeighborsClassifier(1).fit(means, y_train).score(
            np.array([s.mean(0) for s in test]), y_test),
    }
    # Euclidean nearest manifold: MMDML's decision rule without any network
    pool, owner = np.vstack(train), np.repeat(y_train, [len(s) for s in train])
    dist = np.stack([[knn(s, pool[owner == c], k=1)[0].mean() for s in test]
                     for c in range(10)], axis=1)
    out["nearest manifold, Euclidean"] = float(np.mean(dist.argmin(1) == y_test))
    out["single shared network"] = MMDML(shared=True, random_state=seed).fit(
        train, y_train).score(test, y_test)
    out["MMDML (a network per class)"] = MMDML(random_state=seed).fit(
        train, y_train).score(test, y_test)
    return out


def summarize(runs, baseline):
    rows = []
    base = np.mean([r[baseline] for r in runs])
    for name in runs[0]:
        vals = np.array([r[name] for r in runs])
        rows.append({"method": name, "accuracy": f"{vals.mean():.3f} +- {vals.std():.3f}",
                     "per seed": " ".join(f"{v:.3f}" for v in vals),
                     f"/ {baseline}": round(vals.mean() / base, 3)})
    return rows, {name: np.mean([r[name] for r in runs]) for name in runs[0]}


def orderings(checks):
    return [{"ordering": label, "held": "held" if holds else "not held"}
            for label, holds in checks]


def transfer_tables():
    """The transfer tables: DTML and DSTML at their defaults, the ablations, the
    baselines (``TRANSFER_SEEDS``)."""
    start = time.perf_counter()
    runs = [transfer_run(s) for s in TRANSFER_SEEDS]
    rows, m = summarize(runs, "Euclidean")
    print("== Transfer: target-domain 3-NN accuracy, digits -> blurred/contrast/noised "
          f"digits ({time.perf_counter() - start:.0f} s)")
    write_table("transfer_digits", rows, ["method", "accuracy", "per seed", "/ Euclidean"])
    write_table("transfer_orderings", orderings([
        ("DTML > DTML beta=0", m["DTML"] > m["DTML beta=0 (no transfer)"]),
        ("DTML beta=0 > Euclidean", m["DTML beta=0 (no transfer)"] > m["Euclidean"]),
        ("DTML > Euclidean", m["DTML"] > m["Euclidean"]),
        ("DTML > Euclidean, standardized", m["DTML"] > m["Euclidean, standardized"]),
        ("DSTML > DSTML without its hidden-layer term", m["DSTML"] > m[DSTML_OFF]),
        ("DSTML >= DTML (two layers against one)", m["DSTML"] >= m["DTML"]),
    ]), ["ordering", "held"])


def main():
    parser = protocol_parser(__doc__, repeat=1, warmup=False)
    parser.add_argument("--part", choices=["all", "transfer", "image-sets"], default="all",
                        help="run the transfer tables, the image-set tables or both "
                        "(default: %(default)s)")
    args = parser.parse_args()
    start_run(threads=args.threads, repeat=None, extra=[
        "no peer: no transfer or image-set learner in metric-learn, faiss or scikit-learn; "
        "the baselines are measured in this run"])
    with thread_settings(args.threads):
        if args.part != "image-sets":
            transfer_tables()
        if args.part == "transfer":
            return

        start = time.perf_counter()
        runs = [image_set_run(s) for s in SEEDS]
        rows, m = summarize(runs, "nearest set mean")
        print("== Image sets: test-set classification accuracy, 100 test sets per seed "
              f"({time.perf_counter() - start:.0f} s)")
        write_table("image_sets_digits", rows,
                    ["method", "accuracy", "per seed", "/ nearest set mean"])
        mmdml = m["MMDML (a network per class)"]
        write_table("image_sets_orderings", orderings([
            ("MMDML > single shared network", mmdml > m["single shared network"]),
            ("MMDML > nearest set mean", mmdml > m["nearest set mean"]),
        ]), ["ordering", "held"])


if __name__ == "__main__":
    main()
