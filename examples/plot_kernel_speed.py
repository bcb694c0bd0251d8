"""
Distance kernels against their peers
====================================

:mod:`skdml.kernels` computes the distances every learner and metric uses: exact top-k
neighbor search on real vectors and on packed binary codes, with numba. This example times
them beside the reference each one is measured against, on sizes small enough for a
documentation build (the full benchmarks live in ``benchmarks/``, with faiss and larger
galleries): the k nearest neighbors of 2000 queries among 20,000 points (sklearn's
brute-force ``NearestNeighbors``), and among 200,000 binary codes of 64 bits (NumPy's
``bitwise_count`` on packed words). Both searches return the same neighbors.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.neighbors import NearestNeighbors

from skdml.kernels import hamming_knn, knn, pack_codes


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


rng = np.random.default_rng(0)
X_db, X_q = rng.normal(size=(20_000, 64)), rng.normal(size=(2000, 64))
knn(X_q[:10], X_db[:100], k=10)  # compile once, outside the timing
t_ours, (_, ours) = best_of(lambda: knn(X_q, X_db, k=10))
nn = NearestNeighbors(n_neighbors=10, algorithm="brute").fit(X_db)
t_sklearn, (_, theirs) = best_of(lambda: nn.kneighbors(X_q))
assert np.mean(ours == theirs) > 0.999  # ties aside

codes_db = pack_codes(rng.integers(0, 2, size=(200_000, 64)))
codes_q = pack_codes(rng.integers(0, 2, size=(200, 64)))
hamming_knn(codes_q[:2], codes_db[:100], k=10)
t_hamming, (d_ours, _) = best_of(lambda: hamming_knn(codes_q, codes_db, k=10))
words_db, words_q = codes_db.view(np.uint64).ravel(), codes_q.view(np.uint64).ravel()
t_numpy, d_numpy = best_of(
    lambda: np.sort(np.bitwise_count(words_db[None, :] ^ words_q[:, None]), axis=1)[:, :10], 1
)
assert np.array_equal(d_ours, d_numpy)

rows = [("kNN, 2000 x 20,000 x 64", t_ours, t_sklearn, "sklearn brute force"),
        ("Hamming top-10, 200 x 200,000 codes of 64 bits", t_hamming, t_numpy,
         "NumPy bitwise_count")]
fig, axes = plt.subplots(2, 1, figsize=(7, 3.6))
for ax, (name, ours_t, peer_t, peer) in zip(axes, rows):
    print(f"{name}: skdml {ours_t:.3f} s, {peer} {peer_t:.3f} s ({peer_t / ours_t:.1f}x)")
    ax.barh([1, 0], [ours_t, peer_t], height=0.6, color=["tab:blue", "tab:gray"])
    ax.set_yticks([1, 0], ["skdml", peer])
    ax.set_title(f"{name}: skdml {peer_t / ours_t:.1f}x faster", fontsize="medium")
axes[-1].set_xlabel("seconds (best of 3; lower is better)")
fig.tight_layout()
plt.show()
