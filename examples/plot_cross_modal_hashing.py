"""
Cross-modal hashing: search tags with an image, images with tags
=================================================================

Two modalities describe the same digits: the 8 x 8 pixels, and a noisy set of tags (class
synonyms an annotator often forgets, stroke attributes read off the image), made by
:func:`skdml.datasets.make_digits_two_views`. A cross-modal hasher gives both one Hamming
space, so the code of an *image* retrieves *tag* vectors and the other way round.

:class:`~skdml.hashing.CCAITQ` (CCA of the two views, then one ITQ rotation) is the
classical baseline; :class:`~skdml.hashing.cmdvh.CrossModalDeepVariationalHashing`
(CMDVH) learns the codes with a fusion network on both views and a variational network per
modality. Each encodes one modality with ``transform_view(X, view=0 or 1)``. Left: the mAP
of the Hamming ranking in each direction, at 16 and 32 bits. Right: the five tag vectors
nearest to one image query under each hasher, by class.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from skdml.datasets import make_digits_two_views
from skdml.hashing import CCAITQ, CrossModalDeepVariationalHashing, HammingNeighbors
from skdml.metrics_hashing import hamming_map

X_image, X_tags, y = make_digits_two_views(random_state=0)
img_db, img_q, tag_db, tag_q, y_db, y_q = train_test_split(
    X_image, X_tags, y, test_size=180, random_state=0, stratify=y)

makers = {
    "CCA-ITQ": lambda bits: CCAITQ(n_bits=bits, random_state=0),
    "CMDVH": lambda bits: CrossModalDeepVariationalHashing(n_bits=bits, random_state=0),
}
scores, nearest = {}, {}
for name, make in makers.items():
    for bits in (16, 32):
        hasher = make(bits).fit([img_db, tag_db], y_db)  # CCA-ITQ ignores y
        image_to_tags = hamming_map(hasher.transform_view(img_q, view=0),
                                    hasher.transform_view(tag_db, view=1), y_q, y_db)
        tags_to_image = hamming_map(hasher.transform_view(tag_q, view=1),
                                    hasher.transform_view(img_db, view=0), y_q, y_db)
        scores[name, bits] = image_to_tags, tags_to_image
        print(f"{name:>7} {bits} bits: image -> tags {image_to_tags:.3f}, "
              f"tags -> image {tags_to_image:.3f}")
        if bits == 32:  # the tag vectors nearest to the first image query
            index = HammingNeighbors(n_neighbors=5).fit(hasher.transform_view(tag_db, view=1))
            _, ind = index.kneighbors(hasher.transform_view(img_q[:1], view=0))
            nearest[name] = y_db[ind[0]]

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), width_ratios=(3, 2))
labels = [f"{name}\n{bits} bits" for name, bits in scores]
positions = np.arange(len(labels))
for shift, (direction, column) in zip((-0.2, 0.2), (("image -> tags", 0), ("tags -> image", 1))):
    left.bar(positions + shift, [s[column] for s in scores.values()], width=0.4,
             label=direction)
left.set_xticks(positions, labels)
left.set_ylabel("mAP of the Hamming ranking")
left.set_ylim(0, 1)
left.legend(loc="upper left")
left.set_title("Cross-modal retrieval on digits (180 queries)")

right.imshow(img_q[0].reshape(8, 8), cmap="gray_r")
right.set_xticks([])
right.set_yticks([])
right.set_title(f"image query (a {y_q[0]})\n" + "\n".join(
    f"{name}: 5 nearest tag vectors are {', '.join(map(str, classes))}"
    for name, classes in nearest.items()), fontsize="small")
fig.tight_layout()
plt.show()
