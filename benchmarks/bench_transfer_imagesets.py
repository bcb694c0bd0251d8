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
halves of the digits (training and test sets share no image): 10 training sets and 30 test
sets per class, sizes 2..12, set-level blur and contrast, per-image noise; a second protocol
adds a set-level translation of up to one pixel (``max_shift=1``), a harder problem. The
figure is the accuracy of classifying the test sets. Papers' ordering: MMDML (one network
per class) beats a single shared network trained with the same loss, and the nearest
set-mean rule (Euclidean distance of set means, 1-NN over the training sets); we add the
nearest-vector rule (a set's mean distance to the nearest training vector of each class,
MMDML's set-to-manifold distance without networks), the ablations of MMDML's choices (its
intra-manifold neighbours from the whole class rather than from the class's other sets; the
smallest set-to-manifold distance instead of the margin decision; per-feature and centred
input scaling) and a capacity sweep (one hidden layer of 8 and 16 units).

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


def _set_baselines(train, y_train, test, y_test):
    """The set rules without learning: nearest set mean and nearest vector."""
    means = np.array([s.mean(0) for s in train])
    out = {"nearest set mean": KNeighborsClassifier(1).fit(means, y_train).score(
        np.array([s.mean(0) for s in test]), y_test)}
    pool, owner = np.vstack(train), np.repeat(y_train, [len(s) for s in train])
    classes = np.unique(y_train)
    dist = np.stack([[knn(s, pool[owner == c], k=1)[0].mean() for s in test]
                     for c in classes], axis=1)
    out["nearest vector, Euclidean"] = float(np.mean(classes[dist.argmin(1)] == y_test))
    return out


def image_set_data(seed, max_shift=0):
    X, y = load_digits(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.5, stratify=y, random_state=seed)
    train, y_train = make_digits_image_sets(Xa, ya, max_shift=max_shift, random_state=seed)
    test, y_test = make_digits_image_sets(Xb, yb, n_sets_per_class=30, max_shift=max_shift,
                                          random_state=seed + 100)
    return train, y_train, test, y_test


def image_set_run(seed, max_shift=0):
    """The baselines, the single network and MMDML with its ablations, at the defaults."""
    train, y_train, test, y_test = image_set_data(seed, max_shift)
    out = _set_baselines(train, y_train, test, y_test)
    out["single shared network (shared=True)"] = MMDML(shared=True, random_state=seed).fit(
        train, y_train).score(test, y_test)
    out["MMDML, intra neighbours from the whole class"] = MMDML(
        intra_neighbors="class", random_state=seed).fit(train, y_train).score(test, y_test)
    mmdml = MMDML(random_state=seed).fit(train, y_train)
    nearest = mmdml.classes_[mmdml.manifold_distances(test).argmin(1)]
    out["MMDML, smallest set-to-manifold distance"] = float(np.mean(nearest == y_test))
    out["MMDML"] = mmdml.score(test, y_test)
    return out


def image_set_capacity_run(seed, widths=((8,), (16,))):
    """MMDML against a single network of the same width, for narrow networks."""
    train, y_train, test, y_test = image_set_data(seed)
    out = {}
    for width in widths:
        for name, shared in (("MMDML", False), ("single shared network", True)):
            model = MMDML(hidden_sizes=width, shared=shared, random_state=seed)
            out[f"{name}, hidden_sizes={width}"] = model.fit(train, y_train).score(
                test, y_test)
    return out


def image_set_scaling_run(seed):
    """MMDML's one input scale against per-feature and centred scalings of the vectors."""
    train, y_train, test, y_test = image_set_data(seed)
    pool = np.vstack(train)
    mean, spread = pool.mean(0), pool.std(0)
    spread[spread == 0] = 1.0
    scalings = {
        "one scale (standardize=True, the default)": lambda s: s,
        "per feature: centred, unit variance": lambda s: (s - mean) / spread,
        "centred, one scale": lambda s: (s - mean) / np.sqrt(pool.var(0).mean()),
    }
    out = {}
    for name, scale in scalings.items():
        model = MMDML(standardize=name.startswith("one"), random_state=seed)
        out[name] = model.fit([scale(s) for s in train], y_train).score(
            [scale(s) for s in test], y_test)
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


def _ahead(runs, name, other):
    """``held`` (the mean of ``name`` above that of ``other``) and in how many seeds."""
    a, b = (np.array([r[key] for r in runs]) for key in (name, other))
    return {"held": "held" if a.mean() > b.mean() else "not held",
            "seeds ahead": f"{int(np.sum(a > b))} of {len(a)} ({int(np.sum(a == b))} tied)"}


def image_set_tables():
    protocols = [("image_sets_digits", "digits image sets", 0),
                 ("image_sets_shifted", "shifted by up to one pixel", 1)]
    ordering_rows = []
    for table, label, max_shift in protocols:
        start = time.perf_counter()
        runs = [image_set_run(s, max_shift) for s in SEEDS]
        rows, _ = summarize(runs, "nearest set mean")
        print(f"== Image sets ({label}): test-set classification accuracy, 300 test sets per "
              f"seed ({time.perf_counter() - start:.0f} s)")
        write_table(table, rows, ["method", "accuracy", "per seed", "/ nearest set mean"])
        for other in ("single shared network (shared=True)", "nearest set mean",
                      "nearest vector, Euclidean"):
            ordering_rows.append({"data": label, "ordering": f"MMDML > {other}",
                                  **_ahead(runs, "MMDML", other)})
    write_table("image_sets_orderings", ordering_rows,
                ["data", "ordering", "held", "seeds ahead"])

    start = time.perf_counter()
    rows, _ = summarize([image_set_capacity_run(s) for s in SEEDS],
                        "single shared network, hidden_sizes=(8,)")
    print("== Image sets: narrow networks, one per class or one for all "
          f"({time.perf_counter() - start:.0f} s)")
    write_table("image_sets_capacity", rows, ["method", "accuracy", "per seed"])

    start = time.perf_counter()
    rows, _ = summarize([image_set_scaling_run(s) for s in SEEDS],
                        "one scale (standardize=True, the default)")
    print(f"== Image sets: MMDML's input scaling ({time.perf_counter() - start:.0f} s)")
    write_table("image_sets_scaling", rows, ["method", "accuracy", "per seed"])


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

        image_set_tables()


if __name__ == "__main__":
    main()
