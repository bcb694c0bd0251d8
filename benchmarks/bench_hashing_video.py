"""Video hashing on digits videos: mAP, P@20 and P@r<=2 at 16/32/64 bits, mean +- std of 5 seeds.

Protocol: sklearn's digits split in two halves, stratified by class and seeded by the seed
(0..4); :func:`skdml.datasets.make_digits_videos` films 30 database videos per class from the
first half and 10 query videos per class from the second (2 scenes per video, 4 to 10 frames,
shifts up to 1 pixel, turns up to 15 degrees), so no query shares an image with the database.
A random split, not a class-disjoint one: queries are of the classes trained on (the papers'
protocol). Relevance: same class. The database is 300 videos, so P@N takes N = 20 (30
relevant videos per query at most), not the papers' 100.

Contenders: ITQ and LSH on the mean of each video's frames (mean-pooled frames, the baseline of
the DVH paper), DVH (:class:`~skdml.hashing.video.DeepVideoHashing`) and the structural
variant (:class:`~skdml.hashing.video.StructuralVideoHashing`) ranked by its code-matrix
distance ("matrix", ``reduce='mean'``) and by its one code per video ("summary"). All at their
defaults, on one thread. Codes are scored by :mod:`skdml.metrics_hashing`; the matrix distances
by the same rules (ties by database index, a query with nothing within radius 2 scores 0).

Run: .venv/bin/python benchmarks/bench_hashing_video.py [--threads 1]
(``SKDML_BENCH_WRITE_DOCS=1`` writes docs/bench_tables/hashing_video.rst/.csv.)
"""

import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import protocol_parser, start_run, thread_settings, write_table  # noqa

SEEDS = range(5)
BITS = (16, 32, 64)
N_TOP = 20
RADIUS = 2


def data(seed):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from skdml.datasets import make_digits_videos

    X, y = load_digits(return_X_y=True)
    Xd, Xq, yd, yq = train_test_split(X, y, test_size=0.5, stratify=y, random_state=seed)
    common = dict(n_frames=(4, 10), n_scenes=2, max_shift=1.0, max_angle=15.0)
    vd, yd = make_digits_videos(Xd, yd, n_videos_per_class=30, random_state=seed, **common)
    vq, yq = make_digits_videos(Xq, yq, n_videos_per_class=10, random_state=seed + 100,
                                **common)
    return vd, vq, yd, yq


def distance_scores(D, rel):
    """mAP, P@N_TOP and P@r<=RADIUS from a (queries, database) distance matrix."""
    order = np.argsort(D, axis=1, kind="stable")
    hits = np.take_along_axis(rel, order, axis=1)
    cum = np.cumsum(hits, axis=1)
    keep = cum[:, -1] > 0
    ap = ((cum / np.arange(1, D.shape[1] + 1)) * hits).sum(axis=1)[keep] / cum[keep, -1]
    within = D <= RADIUS
    n_ret = within.sum(axis=1)
    p_r = np.divide((within & rel).sum(axis=1), n_ret, out=np.zeros(len(D)), where=n_ret > 0)
    return float(ap.mean()), float(hits[:, :N_TOP].mean()), float(p_r.mean())


def code_scores(cq, cd, yq, yd):
    from skdml.metrics_hashing import hamming_map, precision_at_n, precision_within_radius

    return (hamming_map(cq, cd, yq, yd), precision_at_n(cq, cd, yq, yd, n=N_TOP),
            precision_within_radius(cq, cd, yq, yd, radius=RADIUS))


def run_seed(seed, b):
    """{method: ((mAP, P@N, P@r), fit seconds)} for one seed and code length."""
    from skdml.hashing import ITQ, LSH
    from skdml.hashing.video import DeepVideoHashing, StructuralVideoHashing

    vd, vq, yd, yq = data(seed)
    md = np.array([v.mean(axis=0) for v in vd])
    mq = np.array([v.mean(axis=0) for v in vq])
    out = {}
    for name, est in (("LSH (mean frames)", LSH(b, random_state=seed)),
                      ("ITQ (mean frames)", ITQ(b, random_state=seed))):
        t = time.perf_counter()
        est.fit(md)
        out[name] = (code_scores(est.transform(mq), est.transform(md), yq, yd),
                     time.perf_counter() - t)
    t = time.perf_counter()
    dvh = DeepVideoHashing(b, random_state=seed).fit(vd, yd)
    out["DVH"] = (code_scores(dvh.transform(vq), dvh.transform(vd), yq, yd),
                  time.perf_counter() - t)
    t = time.perf_counter()
    svh = StructuralVideoHashing(b, random_state=seed).fit(vd, yd)
    fit_s = time.perf_counter() - t
    rel = yq[:, None] == yd[None, :]
    out["Structural (matrix)"] = (distance_scores(svh.video_distances(vq, vd), rel), fit_s)
    out["Structural (summary)"] = (code_scores(svh.transform(vq), svh.transform(vd), yq, yd),
                                   fit_s)
    return out


def main():
    parser = protocol_parser(__doc__, repeat=1, warmup=False)
    args = parser.parse_args()
    start_run(threads=args.threads, repeat=None, extra=[
        "fit s: one fit per seed at 32 bits, the mean over the seeds"])
    results = {}  # (method, bits) -> list of (map, p@n, p@r, fit seconds)
    start = time.perf_counter()
    with thread_settings(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in SEEDS:
            for b in BITS:
                for name, (scores, fit_s) in run_seed(seed, b).items():
                    results.setdefault((name, b), []).append((*scores, fit_s))
    total_s = time.perf_counter() - start

    def m(name, b):
        return float(np.mean(np.array(results[(name, b)])[:, 0]))

    rows = []
    for name in dict.fromkeys(name for name, _ in results):
        row = {"method": name}
        for b in BITS:
            r = np.array(results[(name, b)])
            row[f"mAP@{b}"] = f"{r[:, 0].mean():.3f} +- {r[:, 0].std():.3f}"
            row[f"P@{N_TOP}@{b}"] = f"{r[:, 1].mean():.3f}"
            row[f"P@r2@{b}"] = f"{r[:, 2].mean():.3f}"
        row["fit s (32b)"] = np.mean(np.array(results[(name, 32)])[:, 3])
        rows.append(row)
    held = {b: m("DVH", b) > m("ITQ (mean frames)", b) for b in BITS}
    cols = ["method"] + [f"{c}@{b}" for b in BITS for c in ("mAP", f"P@{N_TOP}", "P@r2")]
    print(f"== digits videos: database 300, 100 queries, mean +- std over {len(SEEDS)} seeds "
          f"({total_s:.0f} s in all)")
    write_table("hashing_video", rows, cols + ["fit s (32b)"], note=(
        "DVH > ITQ on mean-pooled frames (mAP): "
        + ", ".join(f"{b} bits {'held' if held[b] else 'not held'}" for b in BITS)))


if __name__ == "__main__":
    main()
