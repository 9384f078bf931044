"""Exact, fast inference for a fitted scikit-learn random forest on feature stacks.

:func:`pack_forest` turns the trees of a fitted
:class:`~sklearn.ensemble.RandomForestClassifier` into a few flat numeric arrays (the form
saved to disk); :func:`predict_packed` evaluates them on a feature-major stack
``(F, *spatial)`` and returns what ``predict_proba`` returns, several times faster.

How it is fast
    Trees are evaluated the QuickScorer way (Lucchese et al., SIGIR 2015): number the leaves
    of a tree left to right and give each pixel a bitvector with one bit per leaf, all set.
    A split node that sends the pixel right rules out the leaves of its left subtree, a
    contiguous run of bits, so it clears them with one AND; the pixel's leaf is the lowest
    bit still set, whatever order the nodes are visited in. So every node is applied to a
    block of pixels at once: one pass over a contiguous row of one feature, compare with a
    scalar threshold, AND a scalar mask into the block's bitvectors. There is no pointer
    chasing, no branch, and the loop vectorises; four nodes share each pass. Bitvectors are
    uint32 words (a tree with more than 32 leaves has several, and a node touches only the
    words its run of leaves covers). Blocks of 256 pixels are copied first so that the
    feature rows stay in L1; blocks are split over the cores by the feature bank's thread
    pool (``nogil`` kernel, thread-safe). The cost grows with the number of split nodes
    rather than the depth, which suits the shallow trees of pixel classifiers.

How it is exact
    scikit-learn sends ``x`` left when ``float32(x) <= threshold`` (a float64). Thresholds
    are rounded *down* to float32, so that ``x <= t32`` exactly when ``x <= t64`` for every
    float32 ``x``, and both sides are compared as int32 keys, a bijection of float32 that
    keeps the order of all non-NaN values (``-0.0`` thresholds become ``+0.0``). A block
    that holds a NaN is run with a slower comparison that also sends NaN where
    scikit-learn does (``tree_.missing_go_to_left``). Leaves hold scikit-learn's class
    fractions in float32 and are summed tree by tree in float32, so probabilities match to
    about 1e-7.
"""

from __future__ import annotations

from functools import cache

import numpy as np

FORMAT_VERSION = 1
_WORD_BITS = 32
_GROUP = 4  # nodes applied per pass over a block; each word's nodes are padded to a multiple
_BLOCK = 256  # pixels per block: F rows of 1 KiB stay in L1
_KEYS = (
    "format",
    "n_features",
    "feature",
    "threshold",
    "mask",
    "missing_left",
    "word_nodes",
    "tree_words",
    "tree_leaves",
    "leaf_values",
)


def _float_keys(values: np.ndarray) -> np.ndarray:
    """int32 keys ordered as the float32 values (NaN aside; -0.0 sorts before +0.0)."""
    bits = np.ascontiguousarray(values, np.float32).view(np.int32)
    return bits ^ ((bits >> 31) & 0x7FFFFFFF)


def _round_down(threshold: np.ndarray) -> np.ndarray:
    """float32 ``t32 <= t64`` with no float32 in between, so ``x <= t32`` iff ``x <= t64``."""
    t32 = threshold.astype(np.float32)
    above = t32.astype(np.float64) > threshold
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    t32[t32 == 0] = 0.0  # a -0.0 threshold would send x = +0.0 right
    return t32


def _tree_nodes(tree, word0: int) -> tuple[list[tuple], int, np.ndarray]:
    """One tree as (word, feature, threshold, mask, missing_left) entries, its word count and
    its leaves (node indices) left to right."""
    left, right = tree.children_left, tree.children_right
    order, stack = [], [0]  # leaves left to right: depth first, left child first
    while stack:
        node = stack.pop()
        if left[node] == -1:
            order.append(node)
        else:
            stack += [right[node], left[node]]
    leaves = np.array(order, np.int64)
    # [first, end) leaf ranks under each node; a child's index is larger than its parent's
    first = np.zeros(tree.node_count, np.int64)
    first[leaves] = np.arange(len(leaves))
    end = first + 1
    for node in np.flatnonzero(left != -1)[::-1]:
        first[node], end[node] = first[left[node]], end[right[node]]
    thresholds = _round_down(tree.threshold)
    entries = []
    for node in np.flatnonzero(left != -1):
        a, b = int(first[left[node]]), int(end[left[node]])  # ruled out when going right
        for word in range(a // _WORD_BITS, (b - 1) // _WORD_BITS + 1):
            lo = max(a - word * _WORD_BITS, 0)
            hi = min(b - word * _WORD_BITS, _WORD_BITS)
            bits = ((1 << hi) - 1) ^ ((1 << lo) - 1)
            entries.append(
                (
                    word0 + word,
                    int(tree.feature[node]),
                    thresholds[node],
                    ~bits & 0xFFFFFFFF,
                    int(tree.missing_go_to_left[node]),
                )
            )
    return entries, -(-len(leaves) // _WORD_BITS), leaves


def pack_forest(forest) -> dict[str, np.ndarray]:
    """Flatten a fitted random forest classifier into arrays for :func:`predict_packed`.

    Parameters
    ----------
    forest : sklearn.ensemble.RandomForestClassifier
        A fitted single-output forest (``ExtraTreesClassifier`` works too); its classes may
        be any subset of labels, e.g. ``[1, 3, 4]``.

    Returns
    -------
    dict of str to ndarray
        Numeric arrays only, with fixed dtypes, ready for safetensors. Each tree has one
        uint32 word per 32 leaves (leaf ``j`` is bit ``j % 32`` of its word ``j // 32``, left
        to right); the split nodes are stored as AND masks on those words:

        - ``format``, ``n_features``: int64, one element each.
        - ``feature`` (int32), ``threshold`` (float32, rounded down), ``mask`` (uint32),
          ``missing_left`` (uint8): one entry per split node and word it touches; a value
          ``> threshold`` (or NaN where ``missing_left`` is 0) ANDs ``mask`` into the word.
        - ``word_nodes``: int64 ``(n_words + 1,)``, the entries of word ``w`` are
          ``word_nodes[w]:word_nodes[w + 1]``, padded with no-op entries to a multiple of 4.
        - ``tree_words``, ``tree_leaves``: int64 ``(n_trees + 1,)``, the words and leaves of
          tree ``t`` start at entry ``t``.
        - ``leaf_values``: float32 ``(n_leaves, C)``, each leaf's class fractions in
          ``forest.classes_`` order.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((200, 3), dtype=np.float32)
    >>> forest = RandomForestClassifier(n_estimators=5, random_state=0)
    >>> forest = forest.fit(x, (x[:, 0] > 0.5) + 2 * (x[:, 1] > 0.5))
    >>> packed = pack_forest(forest)
    >>> packed["tree_words"].shape, packed["leaf_values"].shape[1]
    ((6,), 4)
    """
    estimators = getattr(forest, "estimators_", None)
    if not estimators or not hasattr(forest, "classes_"):
        raise ValueError(
            f"forest must be a fitted RandomForestClassifier, got {type(forest).__name__}; "
            "call forest.fit(x, y) first"
        )
    if getattr(forest, "n_outputs_", 1) != 1:
        raise ValueError(
            f"forest predicts {forest.n_outputs_} outputs; only single-output classifiers "
            "can be packed"
        )
    n_classes = len(forest.classes_)
    noop = (0, 0.0, 0xFFFFFFFF, 1)
    entries, word_nodes, tree_words, tree_leaves, values = [], [0], [0], [0], []
    for estimator in estimators:
        tree = estimator.tree_
        nodes, n_words, leaves = _tree_nodes(tree, tree_words[-1])
        nodes.sort(key=lambda node: node[:2])  # by word, then feature
        for word in range(tree_words[-1], tree_words[-1] + n_words):
            mine = [node[1:] for node in nodes if node[0] == word]
            entries += mine + [noop] * (-len(mine) % _GROUP)
            word_nodes.append(len(entries))
        tree_words.append(tree_words[-1] + n_words)
        tree_leaves.append(tree_leaves[-1] + len(leaves))
        values.append(tree.value[leaves, 0, :n_classes])
    feature, threshold, mask, missing = zip(*entries, strict=True) if entries else ([],) * 4
    return {
        "format": np.array([FORMAT_VERSION], np.int64),
        "n_features": np.array([forest.n_features_in_], np.int64),
        "feature": np.array(feature, np.int32),
        "threshold": np.array(threshold, np.float32),
        "mask": np.array(mask, np.uint32),
        "missing_left": np.array(missing, np.uint8),
        "word_nodes": np.array(word_nodes, np.int64),
        "tree_words": np.array(tree_words, np.int64),
        "tree_leaves": np.array(tree_leaves, np.int64),
        "leaf_values": np.concatenate(values).astype(np.float32),
    }


def _check_packed(packed) -> int:
    """Validate a packed forest and return its number of features."""
    if not isinstance(packed, dict):
        raise TypeError(f"packed must be the dict from pack_forest, got {type(packed).__name__}")
    missing = [key for key in _KEYS if key not in packed]
    if missing:
        raise ValueError(
            f"packed lacks {missing}; pass the dict returned by pack_forest (or loaded back "
            "from where it was saved)"
        )
    version = int(np.asarray(packed["format"]).ravel()[0])
    if version != FORMAT_VERSION:
        raise ValueError(
            f"packed forest has format {version}, this microlab reads format "
            f"{FORMAT_VERSION}; pack the forest again with this version"
        )
    return int(np.asarray(packed["n_features"]).ravel()[0])


def predict_packed(
    packed: dict[str, np.ndarray], features: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Class probabilities of a packed forest for every pixel of a feature stack.

    Equal to ``forest.predict_proba(features.reshape(F, -1).T)`` reshaped to
    ``(C, *spatial)``, up to float32 rounding of the sum over trees (about 1e-7).

    Parameters
    ----------
    packed : dict of str to ndarray
        The forest, from :func:`pack_forest`.
    features : ndarray
        Feature-major stack ``(F, *spatial)``: ``(F, Y, X)``, ``(F, Z, Y, X)`` or a list of
        pixels ``(F, N)``. C-contiguous float32 is used in place, and so is a float32 crop of
        such a stack along its spatial axes (a feature bank's window cut to its chunk);
        anything else is converted
        first (as scikit-learn converts to float32). NaN goes where scikit-learn sends it.
    out : ndarray, optional
        C-contiguous float32 array of shape ``(C, *spatial)`` to write the result into.

    Returns
    -------
    ndarray
        float32 ``(C, *spatial)``, classes in ``forest.classes_`` order; ``out`` if given.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((300, 2), dtype=np.float32)
    >>> forest = RandomForestClassifier(n_estimators=10, random_state=0)
    >>> forest = forest.fit(x, (x[:, 0] > 0.5) + 2 * (x[:, 1] > 0.5))
    >>> features = rng.random((2, 64, 48), dtype=np.float32)
    >>> proba = predict_packed(pack_forest(forest), features)
    >>> proba.shape, proba.dtype
    ((4, 64, 48), dtype('float32'))
    >>> expected = forest.predict_proba(features.reshape(2, -1).T)
    >>> bool(np.allclose(proba.reshape(4, -1).T, expected, atol=1e-6))
    True
    """
    n_features = _check_packed(packed)
    features = _checked_features(features, n_features)
    shape = (np.asarray(packed["leaf_values"]).shape[1], *features.shape[1:])
    if out is None:
        out = np.empty(shape, np.float32)
    elif not (
        isinstance(out, np.ndarray)
        and out.shape == shape
        and out.dtype == np.float32
        and out.flags.c_contiguous
        and out.flags.writeable
    ):
        raise ValueError(
            f"out must be a writeable C-contiguous float32 array of shape {shape}, got "
            f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
        )
    _run(packed, features, out.reshape(shape[0], -1), np.empty(0, np.uint8),
         np.zeros(1, np.int64))
    return out


def predict_labels_packed(
    packed: dict[str, np.ndarray], features: np.ndarray, label_of: np.ndarray
) -> np.ndarray:
    """The most probable class of every pixel, without keeping the probabilities.

    The same as ``label_of[np.argmax(predict_packed(packed, features), axis=0)]`` (ties go
    to the first class), in one pass: no ``(C, *spatial)`` array is written or read back.

    Parameters
    ----------
    packed : dict of str to ndarray
        The forest, from :func:`pack_forest`.
    features : ndarray
        Feature-major stack ``(F, *spatial)``, as for :func:`predict_packed`.
    label_of : ndarray
        The label to give each of the forest's classes (``forest.classes_`` order); the
        result has the smallest unsigned dtype that holds them.

    Returns
    -------
    ndarray
        Labels ``(*spatial)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> x = np.float32([[0], [1], [2], [3]])  # classes 5 (x < 1.5) and 7
    >>> forest = RandomForestClassifier(3, bootstrap=False).fit(x, [5, 5, 7, 7])
    >>> labels = predict_labels_packed(pack_forest(forest), np.float32([[[0.2, 2.9]]]), [1, 2])
    >>> labels.tolist(), labels.dtype
    ([[1, 2]], dtype('uint8'))
    """
    from ..segmenter import label_dtype

    n_features = _check_packed(packed)
    features = _checked_features(features, n_features)
    label_of = np.asarray(label_of, np.int64).ravel()
    n_classes = np.asarray(packed["leaf_values"]).shape[1]
    if label_of.size != n_classes or (label_of < 0).any():
        raise ValueError(
            f"label_of must give a non-negative label to each of the forest's {n_classes} "
            f"classes, got {label_of.tolist()}"
        )
    labels = np.empty(features.shape[1:], label_dtype(int(label_of.max(initial=0))))
    _run(packed, features, np.empty((n_classes, 0), np.float32), labels.reshape(-1),
         label_of)
    return labels


def _checked_features(features, n_features: int) -> np.ndarray:
    """``features`` as float32 the kernel reads in place: C-contiguous, or a crop of a
    larger block along its spatial axes (each row contiguous, as a bank's window cropped to
    its chunk); anything else is copied."""
    features = np.asarray(features)
    if features.ndim < 2 or features.shape[0] != n_features:
        raise ValueError(
            f"features must be a feature-major stack ({n_features}, *spatial) for this "
            f"forest, got shape {features.shape}"
        )
    if features.dtype.kind not in "biuf":
        raise TypeError(f"features must hold real numbers, got dtype {features.dtype}")
    if features.dtype == np.float32 and _crop_strides(features) is not None:
        return features
    return np.ascontiguousarray(features, dtype=np.float32)


def _crop_strides(features: np.ndarray) -> list[int] | None:
    """The spatial strides in items of a float32 stack the kernel reads without a copy
    (rows contiguous, strides positive and growing outwards, so no two pixels share an
    item), else None."""
    if features.flags.c_contiguous:
        return [1]
    strides = features.strides[1:]
    if strides[-1] != 4 or any(s <= 0 or s % 4 for s in features.strides):
        return None
    steps = [s // 4 for s in strides]
    for d in range(len(steps) - 1):
        if steps[d] < steps[d + 1] * features.shape[d + 2]:
            return None
    return steps


def _run(packed, features: np.ndarray, out: np.ndarray, labels: np.ndarray,
         label_of: np.ndarray) -> None:
    """Run the kernel: probabilities into ``out`` (C, N) unless it is empty (C, 0), labels
    into ``labels`` (N,) unless it is empty."""
    n_features = features.shape[0]
    leaf_values = np.ascontiguousarray(packed["leaf_values"], dtype=np.float32)
    n_pixels = features[0].size
    if n_pixels == 0:
        return
    # feature f of pixel p (C order over the spatial axes) is item f * fstep + sum(index *
    # steps) of one flat run of memory: f * n_pixels + p when contiguous, else a crop's
    # place in its block
    steps = _crop_strides(features)
    if steps == [1]:
        flat, fstep, dims = features.reshape(-1), n_pixels, [n_pixels]
    else:
        from numpy.lib.stride_tricks import as_strided

        dims = list(features.shape[1:])
        fstep = features.strides[0] // 4
        span = 1 + (n_features - 1) * fstep + sum(
            (n - 1) * step for n, step in zip(dims, steps, strict=True))
        flat = as_strided(features, (span,), (4,))
    # classes padded to a multiple of 4, summed 4 at a time
    padded = np.zeros((leaf_values.shape[0], -(-leaf_values.shape[1] // 4) * 4), np.float32)
    padded[:, : leaf_values.shape[1]] = leaf_values
    from ..features._kernels import run_rows

    run_rows(
        _kernels().predict_blocks,
        -(-n_pixels // _BLOCK),
        _BLOCK,
        np.ascontiguousarray(packed["feature"], dtype=np.int64),
        _float_keys(packed["threshold"]),
        np.ascontiguousarray(packed["mask"], dtype=np.uint32),
        np.ascontiguousarray(packed["missing_left"], dtype=np.uint8),
        np.ascontiguousarray(packed["word_nodes"], dtype=np.int64),
        np.ascontiguousarray(packed["tree_words"], dtype=np.int64),
        np.ascontiguousarray(packed["tree_leaves"], dtype=np.int64),
        padded.reshape(-1),
        flat.view(np.int32),
        n_features,
        fstep,
        np.asarray(dims, np.int64),
        np.asarray(steps, np.int64),
        out,
        labels,
        label_of,
    )


@cache
def _kernels():
    """Compile (or load from numba's cache) the kernel; numba is imported on first use.

    It is one function on purpose: split into jitted helpers, its cache key (which hashes
    the pickled closure variables) changed from process to process and it recompiled on
    every start.
    """
    from types import SimpleNamespace

    from numba import njit, uint32, uint64
    from numba.cpython.unsafe import numbers

    from .._numba import announce_compile

    block, word_bits = _BLOCK, _WORD_BITS
    ones = uint32(0xFFFFFFFF)
    key_inf, key_minus_inf = (int(k) for k in _float_keys(np.float32([np.inf, -np.inf])))

    @njit(nogil=True, cache=True, error_model="numpy")
    def predict_blocks(
        feature,
        threshold,
        mask,
        missing_left,
        word_nodes,
        tree_words,
        tree_leaves,
        values,
        keys,
        n_features,
        fstep,
        dims,
        steps,
        out,
        labels,
        label_of,
        block0,
        block1,
    ):
        n_pixels = 1
        for n in dims:
            n_pixels *= n
        n_classes = out.shape[0]
        with_proba, with_labels = out.shape[1] > 0, labels.size > 0
        n_trees = tree_words.size - 1
        width = values.size // tree_leaves[-1]  # fractions per leaf, a multiple of 4
        xb = np.empty((n_features, block), np.int32)
        run_at = np.empty(block, np.int64)
        run_start = np.empty(block, np.int64)
        run_size = np.empty(block, np.int64)
        index = np.empty(dims.size, np.int64)
        last = dims.size - 1
        words = np.empty((word_nodes.size - 1, block), np.uint32)
        leaf = np.empty((n_trees, block), np.uint32)
        scale = np.float32(n_trees)
        for b in range(block0, block1):
            # 1. copy the block's feature rows as keys (repeating its last pixel past the end)
            p0 = b * block
            n = min(block, n_pixels - p0)
            # the block's pixels as runs contiguous in each feature's keys (one per row
            # of a crop it touches, one in all when contiguous): the first pixel's index,
            # then a run to the end of its row, carried into the other axes
            p, a = p0, 0
            for d in range(last, -1, -1):
                q = p // dims[d]
                index[d] = p - q * dims[d]
                a += index[d] * steps[d]
                p = q
            runs, i = 0, 0
            while i < n:
                m = min(n - i, dims[last] - index[last])
                run_at[runs], run_start[runs], run_size[runs] = a, i, m
                runs += 1
                i += m
                index[last] += m
                a += m * steps[last]
                d = last
                while d > 0 and index[d] == dims[d]:
                    a -= index[d] * steps[d]
                    index[d] = 0
                    d -= 1
                    index[d] += 1
                    a += steps[d]
            lo = hi = np.int32(0)
            for f in range(n_features):
                dst = xb[f]
                for r in range(runs):
                    src = keys[f * fstep + run_at[r] : f * fstep + run_at[r] + run_size[r]]
                    row = dst[run_start[r] : run_start[r] + run_size[r]]
                    for i in range(run_size[r]):
                        k = src[i] ^ ((src[i] >> 31) & 0x7FFFFFFF)
                        row[i] = k
                        lo = min(lo, k)
                        hi = max(hi, k)
                for i in range(n, block):
                    dst[i] = dst[n - 1]
            # 2. clear the leaves that each node rules out: word[i] &= mask where the pixel
            # goes right, four nodes per pass (no-op entries pad each word's nodes)
            words[:] = ones
            if hi <= key_inf and lo >= key_minus_inf:  # no NaN
                for w in range(word_nodes.size - 1):
                    word = words[w]
                    for j in range(word_nodes[w], word_nodes[w + 1], 4):
                        x0, x1 = xb[feature[j]], xb[feature[j + 1]]
                        x2, x3 = xb[feature[j + 2]], xb[feature[j + 3]]
                        t0, t1 = threshold[j], threshold[j + 1]
                        t2, t3 = threshold[j + 2], threshold[j + 3]
                        m0, m1, m2, m3 = mask[j], mask[j + 1], mask[j + 2], mask[j + 3]
                        for i in range(block):
                            m01 = (m0 if x0[i] > t0 else ones) & (m1 if x1[i] > t1 else ones)
                            m23 = (m2 if x2[i] > t2 else ones) & (m3 if x3[i] > t3 else ones)
                            word[i] &= m01 & m23
            else:  # NaN (a key beyond the infinities) goes right unless missing_left
                for w in range(word_nodes.size - 1):
                    word = words[w]
                    for j in range(word_nodes[w], word_nodes[w + 1]):
                        x, t, m = xb[feature[j]], threshold[j], mask[j]
                        nan_right = missing_left[j] == 0
                        for i in range(block):
                            nan = (x[i] > key_inf) | (x[i] < key_minus_inf)
                            word[i] &= m if (nan_right if nan else x[i] > t) else ones
            # 3. each tree's leaf: the lowest bit set over its words (the last word is never
            # zero: the rightmost leaf is never ruled out)
            for t in range(n_trees):
                found = leaf[t]
                for w in range(tree_words[t + 1] - 1, tree_words[t] - 1, -1):
                    word = words[w]
                    base = uint32(tree_leaves[t] + (w - tree_words[t]) * word_bits)
                    if w == tree_words[t + 1] - 1:
                        for i in range(block):
                            found[i] = base + uint32(numbers.trailing_zeros(word[i]))
                    else:
                        for i in range(block):
                            bits = word[i]
                            if_set = base + uint32(numbers.trailing_zeros(bits))
                            found[i] = if_set if bits != 0 else found[i]
            # 4. mean over trees of the leaves' class fractions, four classes at a time; the
            # label is the first class of the highest mean
            for i in range(n):
                best, arg = np.float32(-1), 0
                for c in range(0, n_classes, 4):
                    s0 = s1 = s2 = s3 = np.float32(0)
                    for t in range(n_trees):
                        k = uint64(leaf[t, i]) * uint64(width) + uint64(c)
                        s0 += values[k]
                        s1 += values[k + uint64(1)]
                        s2 += values[k + uint64(2)]
                        s3 += values[k + uint64(3)]
                    for d, s in enumerate((s0, s1, s2, s3)):
                        if c + d < n_classes:
                            mean = s / scale
                            if with_proba:
                                out[c + d, p0 + i] = mean
                            if mean > best:
                                best, arg = mean, c + d
                if with_labels:
                    labels[p0 + i] = label_of[arg]

    announce_compile(predict_blocks, "forest kernel", "a few seconds")
    return SimpleNamespace(predict_blocks=predict_blocks)
