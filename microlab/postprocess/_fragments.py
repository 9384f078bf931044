"""Merging the pieces of objects that a split cut in two.

Seeds that follow the image's blobs split touching nuclei that a pixel classifier merged,
but a large, textured or oval nucleus can show two blobs and be cut in two: one part keeps
most of the nucleus (and still matches it), the other is left over as a false object. Such
a piece differs from a small nucleus touching a larger one in two ways at once: the two
parts together are convex (no neck between them), and the image shows no dark valley
along the line between them (touching nuclei are dimmer where they meet).

A network that predicts boundaries (``kind="boundary"``) draws one where touching nuclei
meet; a textured nucleus whose interior it is less sure of in the middle can still be cut in
two by the seeds, along a line where it drew no boundary. Such halves may each be large, so
there the predicted boundary, not the size, says which touching objects are one
(:func:`merge_unbounded`).

A nucleus much dimmer than the painted ones can come out of the same network as a cluster
of small pieces, each too unsure and too small to be kept as an object on its own; where
those pieces together make one nucleus-sized, convex object, they are that nucleus
(:func:`merge_pieces`).

Without the image, seeds follow the foreground's distance transform alone, whose bumps
along the jagged outline of a small nucleus (a fraction of a pixel high) cut it the same
way; there the classifier's foreground probability stands in for the image: it dips where
touching nuclei meet, hardly inside one.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

_SMALL = 0.6
"""Only a part smaller than this fraction of a typical object can be a cut-off piece."""
_SOLIDITY = 0.97
"""Two parts whose union fills at least this fraction of its convex hull have no neck."""
_VALLEY = 0.9
"""The image on the line between two parts, above the background, must reach this fraction
of the dimmer part's median for them to merge (touching nuclei are dimmer where they meet)."""
PROBABILITY_VALLEY = 0.95
"""The same with a classifier's foreground probability as the layer: it saturates inside
nuclei and dips less than the image between touching ones (0.9 merged more small touching
generated nuclei, 0.98 fewer cut-off pieces of real ones)."""
_LARGEST = 1.6
"""Two parts that together exceed this many typical objects are never merged."""
_UNBOUNDED_SOLIDITY = 0.95
"""With a predicted boundary: two objects whose union fills at least this fraction of its
convex hull have no neck (in the U-Net's objects on two real images, touching nuclei mostly
filled 0.79-0.94, a few up to 0.99; a nucleus cut in two mostly 0.96-1, a few 0.90-0.92)."""
NO_BOUNDARY = 0.45
"""With a predicted boundary: the boundary probability along the line between two objects,
averaged, below which the network drew no boundary there."""
_UNBOUNDED_LARGEST = 2.5
"""With a predicted boundary: two parts that together exceed this many typical objects are
never merged (the halves of a large nucleus can each be as large as a typical one)."""

_PIECES_SOLIDITY = 0.85
"""Touching doubtful pieces are one object only if their union fills at least this fraction
of its convex hull, which keeps bent chains of pieces apart (on the U-Net's saved outputs of
real nuclei, 0.7 to 0.85 merged the same clusters, each on one dim nucleus; 0.9 left one of
them in pieces)."""
_PIECES_LARGEST = 1.5
"""Touching doubtful pieces that together exceed this many typical objects are never merged."""


def _touching_pairs(labels: np.ndarray) -> np.ndarray:
    """Pairs ``(p, q)``, ``p < q``, of labels that touch along an axis (face neighbours)."""
    found = []
    for axis in range(labels.ndim):
        a = np.moveaxis(labels, axis, 0)
        x, y = a[:-1].ravel(), a[1:].ravel()
        keep = (x != y) & (x > 0) & (y > 0)
        found.append(np.stack([np.minimum(x[keep], y[keep]), np.maximum(x[keep], y[keep])], 1))
    pairs = np.concatenate(found)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def _pair(labels: np.ndarray, boxes: list, p: int, q: int) -> tuple:
    """The box around touching objects ``p`` and ``q`` (``boxes``: ``find_objects(labels)``),
    their masks ``a`` and ``b`` in it, and the line between them: the pixels of each that
    touch the other."""
    box = tuple(slice(min(a.start, b.start), max(a.stop, b.stop))
                for a, b in zip(boxes[p - 1], boxes[q - 1], strict=True))
    a, b = labels[box] == p, labels[box] == q
    return box, a, b, (a & ndi.binary_dilation(b)) | (b & ndi.binary_dilation(a))


def _solidity(union: np.ndarray) -> float:
    """Pixels (voxels) of ``union`` over those of its convex hull (``convex_hull_image``: the
    pixels whose centres lie in the hull of its pixels' centres); 1 for a convex object,
    whatever its size and the pixel spacing."""
    from skimage.morphology import convex_hull_image

    if union.sum() <= union.ndim + 1:
        return 1.0
    points = np.argwhere(union)
    if np.linalg.matrix_rank(points - points[0]) < union.ndim:
        return 1.0  # flat: all pixels on a line (a plane in 3D), which qhull refuses
    try:
        hull = convex_hull_image(union, offset_coordinates=False)
    except ValueError:
        return 1.0
    return float(union.sum() / max(hull.sum(), 1))


def merge_fragments(labels: np.ndarray, layer: np.ndarray, typical: float, *,
                    valley: float = _VALLEY) -> np.ndarray:
    """``labels`` with each cut-off piece merged back into the object it was cut from.

    Two touching objects are merged when the smaller holds less than ``_SMALL`` of a
    ``typical`` object's pixels, both together no more than ``_LARGEST`` typical objects, their
    union is convex (solidity ≥ ``_SOLIDITY``) and ``layer`` (the image, objects bright, or
    the foreground probability) shows no valley on the line between them (its mean there,
    above the background's median, reaches ``valley`` of the dimmer part's median). Chains
    of such pairs become one object, which keeps the smallest of their labels.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((20, 30), np.int32)
    >>> labels[5:15, 5:17], labels[5:15, 17:21] = 1, 2      # an oval cut near one end
    >>> labels[5:15, 23:27] = 3                             # a small object on its own
    >>> image = (labels > 0).astype(np.float32)
    >>> merged = merge_fragments(labels, image, typical=120.0)
    >>> sorted(np.unique(merged).tolist()), bool((merged[labels == 2] == 1).all())
    ([0, 1, 3], True)
    """
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    pairs = _touching_pairs(labels)
    if len(pairs) == 0 or not typical > 0:
        return labels
    outside = labels == 0
    background = float(np.median(layer[outside])) if outside.any() else 0.0
    boxes = ndi.find_objects(labels)
    candidates = []
    for p, q in pairs:
        if min(sizes[p], sizes[q]) >= _SMALL * typical or sizes[p] + sizes[q] > _LARGEST * typical:
            continue
        box, a, b, line = _pair(labels, boxes, p, q)
        if _solidity(a | b) < _SOLIDITY:
            continue
        pixels = layer[box]
        dimmer = min(np.median(pixels[a]), np.median(pixels[b])) - background
        if not np.mean(pixels[line]) - background >= valley * dimmer:
            continue
        candidates.append((int(p), int(q)))
    if not candidates:
        return labels
    parent = np.arange(len(sizes))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for p, q in candidates:
        rp, rq = root(p), root(q)
        if rp != rq:
            parent[max(rp, rq)] = min(rp, rq)
    return np.array([root(i) for i in range(len(sizes))], labels.dtype)[labels]


def merge_unbounded(labels: np.ndarray, boundary: np.ndarray, typical: float, *,
                    below: float = NO_BOUNDARY) -> np.ndarray:
    """``labels`` with each pair of touching objects that the predicted ``boundary`` does
    not divide merged into one.

    Two touching objects are merged when the boundary probability along the line between
    them averages below ``below``, their union is convex (solidity ≥
    ``_UNBOUNDED_SOLIDITY``) and together they hold no more than ``_UNBOUNDED_LARGEST``
    ``typical`` objects. Each object merges once at most (the pairs with the least boundary
    between them first), so that a chain of pieces never grows into a large, bent object.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((20, 30), np.int32)
    >>> labels[5:15, 5:13], labels[5:15, 13:21] = 1, 2      # one oval cut in two halves
    >>> labels[5:15, 21:27] = 3                              # a neighbour touching it
    >>> boundary = np.zeros((20, 30), np.float32)
    >>> boundary[5:15, 20:22] = 0.9                          # drawn between oval and neighbour
    >>> merge_unbounded(labels, boundary, typical=120.0)[10, ::4].tolist()
    [0, 0, 1, 1, 1, 1, 3, 0]
    """
    sizes = np.bincount(labels.ravel())
    pairs = _touching_pairs(labels)
    if len(pairs) == 0 or not typical > 0:
        return labels
    boxes = ndi.find_objects(labels)
    candidates = []
    for p, q in pairs:
        if sizes[p] + sizes[q] > _UNBOUNDED_LARGEST * typical:
            continue
        box, a, b, line = _pair(labels, boxes, p, q)
        drawn = float(np.mean(boundary[box][line]))
        if not drawn < below or _solidity(a | b) < _UNBOUNDED_SOLIDITY:
            continue
        candidates.append((drawn, int(p), int(q)))
    if not candidates:
        return labels
    lookup = np.arange(len(sizes))
    merged = set()
    for _, p, q in sorted(candidates):
        if p in merged or q in merged:
            continue
        merged.update((p, q))
        lookup[q] = p
    return lookup.astype(labels.dtype)[labels]


def merge_pieces(labels: np.ndarray, doubtful: np.ndarray, typical: float, *,
                 smallest: float) -> np.ndarray:
    """``labels`` with each group of touching ``doubtful`` objects merged into one where
    together they make an object.

    ``doubtful`` holds, for each label (0 included), whether that object alone would be
    removed as debris. A group of them that touch one another, directly or through others
    of the group, becomes one object when the group holds at least ``smallest`` pixels and
    at most ``_PIECES_LARGEST`` ``typical`` objects and its union is convex (solidity ≥
    ``_PIECES_SOLIDITY``). Objects that are not doubtful are never merged here.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((20, 30), np.int32)
    >>> labels[5:15, 4:9], labels[5:15, 9:14] = 1, 2   # a dim nucleus, in two small pieces
    >>> labels[5:15, 18:28] = 3                         # a nucleus found whole
    >>> doubtful = np.array([False, True, True, False])
    >>> merge_pieces(labels, doubtful, typical=100.0, smallest=30)[10, ::3].tolist()
    [0, 0, 1, 1, 1, 0, 3, 3, 3, 3]
    """
    pairs = [(int(p), int(q)) for p, q in _touching_pairs(labels)
             if doubtful[p] and doubtful[q]]
    if not pairs or not typical > 0:
        return labels
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    count = len(doubtful)
    first, second = np.array(pairs).T
    graph = coo_matrix((np.ones(len(pairs)), (first, second)), shape=(count, count))
    _, component = connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for label in np.unique(np.concatenate([first, second])):
        groups.setdefault(int(component[label]), []).append(int(label))
    sizes = np.bincount(labels.ravel(), minlength=count)
    lookup = np.arange(count)
    for members in groups.values():
        total = sizes[members].sum()
        if not smallest <= total <= _PIECES_LARGEST * typical:
            continue
        if _solidity(np.isin(labels, members)) < _PIECES_SOLIDITY:
            continue
        lookup[members] = members[0]
    return lookup.astype(labels.dtype)[labels]
