"""The tutorial's remaining deep metric learners, each against what a user has today (#21).

One part per method (``--part NAME``, repeatable; default: every part). Each part states its
protocol in its docstring, gives every contender the same data, split, network size, epochs,
threads and scorer, reports mean +- std over 3 seeds, and checks the ordering its paper
claims; where that ordering does not hold, the part's note says so and the docs page says why.

- ``multiview``: DDMML and MvDML against DDML on the concatenated views (digits in several
  feature views), pair verification accuracy and 3-NN accuracy.
- ``odl``: ODL against ``LogRatioLearner`` and MLKR, MAE of kNN regression in the embedding
  (diabetes; the digit value of digits as an ordinal label).
- ``lsdml``: LSDML and M-LSDML against ``LogRatioLearner`` and MLKR on the same ordinal
  tasks.
- ``dlml``: DLML against ``DeepMetricLearner`` with the same network and loss.
- ``ecn``: ECN against DTML and raw Euclidean distance on the digits domain shift's target.
- ``siamese``: the Siamese lecture's pair losses in their exact form -- the plain-distance
  contrastive loss and the distance-based logistic (DBL) loss -- beside Hadsell et al.'s
  squared contrastive loss and DDML's generalized logistic loss, on the verification protocol
  of ``bench_deep_pairs.py``.

No peer: no metric learning library implements these methods, so each is compared with its
own baselines measured in the same run. Every contender runs on the same threads
(``--threads``, default 1: torch, BLAS/OpenMP and numba).

    .venv/bin/python benchmarks/bench_seed_learners.py [--threads 1] [--part NAME ...]
"""

import time

import numpy as np
from _common import run_parts, write_table

SEEDS = (0, 1, 2)


def mean_std(values):
    return f"{np.mean(values):.3f} +- {np.std(values):.3f}"


# Each part is a function ``part_<name>()`` defined below and registered in PARTS.


SIAMESE_FOLDS = 5


def part_siamese():
    """Pair losses of the Siamese lecture, each trained by the same pair learner.

    Protocol of ``bench_deep_pairs.py``: standardized digits, 6000 index pairs in 10
    sample-disjoint folds (``make_pairs``, seed 0), fitted on nine folds' pairs, scored on the
    tenth (accuracy at the threshold calibrated on the training pairs, ROC AUC of the
    decision function); the first five folds. Every loss trains the same learner,
    ``SiameseNetwork`` (DDML's pair API on the template) around the same tanh MLP
    64-128-64, Adam lr 1e-3, 30 epochs, batches of 128 pairs, margin 1 -- only the loss
    differs. The lecture's claim (Vo & Hays,
    ECCV 2016): a Siamese network trained with the DBL loss beats the same network trained
    with the contrastive loss.
    """
    from bench_deep_pairs import Euclidean, digits_pairs, evaluate

    from skdml.deep import ContrastiveLoss, DDML, DistanceLogisticLoss, SiameseNetwork

    def siamese(loss):
        return lambda: SiameseNetwork(module__hidden_sizes=(128, 64), module__activation="tanh",
                                      loss=loss, random_state=0)

    X, idx, labels, folds = digits_pairs()
    contenders = [
        ("Euclidean distance", Euclidean),
        ("contrastive, plain distance (lecture)", siamese(ContrastiveLoss(power=1))),
        ("contrastive, squared (Hadsell et al.)", siamese(ContrastiveLoss(power=2))),
        ("DBL (Vo & Hays)", siamese(DistanceLogisticLoss())),
        ("DDML (generalized logistic, tau 3)", lambda: DDML(random_state=0)),
    ]
    rows, results = [], {}
    for name, make in contenders:
        accuracy, auc, seconds = evaluate(make, X, idx, labels, folds, SIAMESE_FOLDS)
        results[name] = accuracy
        rows.append({"loss": name, "accuracy": mean_std(accuracy), "ROC AUC": mean_std(auc),
                     "s/fit": seconds})
        print(rows[-1], flush=True)
    dbl, plain = results["DBL (Vo & Hays)"], results["contrastive, plain distance (lecture)"]
    claim = (f"DBL above the plain contrastive loss on {int(np.sum(dbl > plain))} of "
             f"{SIAMESE_FOLDS} folds (accuracy {dbl.mean():.4f} vs {plain.mean():.4f})")
    print(claim)
    write_table("seed_siamese", rows, ["loss", "accuracy", "ROC AUC", "s/fit"],
                note=f"mean +- std over the first {SIAMESE_FOLDS} of 10 folds; {claim}")


MULTIVIEW_PAIRS = (4000, 500)
MULTIVIEW_TEST_PAIRS = 4000


def _multiview_run(views, n_pairs, contenders, seed):
    """One seed of the multi-view protocol: each contender fitted on the same training
    pairs (index pairs into the training half) and scored on the same test pairs and by
    the same 3-NN; returns ``{name: (accuracy, ROC AUC, 3-NN accuracy, accuracy on the
    training pairs, seconds, model)}``."""
    import warnings

    from _common import knn_accuracy
    from bench_deep_pairs import Euclidean
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from skdml.datasets import make_digits_views, make_pairs
    from skdml.metrics import verification_roc_auc

    X, y, widths = make_digits_views(views)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y,
                                                        random_state=seed)
    train, train_labels = make_pairs(X_train, y_train, n_pairs, return_indices=True,
                                     random_state=seed)
    test, test_labels = make_pairs(X_test, y_test, MULTIVIEW_TEST_PAIRS,
                                   return_indices=True, random_state=seed + 100)
    edges = np.cumsum((0,) + widths)
    out = {}
    for name, make, cols in contenders(widths, edges, seed):
        A, B = X_train[:, cols], X_test[:, cols]
        start = time.perf_counter()
        if make is None:  # Euclidean distance on the standardized views
            scaler = StandardScaler().fit(A)
            A, B = scaler.transform(A), scaler.transform(B)
            model = Euclidean().fit(train, train_labels, preprocessor=A)
            Z_train, Z_test = A, B
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = make().fit(train, train_labels, preprocessor=A)
            Z_train, Z_test = model.transform(A), model.transform(B)
        seconds = time.perf_counter() - start
        accuracy = model.score(test, test_labels, preprocessor=B)
        auc = verification_roc_auc(test_labels, model.decision_function(test, preprocessor=B))
        knn = knn_accuracy(Z_train, y_train, Z_test, y_test)
        fitted = model.score(train, train_labels, preprocessor=A)
        out[name] = (accuracy, auc, knn, fitted, seconds, model)
    return out


def _n_parameters(model):
    return "" if not hasattr(model, "module_") else sum(
        p.numel() for p in model.module_.parameters())


def part_multiview():
    """DDMML and MvDML against DDML on the concatenated views and on each view alone.

    Data: ``make_digits_views()``, the 1797 digits under three views computed from the
    same image (4 x 4 thumbnail, row and column profiles, diagonal profiles: 16, 16 and 30
    features). Per seed: a stratified half of the digits for training, the other for test;
    ``n_pairs`` training pairs among the training digits and 4000 test pairs among the
    test digits (``make_pairs``, half similar). Every learner is fitted on the training
    pairs (the papers' supervision) for 30 epochs of batches of 128 pairs, Adam lr 1e-3,
    weight decay 1e-4, tanh networks: DDMML and MvDML one 64-32 network per view (MvDML
    individual and common projections of 16), DDML on the concatenated views with the same
    units (192-96: three times the weights, as its first layer sees every view) and with
    about as many weights (64-96), DDML on a single view 64-32. Scores: verification
    accuracy on the test pairs at the threshold calibrated on the training pairs (and on
    the training pairs themselves: the gap is the overfitting), ROC AUC on the test pairs,
    and 3-NN accuracy of the test digits among the training digits in the embedding.
    Claims of the papers (Lu et al. TIP 2017, Hu et al. TPAMI 2018): the multi-view
    learner beats DDML on the concatenated features, which beats DDML on any single
    view. Checked at 4000 and at 500 training pairs, then with a fourth, weak view
    (gradient orientation histograms, 32 features, 0.56 for a 3-NN alone) at 4000 pairs.
    """
    from skdml.deep import DDML
    from skdml.deep.ddmml import DDMML
    from skdml.deep.mvdml import MvDML

    def contenders(single_views):
        def make(widths, edges, seed):
            k, everything = len(widths), slice(None)
            yield "Euclidean (standardized)", None, everything
            for v, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
                if v in single_views:
                    yield (f"DDML, view {v + 1} alone ({b - a})",
                           lambda: DDML(hidden_sizes=(64, 32), random_state=seed),
                           slice(a, b))
            for sizes in ((64 * k, 32 * k), (64, 32 * k)):
                yield (f"DDML, views concatenated ({sizes[0]}-{sizes[1]})",
                       lambda sizes=sizes: DDML(hidden_sizes=sizes, random_state=seed),
                       everything)
            yield "DDMML", lambda: DDMML(views=widths, random_state=seed), everything
            yield "MvDML", lambda: MvDML(views=widths, random_state=seed), everything
        return make

    columns = ["learner", "verification accuracy", "on the training pairs", "ROC AUC",
               "3-NN accuracy", "weights", "s/fit"]
    claims = []
    # the weak-view table repeats only the new view alone: the others are the first table's
    for views, n_pairs_list, single_views, table in [
            (("pooled", "profiles", "diagonals"), MULTIVIEW_PAIRS, (0, 1, 2),
             "seed_multiview"),
            (("pooled", "profiles", "diagonals", "gradients"), MULTIVIEW_PAIRS[:1], (3,),
             "seed_multiview_weak")]:
        rows = []
        for n_pairs in n_pairs_list:
            runs = [_multiview_run(views, n_pairs, contenders(single_views), seed)
                    for seed in SEEDS]
            names = list(runs[0])
            scores = {n: np.array([[r[n][i] for r in runs] for i in range(5)]) for n in names}
            for name in names:
                accuracy, auc, knn, fitted, seconds = scores[name]
                model = runs[0][name][5]
                weights = _n_parameters(model)
                if name == "DDMML":
                    weights = f"{weights}, alpha " + " / ".join(f"{a:.2f}" for a in np.mean(
                        [r[name][5].view_weights_ for r in runs], axis=0))
                rows.append({"learner": f"{name}, {n_pairs} pairs",
                             "verification accuracy": mean_std(accuracy),
                             "on the training pairs": mean_std(fitted),
                             "ROC AUC": mean_std(auc), "3-NN accuracy": mean_std(knn),
                             "weights": weights, "s/fit": float(np.median(seconds))})
                print(rows[-1], flush=True)
            for concat in (n for n in names if n.startswith("DDML, views concatenated")):
                other = scores[concat]
                for name in ("DDMML", "MvDML"):
                    ours = scores[name]
                    claims.append(
                        f"{len(views)} views, {n_pairs} pairs: {name} above "
                        f"{concat.removeprefix('DDML, views ')} in verification accuracy on "
                        f"{int(np.sum(ours[0] > other[0]))} of {len(SEEDS)} seeds "
                        f"({ours[0].mean():.3f} vs {other[0].mean():.3f}), in ROC AUC on "
                        f"{int(np.sum(ours[1] > other[1]))} ({ours[1].mean():.3f} vs "
                        f"{other[1].mean():.3f})")
                    print(claims[-1], flush=True)
        write_table(table, rows, columns,
                    note=f"mean +- std over seeds {SEEDS}; weights: the network's number of "
                         "weights (DDMML: and its mean view weights alpha); "
                         + "; ".join(c for c in claims if c.startswith(f"{len(views)} views")))


ODL_DEEP = {"module__hidden_sizes": (128, 64), "max_epochs": 30}
#: diabetes is small and noisy: the spread between seeds (splits and networks) is larger
#: than the differences between the contenders, which 3 seeds do not resolve; its fits are
#: cheap, so it runs 10
ODL_SEEDS = {"diabetes": tuple(range(10)), "digits": SEEDS}


def _odl_task(name, seed):
    """An ordinal task, split 70/30 by ``seed`` and standardized with the training
    samples' statistics: diabetes' disease-progression score (continuous) or the value of
    each digit of digits (0-9, an ordinal label)."""
    from sklearn.datasets import load_diabetes, load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    loader = {"diabetes": load_diabetes, "digits": load_digits}[name]
    X, y = loader(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y.astype(np.float64), test_size=0.3,
                                              random_state=seed)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def part_odl():
    """ODL against the learners a user has for an ordered target, kNN regression MAE.

    Data: diabetes (442 samples, 10 features, its continuous target) and digits (1797
    samples, 64 pixels, the digit value 0-9 as an ordinal label), each split 70/30 by the
    seed and standardized with the training statistics (the deep learners standardize
    inside as well, which then changes nothing). Scorer: the mean absolute error of
    5-nearest-neighbour regression (``KNeighborsRegressor(n_neighbors=5)``) of the test
    samples on the embedded training samples; every contender is fitted on the training
    part only. Contenders: Euclidean distance on the standardized features; MLKR at its
    defaults; ``LogRatioLearner`` and ODL on the same tanh MLP (features-128-64), 30 epochs,
    each at its own defaults otherwise (LogRatio: nearest-label batches of 60, lr 1e-3;
    ODL: random batches of 32, lr 2e-3); ODL without its cross-entropy ranker (ODFL) and
    without its ordinal term J1; ODL trained for 100 epochs (J1 is slow to learn, see
    ``_odl_why``); LogRatio on random batches of 60 (the control for its sampler); and ODL's own ranker as a predictor (the level it gives, mapped to the mean
    training target of that level, ``level_values_``). Seeds (split and network): 0-9 on
    diabetes, whose spread 3 seeds do not resolve (``ODL_SEEDS``), 0-2 on digits.
    The paper's claim (Liu et al., TCSVT 2018): ODL estimates the target better than
    metric-learning and regression baselines.
    """
    from skdml.deep._ordinal_targets import knn_regression_mae
    from skdml.deep._pairs import PairBatchSampler
    from skdml.deep.logratio import LogRatioLearner
    from skdml.deep.odl import ODL
    from skdml.linear.mlkr import MLKR

    def logratio_random_batches(seed, n_train):
        return LogRatioLearner(**ODL_DEEP, random_state=seed,
                               iterator_train__batch_sampler=PairBatchSampler(
                                   n_train, 60, random_state=seed))

    contenders = [
        ("Euclidean (standardized features)", None),
        ("MLKR", lambda seed, n: MLKR(random_state=seed)),
        ("LogRatioLearner", lambda seed, n: LogRatioLearner(**ODL_DEEP, random_state=seed)),
        ("ODL (cross-entropy ranker; defaults)",
         lambda seed, n: ODL(hidden_sizes=ODL_DEEP["module__hidden_sizes"], random_state=seed)),
        ("ODFL: ODL, ce_weight=0",
         lambda seed, n: ODL(hidden_sizes=ODL_DEEP["module__hidden_sizes"], ce_weight=0.0,
                             random_state=seed)),
        ("ODL without J1, order_weight=0",
         lambda seed, n: ODL(hidden_sizes=ODL_DEEP["module__hidden_sizes"], order_weight=0.0,
                             random_state=seed)),
        ("ODL, 100 epochs",
         lambda seed, n: ODL(hidden_sizes=ODL_DEEP["module__hidden_sizes"], max_epochs=100,
                             random_state=seed)),
        ("control: LogRatioLearner, random batches of 60", logratio_random_batches),
    ]
    ranker = "ODL's own ranker (level -> mean target)"
    names = [name for name, _ in contenders]
    names.insert(names.index("ODFL: ODL, ce_weight=0"), ranker)
    mae = {(name, task): [] for name in names for task in ("diabetes", "digits")}
    seconds = {(name, task): [] for name in names for task in ("diabetes", "digits")}
    for task, seeds in ODL_SEEDS.items():
        for seed in seeds:
            X_tr, X_te, y_tr, y_te = _odl_task(task, seed)
            for name, make in contenders:
                start = time.perf_counter()
                if make is None:
                    Z_tr, Z_te = X_tr, X_te
                else:
                    model = make(seed, len(X_tr)).fit(X_tr, y_tr)
                    Z_tr, Z_te = model.transform(X_tr), model.transform(X_te)
                seconds[name, task].append(time.perf_counter() - start)
                mae[name, task].append(knn_regression_mae(Z_tr, y_tr, Z_te, y_te))
                if name.startswith("ODL (cross-entropy"):
                    pred = model.level_values_[model.ranker_levels(X_te)]
                    mae[ranker, task].append(float(np.abs(pred - y_te).mean()))
            print(f"seed {seed} {task}: " + ", ".join(
                f"{name.split(' (')[0].split(':')[0]} {mae[name, task][-1]:.3f}"
                for name in names), flush=True)
    rows = [{"method": name,
             "diabetes MAE": mean_std(mae[name, "diabetes"]),
             "digits MAE": mean_std(mae[name, "digits"]),
             "s/fit (digits)": (np.mean(seconds[name, "digits"])
                                if seconds[name, "digits"] else "")}
            for name in names]
    odl = "ODL (cross-entropy ranker; defaults)"
    claims = []
    for task, seeds in ODL_SEEDS.items():
        ours = np.array(mae[odl, task])
        for base in ("Euclidean (standardized features)", "MLKR", "LogRatioLearner"):
            other = np.array(mae[base, task])
            claims.append(f"{task}: ODL below {base.split(' (')[0]} on "
                          f"{int(np.sum(ours < other))}/{len(seeds)} seeds")
    claim = "; ".join(claims)
    print(claim)
    write_table("seed_odl", rows, ["method", "diabetes MAE", "digits MAE", "s/fit (digits)"],
                note="5-NN regression MAE, lower is better; mean +- std over the seeds "
                     f"(split and network), {len(ODL_SEEDS['diabetes'])} on diabetes and "
                     f"{len(ODL_SEEDS['digits'])} on digits; {claim}")
    _odl_why()


def _odl_why():
    """Why ODL's ordinal term J1 does not pay here: how fast it is learned where the
    features do follow the target's order.

    A swiss roll (``make_swiss_roll``, 600 samples, noise 1.0; the target is the position
    along the roll, which the 3-D features follow), 70/30 split by the seed, standardized;
    ODL (tanh MLP 3-128-64, its defaults otherwise) with and without J1, J1 alone, after 30
    and 100 epochs. Scores on the test samples: 5-NN regression MAE, and the Spearman
    correlation between the squared embedding distances and the label gaps of all test
    pairs (J1 asks for it to be 1). Seeds 0, 1, 2.
    """
    from scipy.stats import spearmanr
    from sklearn.datasets import make_swiss_roll
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from skdml.deep._ordinal_targets import knn_regression_mae
    from skdml.deep.odl import ODL

    variants = [
        ("Euclidean (standardized features)", None),
        ("ODL (defaults, 30 epochs)", {}),
        ("ODL without J1 (order_weight=0)", {"order_weight": 0.0}),
        ("J1 alone (cost_weight=0, ce_weight=0)", {"cost_weight": 0.0, "ce_weight": 0.0}),
        ("J1 alone, 100 epochs", {"cost_weight": 0.0, "ce_weight": 0.0, "max_epochs": 100}),
        ("ODL, 100 epochs", {"max_epochs": 100}),
    ]
    scores = {name: [] for name, _ in variants}
    for seed in SEEDS:
        X, t = make_swiss_roll(600, noise=1.0, random_state=seed)
        X_tr, X_te, y_tr, y_te = train_test_split(X, t, test_size=0.3, random_state=seed)
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        upper = np.triu_indices(len(y_te), 1)
        gaps = np.abs(y_te[:, None] - y_te[None])[upper]
        for name, params in variants:
            if params is None:
                Z_tr, Z_te = X_tr, X_te
            else:
                model = ODL(hidden_sizes=ODL_DEEP["module__hidden_sizes"], random_state=seed,
                            **params).fit(X_tr, y_tr)
                Z_tr, Z_te = model.transform(X_tr), model.transform(X_te)
            D = ((Z_te[:, None] - Z_te[None]) ** 2).sum(-1)[upper]
            scores[name].append((knn_regression_mae(Z_tr, y_tr, Z_te, y_te),
                                 spearmanr(D, gaps)[0]))
    rows = [{"method": name, "MAE": mean_std(np.array(v)[:, 0]),
             "Spearman(d^2, label gap)": mean_std(np.array(v)[:, 1])}
            for name, v in scores.items()]
    write_table("seed_odl_why", rows, ["method", "MAE", "Spearman(d^2, label gap)"],
                note=f"swiss roll, target = position along the roll; mean +- std over "
                     f"{len(SEEDS)} seeds")


LSDML_TARGET = 100  # labelled samples of the small source of the M-LSDML scenarios


def _lsdml_scenarios(seed):
    """The M-LSDML scenarios of ``part_lsdml``: a small labelled source (the target task)
    and a second source, each as ``(X_target, y_target, X_test, y_test, X_source,
    y_source)``, standardized with the target's training statistics."""
    from sklearn.datasets import load_diabetes, load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y.astype(np.float64), test_size=0.3,
                                              random_state=seed)
    X_t, y_t, X_rest, y_rest = (X_tr[:LSDML_TARGET], y_tr[:LSDML_TARGET],
                                X_tr[LSDML_TARGET:], y_tr[LSDML_TARGET:])
    faint = 0.7 * X_rest + rng.normal(scale=1.5, size=X_rest.shape)
    shifted = np.zeros_like(X_rest).reshape(-1, 8, 8)
    shifted[:, :, 1:] = X_rest.reshape(-1, 8, 8)[:, :, :-1]
    raw = {"digits + fainter, noisier digits (values 2y+10)": (X_t, y_t, X_te, y_te, faint,
                                                               2 * y_rest + 10),
           "digits + fainter, noisier digits (values y+1)": (X_t, y_t, X_te, y_te, faint,
                                                             y_rest + 1),
           "digits + digits shifted one pixel (values 2y+10)": (
               X_t, y_t, X_te, y_te, shifted.reshape(len(X_rest), -1), 2 * y_rest + 10)}
    X, y = load_diabetes(return_X_y=True)
    one = X[:, 1] > 0
    X_tr, X_te, y_tr, y_te = train_test_split(X[one], y[one], test_size=0.3, random_state=seed)
    raw["diabetes, one sex + the other sex"] = (X_tr, y_tr, X_te, y_te, X[~one], y[~one])
    scenarios = {}
    for name, (X_t, y_t, X_te, y_te, X_s, y_s) in raw.items():
        scaler = StandardScaler().fit(X_t)
        scenarios[name] = (scaler.transform(X_t), y_t, scaler.transform(X_te), y_te,
                           scaler.transform(X_s), y_s)
    return scenarios


def part_lsdml():
    """LSDML and M-LSDML against the learners a user has for an ordered target.

    One source: the two ordinal tasks of ``part_odl`` (diabetes' continuous target, the
    digit value of digits; 70/30 split by the seed, standardized with the training
    statistics) and its scorer, the MAE of 5-nearest-neighbour regression of the test
    samples on the embedded training samples. Contenders: Euclidean distance on the
    standardized features and on the features as given; MLKR at its defaults;
    ``LogRatioLearner`` (tanh MLP features-128-64, 30 epochs, its defaults otherwise); LSDML
    at its defaults (the same network and epochs; thresholds 0.1 / 0.3 standard deviations,
    margin 2, lambda 0.1, lr 3e-3); LSDML with one margin for every negative pair
    (``cost='constant'``, the label-insensitive ablation); LSDML on the nearest-label
    batches of ``LogRatioLearner`` (the control for its sampler). The paper's claim (Liu et
    al., TIFS 2018): LSDML estimates the target better than metric-learning baselines.

    Several sources: a small labelled source and a second one. Digits: 100 samples of the
    training part are the target task, the rest of the training part (1157 samples) the
    second source, either fainter and noisier (``0.7 x + N(0, 1.5^2)`` on the pixels) or
    shifted one pixel to the right, its digit values on another scale (``2 y + 10``) or
    off by one (``y + 1``, an annotation bias);
    diabetes: one sex (70/30 split by the seed) the target, the other sex (labels as they
    are) the second source. Features standardized with the target's training statistics;
    the same 5-NN scorer on the target's test part, the target's training samples as the
    reference set. Contenders: Euclidean, MLKR, ``LogRatioLearner`` and LSDML on the target
    alone; LSDML on both sources pooled as one (pairs across them, labels compared as they
    are); M-LSDML (``fit(X, y, groups=source)``, pairs within each source). The paper's
    claim: M-LSDML, adding a related data set, beats LSDML on the target's own. Seeds 0, 1,
    2 (split, noise and network).
    """
    from sklearn.datasets import load_diabetes, load_digits
    from sklearn.model_selection import train_test_split

    from skdml.deep._ordinal_targets import knn_regression_mae
    from skdml.deep.logratio import LogRatioLearner, NearestLabelBatchSampler
    from skdml.deep.lsdml import LSDML
    from skdml.linear.mlkr import MLKR

    def nearest_label_batches(seed, y):
        return LSDML(random_state=seed, iterator_train__batch_sampler=NearestLabelBatchSampler(
            y, 60, 5, "euclidean", random_state=seed))

    contenders = [
        ("Euclidean (standardized features)", None),
        ("Euclidean (features as given)", "raw"),
        ("MLKR", lambda seed, y: MLKR(random_state=seed)),
        ("LogRatioLearner", lambda seed, y: LogRatioLearner(**ODL_DEEP, random_state=seed)),
        ("LSDML (defaults)", lambda seed, y: LSDML(random_state=seed)),
        ("LSDML, one margin (cost='constant')",
         lambda seed, y: LSDML(cost="constant", random_state=seed)),
        ("control: LSDML on nearest-label batches", nearest_label_batches),
    ]
    tasks = ("diabetes", "digits")
    loaders = {"diabetes": load_diabetes, "digits": load_digits}
    mae = {(name, task): [] for name, _ in contenders for task in tasks}
    seconds = {(name, task): [] for name, _ in contenders for task in tasks}
    for task, seeds in ODL_SEEDS.items():
        for seed in seeds:
            X_tr, X_te, y_tr, y_te = _odl_task(task, seed)
            for name, make in contenders:
                start = time.perf_counter()
                if make is None:
                    Z_tr, Z_te = X_tr, X_te
                elif make == "raw":  # the same split, before standardizing
                    X, y = loaders[task](return_X_y=True)
                    Z_tr, Z_te, _, _ = train_test_split(X, y, test_size=0.3,
                                                        random_state=seed)
                else:
                    model = make(seed, y_tr).fit(X_tr, y_tr)
                    Z_tr, Z_te = model.transform(X_tr), model.transform(X_te)
                seconds[name, task].append(time.perf_counter() - start)
                mae[name, task].append(knn_regression_mae(Z_tr, y_tr, Z_te, y_te))
            print(f"seed {seed} {task}: " + ", ".join(
                f"{name.split(' (')[0]} {mae[name, task][-1]:.3f}" for name, _ in contenders),
                flush=True)
    rows = [{"method": name, "diabetes MAE": mean_std(mae[name, "diabetes"]),
             "digits MAE": mean_std(mae[name, "digits"]),
             "s/fit (digits)": np.mean(seconds[name, "digits"]) if callable(make) else ""}
            for name, make in contenders]
    claims = []
    for task in tasks:
        ours = np.array(mae["LSDML (defaults)", task])
        for base in ("Euclidean (standardized features)", "Euclidean (features as given)",
                     "MLKR", "LogRatioLearner"):
            claims.append(f"{task}: LSDML below {base} on "
                          f"{int(np.sum(ours < np.array(mae[base, task])))}/{len(SEEDS)} seeds")
    claim = "; ".join(claims)
    print(claim)
    write_table("seed_lsdml", rows, ["method", "diabetes MAE", "digits MAE", "s/fit (digits)"],
                note=f"5-NN regression MAE, lower is better; mean +- std over {len(SEEDS)} "
                     f"seeds (split and network); {claim}")

    sources = [
        ("Euclidean, target alone", None),
        ("MLKR, target alone", lambda seed, X_t, y_t, X_s, y_s: MLKR(random_state=seed).fit(
            X_t, y_t)),
        ("LogRatioLearner, target alone", lambda seed, X_t, y_t, X_s, y_s: LogRatioLearner(
            **ODL_DEEP, random_state=seed).fit(X_t, y_t)),
        ("LSDML, target alone", lambda seed, X_t, y_t, X_s, y_s: LSDML(
            random_state=seed).fit(X_t, y_t)),
        ("LSDML, both sources pooled", lambda seed, X_t, y_t, X_s, y_s: LSDML(
            random_state=seed).fit(np.vstack([X_t, X_s]), np.r_[y_t, y_s])),
        ("M-LSDML, groups=source", lambda seed, X_t, y_t, X_s, y_s: LSDML(
            random_state=seed).fit(np.vstack([X_t, X_s]), np.r_[y_t, y_s],
                                   groups=np.r_[np.zeros(len(y_t)), np.ones(len(y_s))])),
    ]
    scores = {}
    for seed in SEEDS:
        for scenario, (X_t, y_t, X_te, y_te, X_s, y_s) in _lsdml_scenarios(seed).items():
            for name, make in sources:
                if make is None:
                    Z_t, Z_te = X_t, X_te
                else:
                    model = make(seed, X_t, y_t, X_s, y_s)
                    Z_t, Z_te = model.transform(X_t), model.transform(X_te)
                scores.setdefault((scenario, name), []).append(
                    knn_regression_mae(Z_t, y_t, Z_te, y_te))
            print(f"seed {seed} {scenario}: " + ", ".join(
                f"{name.split(',')[0]} {scores[scenario, name][-1]:.3f}"
                for name, _ in sources), flush=True)
    rows, claims = [], []
    for scenario in _lsdml_scenarios(SEEDS[0]):
        for name, _ in sources:
            rows.append({"scenario": scenario, "method": name,
                         "target MAE": mean_std(scores[scenario, name])})
        ours = np.array(scores[scenario, "M-LSDML, groups=source"])
        for base in ("LSDML, target alone", "LSDML, both sources pooled"):
            claims.append(f"{scenario}: M-LSDML below {base} on "
                          f"{int(np.sum(ours < np.array(scores[scenario, base])))}/"
                          f"{len(SEEDS)} seeds")
    claim = "; ".join(claims)
    print(claim)
    write_table("seed_mlsdml", rows, ["scenario", "method", "target MAE"],
                note=f"5-NN regression MAE on the target's test part, lower is better; mean "
                     f"+- std over {len(SEEDS)} seeds; {LSDML_TARGET} labelled digits in the "
                     f"digit scenarios; {claim}")


def _target_loo_accuracy(Z, y, k=3):
    """3-NN accuracy of each sample among the others (leave one out): the target samples'
    retrieval among themselves, the ECN paper's protocol."""
    sq = np.sum(Z ** 2, axis=1)
    D = sq[:, None] + sq[None, :] - 2 * Z @ Z.T
    np.fill_diagonal(D, np.inf)
    neighbors = np.argsort(D, axis=1, kind="stable")[:, :k]
    votes = np.array([np.bincount(row, minlength=y.max() + 1).argmax() for row in y[neighbors]])
    return float(np.mean(votes == y))


#: ECN's ablations, after the paper's Table 2 (E: exemplar, C: camera -- here the input
#: augmentations --, N: neighborhood invariance), and the settings that say why +E alone
#: falls below the control on digits
ECN_NO_AUGMENTATION = {"augment_noise": 0.0, "augment_dropout": 0.0}
ECN_VARIANTS = {
    "control: source only (target_weight=0)": {"target_weight": 0.0},
    "+E (k=0, no augmentation)": {"k": 0, **ECN_NO_AUGMENTATION},
    "+E+N (no augmentation)": ECN_NO_AUGMENTATION,
    "+E+C (k=0)": {"k": 0},
    "ECN: +E+C+N (defaults)": {},
    "ECN, per-feature standardization (standardize=True)": {"standardize": True},
    "why +E: +E, softer memory softmax (beta=0.5)": {"k": 0, "beta": 0.5,
                                                     **ECN_NO_AUGMENTATION},
    "why +E: +E+N with k=30 neighbors": {"k": 30, **ECN_NO_AUGMENTATION},
}


def part_ecn():
    """ECN against DTML, DSTML and raw Euclidean distance on the digits domain shift.

    Data: ``make_digits_domain_shift`` (source: half the digits; target: the other half
    blurred, contrast-changed and noised), one draw per seed. Every learner trains at its
    defaults on the labeled source plus the unlabeled target (``y == -1``), all of it, as
    in ``bench_transfer_imagesets.py``; the target labels score only. Two scorers, both
    3-NN accuracy of the target samples in the embedding: against the labeled source (the
    protocol of DTML's table, docs/transfer_imagesets.rst) and among the target samples
    themselves, leave one out (the ECN paper's protocol: queries and gallery from the
    target domain). Contenders: Euclidean distance on the raw pixels; DTML and DSTML at
    their defaults; ECN at its defaults (SGD, 60 epochs), its source-only control (the same
    network and classifier, ``target_weight=0``: what the memory adds), the paper's
    ablations (E: exemplar, C: camera -- here the input augmentations --, N:
    neighborhood invariance), ECN with per-feature input standardization, and two settings
    that say why the exemplar invariance alone hurts here. Seeds 0, 1, 2 (data and
    networks). The paper's claims (Zhong et al., CVPR 2019): each invariance adds to the
    target-domain accuracy of the source-only baseline, ECN (all three) the most.
    """
    import warnings

    from _common import knn_accuracy
    from sklearn.exceptions import ConvergenceWarning

    from skdml._datasets_deep import make_digits_domain_shift
    from skdml.deep.dtml import DSTML, DTML
    from skdml.deep.ecn import ECN

    contenders = [("Euclidean (raw pixels)", None),
                  ("DTML (defaults)", lambda seed: DTML(random_state=seed)),
                  ("DSTML (defaults)", lambda seed: DSTML(random_state=seed))]
    contenders += [(name, lambda seed, p=params: ECN(random_state=seed, **p))
                   for name, params in ECN_VARIANTS.items()]
    scores = {name: {"source": [], "target": [], "s": []} for name, _ in contenders}
    for seed in SEEDS:
        Xs, ys, Xt, yt = make_digits_domain_shift(random_state=seed)
        X, y = np.vstack([Xs, Xt]), np.concatenate([ys, np.full(len(Xt), -1)])
        for name, make in contenders:
            start = time.perf_counter()
            if make is None:
                Zs, Zt = Xs, Xt
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)  # DTML's tol
                    model = make(seed).fit(X, y)
                Zs, Zt = model.transform(Xs), model.transform(Xt)
            scores[name]["s"].append(time.perf_counter() - start)
            scores[name]["source"].append(knn_accuracy(Zs, ys, Zt, yt))
            scores[name]["target"].append(_target_loo_accuracy(Zt, yt))
        print(f"seed {seed}: " + ", ".join(
            f"{name.split(' (')[0]} {s['source'][-1]:.3f}/{s['target'][-1]:.3f}"
            for name, s in scores.items()), flush=True)
    rows = [{"method": name,
             "target vs source (3-NN)": mean_std(s["source"]),
             "target among target (3-NN, LOO)": mean_std(s["target"]),
             "s/fit": np.mean(s["s"]) if name != "Euclidean (raw pixels)" else ""}
            for name, s in scores.items()]
    write_table("seed_ecn", rows, ["method", "target vs source (3-NN)",
                                   "target among target (3-NN, LOO)", "s/fit"],
                note=f"mean +- std over {len(SEEDS)} seeds (data and networks); fitted on "
                     "the labeled source and the unlabeled target")

    def ahead(name, other, scorer):
        a, b = np.array(scores[name][scorer]), np.array(scores[other][scorer])
        return {"held": "held" if a.mean() > b.mean() else "not held",
                "seeds ahead": f"{int(np.sum(a > b))} of {len(a)}",
                "difference": f"{a.mean() - b.mean():+.3f}"}

    ecn, control = "ECN: +E+C+N (defaults)", "control: source only (target_weight=0)"
    e, en, ec = "+E (k=0, no augmentation)", "+E+N (no augmentation)", "+E+C (k=0)"
    checks = [
        (ecn, control, "paper: the invariances help on the target"),
        (e, control, "paper: +E above the baseline"),
        (ec, e, "paper: C adds to E"),
        (en, e, "paper: N adds to E"),
        (ecn, ec, "paper: N adds to E+C"),
        (ecn, "DTML (defaults)", "issue: ECN against DTML"),
        (ecn, "DSTML (defaults)", "issue: ECN against DSTML"),
        (ecn, "Euclidean (raw pixels)", "issue: ECN against raw Euclidean"),
    ]
    short = {ecn: "ECN", control: "source only", e: "+E", en: "+E+N", ec: "+E+C",
             "DTML (defaults)": "DTML", "DSTML (defaults)": "DSTML",
             "Euclidean (raw pixels)": "Euclidean"}
    ordering_rows = []
    for scorer, label in (("source", "target vs source"), ("target", "target among target")):
        for name, other, claim in checks:
            ordering_rows.append({"ordering": f"{short[name]} > {short[other]}",
                                  "claim": claim, "scorer": label,
                                  **ahead(name, other, scorer)})
    write_table("seed_ecn_orderings", ordering_rows,
                ["ordering", "claim", "scorer", "held", "seeds ahead", "difference"],
                note="held: the mean over the seeds is higher; difference: of the means")


def _dlml_two_populations():
    """The digits as two populations whose telling pixels differ: a random half of the
    images (seed 0) has its 64 pixels permuted by one fixed permutation, labels unchanged;
    standardized, 70/30 split stratified on digit and population. Returns the split and
    each sample's population."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    rng = np.random.RandomState(0)
    permutation = rng.permutation(X.shape[1])
    permuted = rng.rand(len(X)) < 0.5
    X = X.copy()
    X[permuted] = X[permuted][:, permutation]
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, permuted.astype(int), test_size=0.3, random_state=0,
                            stratify=2 * y + permuted)


def _population_purity(model, X_train, X_test, pop_train, pop_test):
    """The share of test samples whose most likely region is held mostly (in the training
    set) by their own population: 1 when the regions split the populations apart."""
    r_train, r_test = model.predict_region(X_train), model.predict_region(X_test)
    majority = np.array([np.bincount(pop_train[r_train == k], minlength=2).argmax()
                         if np.any(r_train == k) else -1
                         for k in range(model.module_.n_metrics)])
    return float(np.mean(majority[r_test] == pop_test))


def part_dlml():
    """DLML against DeepMetricLearner with the same trunk, loss, epochs and batches.

    Data: (a) digits, the ../shared/ANCHORS.md split (standardized, 70/30 stratified, seed
    0); (b) two digit populations (``_dlml_two_populations``: half the images with their
    pixels permuted, one permutation, the same ten labels), heterogeneous data on which
    one global metric must serve two pixel layouts. Every learner: tanh trunk 64-128, heads
    of 64 (DeepMetricLearner: one MLP 64-128-64, the same as DLML with one head), the
    contrastive loss (margin 1), Adam lr 1e-3, 30 epochs, class-balanced batches of 128,
    seeds 0, 1, 2 (networks and batches). Contenders: raw standardized features; the
    global learner; DLML at its defaults (4 heads, temperature 0.1, combine='sum'); its
    control with a uniform assignment (temperature 1e6: the same network, one global
    metric); 2 heads with sharp regions (temperature 0.05) and their uniform control;
    regions forced by the mutual-information term (assignment_weight 0.1); the
    concatenated form (combine='concat', regions compared through the origin). Scores:
    3-NN accuracy and MAP@R of the test samples against the training set in the
    embedding (skdml.metrics); for the localized learners (not the controls, whose regions
    weigh nothing), the mean largest region probability of the test samples (1/K: uniform,
    1: hard regions) after training and at its start (anchors at the k-means centres of
    the untrained trunk's output), and on (b) the share of test samples whose region is
    held mostly by their own population. Claim (Duan et al., TCSVT 2018): localized metrics
    beat one global metric.
    """
    import warnings

    from _common import digits_split, knn_accuracy
    from sklearn.base import clone

    from skdml.deep import DeepMetricLearner
    from skdml.deep.dlml import DLML
    from skdml.metrics import map_at_r

    uniform = 1e6
    contenders = [
        ("raw features (standardized)", None),
        ("DeepMetricLearner (one global metric)", lambda s: DeepMetricLearner(random_state=s)),
        ("DLML (defaults: 4 heads)", lambda s: DLML(random_state=s)),
        ("control: 4 heads, uniform assignment",
         lambda s: DLML(temperature=uniform, random_state=s)),
        ("DLML, 2 heads, sharp regions (T=0.05)",
         lambda s: DLML(n_metrics=2, temperature=0.05, random_state=s)),
        ("control: 2 heads, uniform assignment",
         lambda s: DLML(n_metrics=2, temperature=uniform, random_state=s)),
        ("DLML, regions forced (assignment_weight=0.1)",
         lambda s: DLML(assignment_weight=0.1, random_state=s)),
        ("DLML, combine='concat'", lambda s: DLML(combine="concat", random_state=s)),
    ]
    populations = _dlml_two_populations()
    datasets = [("digits", digits_split(), None),
                ("two populations", populations[:4], populations[4:])]
    rows, means = [], {}
    for data, (X_tr, X_te, y_tr, y_te), pops in datasets:
        for name, make in contenders:
            scores, seconds = [], []
            for seed in SEEDS if make is not None else SEEDS[:1]:
                start = time.perf_counter()
                if make is None:
                    model, Z_tr, Z_te = None, X_tr, X_te
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model = make(seed).fit(X_tr, y_tr)
                    Z_tr, Z_te = model.transform(X_tr), model.transform(X_te)
                seconds.append(time.perf_counter() - start)
                row = [knn_accuracy(Z_tr, y_tr, Z_te, y_te),
                       map_at_r(Z_te, y_te, X_ref=Z_tr, y_ref=y_tr)]
                if isinstance(model, DLML) and not name.startswith("control"):
                    # the assignment trained, and as it starts (anchors at the k-means
                    # centres, the network untouched: one epoch at a negligible rate)
                    start_model = clone(model).set_params(max_epochs=1, lr=1e-12)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        start_model.fit(X_tr, y_tr)
                    row += [model.region_proba(X_te).max(axis=1).mean(),
                            start_model.region_proba(X_te).max(axis=1).mean()]
                    if pops is not None:
                        row.append(_population_purity(model, X_tr, X_te, *pops))
                scores.append(row)
            scores = np.array(scores)
            means[data, name] = scores[:, 1]
            rows.append({"data": data, "learner": name, "3-NN": mean_std(scores[:, 0]),
                         "MAP@R": mean_std(scores[:, 1]),
                         "max region p": (f"{scores[:, 2].mean():.2f}"
                                          if scores.shape[1] > 2 else ""),
                         "at start": (f"{scores[:, 3].mean():.2f}"
                                      if scores.shape[1] > 3 else ""),
                         "region = population": (f"{scores[:, 4].mean():.2f}"
                                                 if scores.shape[1] > 4 else ""),
                         "s/fit": np.mean(seconds) if make is not None else ""})
            print(rows[-1], flush=True)
    write_table("seed_dlml", rows, ["data", "learner", "3-NN", "MAP@R", "max region p",
                                    "at start", "region = population", "s/fit"],
                note=f"mean +- std over {len(SEEDS)} seeds (networks and batches)")
    checks = [
        ("DLML (defaults: 4 heads)", "DeepMetricLearner (one global metric)",
         "paper: localized metrics beat one global metric"),
        ("DLML (defaults: 4 heads)", "control: 4 heads, uniform assignment",
         "the regions themselves: DLML against its network without regions"),
        ("DLML, 2 heads, sharp regions (T=0.05)", "control: 2 heads, uniform assignment",
         "the regions themselves, 2 heads"),
        ("DLML (defaults: 4 heads)", "DLML, regions forced (assignment_weight=0.1)",
         "free against forced regions"),
        ("DLML (defaults: 4 heads)", "DLML, combine='concat'",
         "a common output space against the concatenation"),
    ]
    orderings = []
    for data, _, _ in datasets:
        for name, other, claim in checks:
            a, b = means[data, name], means[data, other]
            orderings.append({"data": data, "ordering": f"{name} > {other}", "claim": claim,
                              "held": "held" if a.mean() > b.mean() else "not held",
                              "seeds ahead": f"{int(np.sum(a > b))} of {len(a)}",
                              "MAP@R difference": f"{a.mean() - b.mean():+.3f}"})
    write_table("seed_dlml_orderings", orderings,
                ["data", "ordering", "claim", "held", "seeds ahead", "MAP@R difference"],
                note="held: the mean MAP@R over the seeds is higher; difference: of the means")


PARTS = {"siamese": part_siamese, "multiview": part_multiview, "odl": part_odl,
         "lsdml": part_lsdml, "ecn": part_ecn, "dlml": part_dlml}


def main():
    run_parts(__doc__, PARTS,
              "no library implements these methods; baselines measured in this run")


if __name__ == "__main__":
    main()
