"""
Hashing: precision-recall and mAP against code length
=====================================================

Hashers turn vectors into short binary codes searched by Hamming distance. This example
compares the unsupervised :class:`~skdml.hashing.LSH`, :class:`~skdml.hashing.PCAH` and
:class:`~skdml.hashing.ITQ` with the supervised
:class:`~skdml.hashing.SupervisedDiscreteHashing` on digits (database: the training
split, queries: the test split): the precision-recall curve of hash lookup at 32 bits
(one point per Hamming radius), and the mAP of the Hamming ranking from 8 to 64 bits.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skdml.hashing import ITQ, LSH, PCAH, SupervisedDiscreteHashing
from skdml.metrics import hamming_map, hamming_precision_recall_curve
from skdml.plotting import plot_precision_recall

X, y = load_digits(return_X_y=True)
X_db, X_q, y_db, y_q = train_test_split(X, y, test_size=0.1, random_state=0, stratify=y)
X_mean = X_db.mean(axis=0)
X_db, X_q = X_db - X_mean, X_q - X_mean

hashers = {
    "LSH": lambda bits: LSH(n_bits=bits, random_state=0),
    "PCAH": lambda bits: PCAH(n_bits=bits),
    "ITQ": lambda bits: ITQ(n_bits=bits, random_state=0),
    "SDH (supervised)": lambda bits: SupervisedDiscreteHashing(n_bits=bits, random_state=0),
}
bit_lengths = [8, 16, 32, 64]

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
for name, make in hashers.items():
    maps = []
    for bits in bit_lengths:
        hasher = make(bits).fit(X_db, y_db)
        codes_db, codes_q = hasher.transform(X_db), hasher.transform(X_q)
        maps.append(hamming_map(codes_q, codes_db, y_q, y_db))
        if bits == 32:
            precision, recall, _ = hamming_precision_recall_curve(codes_q, codes_db, y_q, y_db)
            plot_precision_recall(precision, recall, ax=left, name=name)
    print(f"{name:>17}: mAP " + ", ".join(f"{b} bits {m:.3f}" for b, m in zip(bit_lengths, maps)))
    right.plot(bit_lengths, maps, "o-", label=name)
left.set_title("Hash lookup at 32 bits (one point per radius)")
right.set_xscale("log", base=2)
right.set_xticks(bit_lengths, [str(b) for b in bit_lengths])
right.set_xlabel("bits")
right.set_ylabel("mAP of the Hamming ranking")
right.set_title("mAP against code length")
right.legend(fontsize="small")
fig.tight_layout()
plt.show()
