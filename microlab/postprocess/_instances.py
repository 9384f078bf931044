"""From pixel predictions to labelled objects: seeded watershed on the distance transform."""

from __future__ import annotations

import numbers

import numpy as np
from scipy import ndimage as ndi

from .._checks import as_array, check_finite, check_numeric, positive_spacing, spatial_image
from .._memory import reuse_freed_memory
from .._ndfilters import (
    binary_fill_holes,
    distance_transform_edt,
    gaussian_filter,
    gaussian_laplace,
    maximum_filter3,
)

KINDS = ("auto", "mask", "probability", "classes", "boundary")


def instances(
    prediction,
    *,
    kind: str = "auto",
    foreground: int | tuple[int, ...] | None = None,
    threshold: float = 0.5,
    h: float | None = None,
    min_distance: float | None = None,
    smooth: float | None = None,
    min_size: int | None = None,
    denoise: float | None = None,
    core: float | None = 0.7,
    fill_holes: bool = True,
    exclude_border: bool = False,
    spacing: tuple[float, ...] | float | None = None,
    image=None,
    object_scale: float | None = None,
) -> np.ndarray:
    """Split a foreground prediction into labelled objects, touching ones included.

    The foreground's Euclidean distance transform is computed (in physical units when
    ``spacing`` is known, so anisotropic z-stacks split correctly) and lightly smoothed, one
    seed is placed in each of its peaks and a marker-based watershed of the negated distance
    grows the seeds until they meet: two touching round nuclei become two objects split
    along their neck. With the 3-class output of a boundary segmenter the foreground is
    what is not background, and the seeds are sought in the predicted interiors (see
    ``core``), which stand apart where touching objects meet.

    Seeds (markers) come from one of two rules:

    * **h-maxima** (the default): every peak of the distance transform that rises at least
      ``h`` above the saddle joining it to a higher peak. The default adapts to the objects'
      size: with *R* the typical radius (the median, over connected blobs of at least
      ``min_size`` pixels, of their largest distance to the background), the distance is
      smoothed with a Gaussian of 0.1 *R* and ``h = 0.04 R``. The neck between two touching
      nuclei lies far deeper than that (0.5 *R* and more); the jagged outline of a noisy
      mask makes shallower bumps. Raise ``h`` if nuclei are cut into pieces, lower it if
      touching ones stay merged.
    * **peak distance**: with ``min_distance`` set (and ``h`` left None), the local maxima
      of the smoothed distance at least ``min_distance`` apart
      (:func:`skimage.feature.peak_local_max`). Use about the radius of the smallest
      nucleus.

    Every connected blob gets at least one seed, so no foreground is lost.

    **Pieces cut off a nucleus are merged back** (with probabilities, or with the image,
    and the seeds left to the defaults; :mod:`microlab.postprocess._fragments`). At small
    radii ``h`` is a fraction of a pixel (0.2 px at *R* = 5), as are the bumps of a real
    nucleus' jagged outline, so the distance transform can cut one in two. A piece smaller
    than 0.6 of a typical object, convex together with the object it touches (no neck),
    is merged with it unless the foreground probability dips on the line between them
    (below 0.95 of the less sure part's median there: a classifier hesitates where two
    nuclei touch, not inside one); with the image, the image's own valley decides (below).
    Measured on forest predictions of real nuclei packed touching, without the image
    (``benchmarks/bench_instances.py --real``, 3 sources, 2 densities, 2 seeds), AP@0.5
    0.917 / 0.981 / 0.981 / 0.988 / 0.986 / 0.970 → 0.959 / 0.993 / 0.982 / 1.000 / 1.000 /
    0.978 at radius 5 / 8 / 12 / 20 / 30 / 45 px; on cached forest predictions of the
    generated nuclei of ``benchmarks/bench_rf_instances.py`` 0.636 → 0.637 overall
    (radius 5: −0.011, elongated nuclei: up to +0.014).

    **Cleanup follows the objects' size** (the defaults, ``min_size=None`` and
    ``denoise=None``): a pixel classifier trained from a few strokes leaves debris -- small
    false blobs and speckled holes inside large nuclei -- whose size is a fraction of a
    nucleus', whatever the magnification. With *R* the typical radius of the foreground's
    blobs (the area-weighted median of their largest distance to the background, so that
    debris hardly counts; see :func:`typical_radius`), probabilities are smoothed with a
    Gaussian of 0.02 *R* before they are thresholded, and after the split objects smaller
    than a fifth of a typical object (the area-weighted median of the objects' sizes) are
    removed, and those under 0.3 of it unless the prediction is sure of them (mean
    probability at least 0.85: small nuclei among large ones are predicted as surely as
    the large ones, a classifier's debris is not); from a mask, objects under a quarter of
    a typical object. Objects cut by the image border are kept (from 16 pixels up).
    ``benchmarks/bench_rf_instances.py`` measures this on forest predictions of generated
    nuclei of radius 5 to 45 px with and without debris.

    Parameters
    ----------
    prediction : array-like or microlab.Image
        One of (``kind`` says which, or it is guessed):

        * ``"mask"`` -- a boolean (or 0/1 integer) foreground mask, ``(Y, X)`` or
          ``(Z, Y, X)``;
        * ``"probability"`` -- a float map of the foreground probability in [0, 1],
          thresholded at ``threshold``;
        * ``"classes"`` -- a ``(C, *spatial)`` probability stack from
          ``Segmenter.predict_proba``; the foreground probability is the sum of the channels
          in ``foreground`` (channel *k* holds class *k + 1*). Guessed when a float array's
          first axis has 2 to 16 entries that sum to 1; with 2 classes ``foreground``
          defaults to channel 1 (the second class);
        * ``"boundary"`` -- the output of a boundary/interior segmenter: a ``(3, *spatial)``
          probability stack ordered background, boundary, interior, or integer labels
          1 = background, 2 = boundary, 3 = interior. Never guessed: say ``kind="boundary"``.
          The foreground probability is 1 minus the background's; seeds come from the
          interior (below).

    kind : {"auto", "mask", "probability", "classes", "boundary"}
        How to read ``prediction``.
    foreground : int or tuple of int, optional
        With ``kind="classes"``: the channel index (or indices) of the object class(es).
    threshold : float
        Foreground where the foreground probability exceeds it (probability, classes and
        boundary probabilities).
    h : float, optional
        Minimum height of a distance peak to seed an object (h-maxima rule), in the units
        of ``spacing`` (pixels without it). Default ``0.04 R`` (see above).
    min_distance : float, optional
        Minimum distance between two seeds (peak-distance rule), in the units of
        ``spacing``. Used only when ``h`` is None.
    smooth : float, optional
        Standard deviation of the Gaussian that smooths the distance transform before
        seeds are sought, in the units of ``spacing``; 0 for none. Default ``0.1 R``.
    min_size : int, optional
        Objects with fewer pixels (voxels in 3D) are removed (set to background). Default:
        relative to the objects' size, as described above (never below 16 pixels).
    denoise : float, optional
        Standard deviation of the Gaussian that smooths a probability map before it is
        thresholded, in the units of ``spacing``; 0 for none. Default ``0.02 R``. Not
        used for masks and boundary labels (a boundary segmenter's probabilities are
        denoised, its interior too).
    core : float, optional
        With probabilities: seeds are sought in the confident core, where the foreground
        probability exceeds ``core`` (the distance transform of the core, the rules above),
        and grown over the whole foreground. Touching nuclei are joined where the classifier
        hesitates, so their cores stand apart more clearly than their masks. A blob with no
        core, None, or a value not above ``threshold`` seeds in the foreground itself, as
        for a mask. A map of only 0 and 1 is treated as a mask (no denoising, no core).
        With ``kind="boundary"`` the core is instead the predicted interior (interior
        probability above 0.4, denoised as the foreground is, or label 3), whatever
        ``core`` is. Each of its connected parts seeds one object, divided only where its
        own distance transform, times 1 minus the boundary probability, has peaks at least
        0.07 *R* above the neck between them (small objects found enlarged, see
        ``object_scale``: 0.05 *R* from twice their size, linear between; or by the ``h`` /
        ``min_distance`` given): a
        leak across the neck of two touching nuclei still splits, and so does an interior
        that runs across a wide contact where the boundary class hesitates (0.2-0.4); a
        thin, elongated interior with a slight waist does not.
        Measured on U-Net outputs for touching nuclei (3-minute models, 6 test images,
        ``benchmarks/bench_unet_nuclei.py``): AP@0.5 / AP@0.75 0.995 / 0.988 → 0.999 /
        0.995 on round nuclei and 0.794 / 0.580 → 0.925 / 0.828 on nuclei 2.5 times longer
        than wide, against seeds at every peak of the interior's distance (h = 0.04 of the
        interior's depth, the rule before, which cut elongated nuclei across). A deeper
        neck (0.3 *R*) scored higher on the elongated nuclei (0.955 / 0.894) but merged
        touching real nuclei (BBBC038) whose predicted interiors meet. Weighting the
        distance by 1 minus the boundary probability: 0.925 / 0.828 → 0.930 / 0.839 on
        the elongated nuclei, round ones unchanged, 0.977 / 0.954 → 0.988 / 0.988 on
        nuclei of radius 12-24 px (two 1-minute models, 4 test images).
        The interior above 0.4 and the neck at 0.07 *R* (0.6 and 0.1 *R* before): a
        nucleus the network is less sure of (dim, textured) still has an interior of its
        own instead of being flooded from its neighbour's, and the larger interiors, which
        meet more often, are divided at shallower necks. Measured on the same outputs of
        18 U-Nets (36 test images: real nuclei of osteosarcoma, BBBC022 and BBBC038 packed
        touching with 15 % overlap, generated round and 2.5 times elongated nuclei of
        radius 6-12 px, 3-minute models; generated nuclei of radius 12-24 px, 1-minute
        models; the scenes of ``benchmarks/bench_unet_nuclei.py``), AP@0.5 / AP@0.75
        0.932 / 0.842 → 0.947 / 0.863, at least as high on every kind (BBBC038 0.843 /
        0.642 → 0.872 / 0.677, osteosarcoma 0.899 / 0.768 → 0.921 / 0.805, BBBC022 0.940
        → 0.951, elongated 0.924 / 0.831 → 0.942 / 0.870); the worst image 0.789 →
        0.863. The interior above 0.4 with the neck at 0.1 *R* scored alike on average
        but merged a pair meeting along a wide contact; 0.35 to 0.45 score alike, 0.5
        lower. On fresh 5-minute U-Nets on the real scenes (``bench_unet_nuclei.py --real
        --overlap 0.15 --runs 3 --minutes 5 --interior-rules 0.6:0.1 0.4:0.07``, which
        scores both rules on the same outputs): 0.866 / 0.707 → 0.873 / 0.714.
        Two touching objects are then merged where the network drew no boundary between
        them: the boundary probability on the line between them averages below 0.45,
        together they are convex (solidity at least 0.95: touching nuclei meet at a neck)
        and no larger than 2.5 typical objects, each object merged once at most
        (:func:`microlab.postprocess._fragments.merge_unbounded`; at the prediction's own
        pixels and with the default seeds only). A large, textured nucleus whose interior
        the network is less sure of across its middle is otherwise cut in halves there.
        Screened on U-Net outputs (fixed-step fits; 20 painted nuclei, the other half
        scored): AP@0.5 +0.047, 0, +0.059 on three halves of the HeLa frame of
        ``docs/benchmarks.md`` (session 58), +0.074, +0.008, +0.021 on three of the DSB 2018
        crop, −0.011 to +0.005 on the packed real and generated nuclei (a touching pair
        merged here and there), unchanged where the objects are small enough to be found
        enlarged.
        Before the size cleanup, touching objects that would each be removed as debris
        (under 0.3 of a typical object, not surely predicted) become one object where
        together they hold 0.3 to 1.5 typical objects and are convex (solidity at least
        0.85; :func:`microlab.postprocess._fragments.merge_pieces`; own pixels, default
        seeds and ``min_size``): a nucleus much dimmer than the painted ones, which the
        network half-sees, otherwise comes out as a cluster of small pieces and is removed
        whole. Screened on the same U-Net outputs: AP@0.5 +0.012 and +0.011 on two HeLa
        halves, +0.005 and +0.016 on packed real nuclei (a missed nucleus found in each
        merge), the others unchanged.
    fill_holes : bool
        After the split, give every hole enclosed by a single object to that object (a dim
        nucleolus does not make a ring). A gap enclosed by several touching objects stays
        background. Holes are not filled before the split: a gap where three nuclei meet
        helps to separate them.
    exclude_border : bool
        Drop objects that touch the image border (they are cut and would bias size
        measurements).
    spacing : float or tuple of float, optional
        Physical pixel size per spatial axis; taken from ``prediction.spacing`` when it is a
        :class:`microlab.Image` and not given here.
    image : array-like or microlab.Image, optional
        The image the prediction was made from: ``(*spatial)``, ``(C, *spatial)`` or
        ``(*spatial, C)`` (a :class:`microlab.Image` says its own axes). When given, seeds and
        dividing lines also follow the image's *blob-ness* at the objects' scale, not only
        the foreground's shape: a nucleus is a blob of its own even where the classifier's
        foreground fills the neck to its neighbour, which is what merges small, dense,
        touching nuclei. The landscape is the smoothed distance plus *R* times the image's
        normalised Laplacian of Gaussian at 0.5 *R* (sign chosen so that objects are
        peaks, brighter or darker than their surroundings; with several channels, the
        one that best tells objects from background); ``h`` then defaults to 0.1 *R* and
        ``core`` is not used. *R* itself is checked against the image: where the
        classifier filled the gaps between small, dense nuclei, the mask's clumps pass for
        large nuclei and *R* comes out up to twice too large, so *R* is lowered to the
        radius of the image's own blobs (the maxima over position and scale of the
        scale-normalised Laplacian of Gaussian inside the foreground) when that is
        smaller; it is never raised. A piece the blobs cut off a nucleus (smaller than
        0.6 of a typical object, convex together with the object it touches, and no
        dimmer on the line between them than 0.9 of the dimmer part) is merged back,
        unless ``h`` or ``min_distance`` is given (:mod:`microlab.postprocess._fragments`);
        on real nuclei packed touching (``benchmarks/bench_instances.py --real``) this
        raised AP@0.5 from 0.967-0.985 to 0.986-1.000 at radii 5 to 45 px.
        At half an object's radius the Laplacian hardly sees
        fine chromatin texture, but a large, flat or elongated textured nucleus can still
        show two blobs and be cut in two (seen on the osteosarcoma sample), and the blob
        radius of elongated textured nuclei reads small, which cuts more of them across
        (``--profile flat --elongation 2.5``: 0.513 with the image, 0.542 without): leave
        ``image`` out for such nuclei. Measured on forest probabilities of generated nuclei
        of radius 5 to 45 px (``benchmarks/bench_rf_instances.py``, 3 seeds), AP@0.5
        without debris: 0.845 without the image, 0.960 with it (radius 5 0.848, 8 0.945,
        12 and up 0.988-0.996; before pieces were merged back 0.965: 0.864, 0.950); with
        debris 0.656 → 0.824. Before *R* was checked
        against the image: 0.917 (radius 5 0.694, 8 0.892), with debris 0.764. Not for
        ``kind="boundary"``, whose predicted boundary already divides objects.

    object_scale : float, optional
        Find the objects on the prediction enlarged this many times (linearly; masks and
        labels to the nearest pixel, ``image`` linearly too), then bring the labels back to
        its own pixels; 2D only, from 0.25 to 4, 1 for the prediction's own scale. ``h``,
        ``min_distance``, ``smooth`` and ``denoise`` keep their meaning in the units of
        ``spacing``, and ``min_size`` in the prediction's own pixels. The objects found
        enlarged then divide the foreground as it is at the prediction's own pixels (the
        nearest pixel alone would move outlines by up to half a pixel, a large share of a
        small object's IoU). Default (None): 1,
        except for a 2D ``kind="boundary"`` probability stack whose objects are small
        (typical radius, :func:`typical_radius` of the foreground, under 7.5 px) and touch
        (at least a fifth of the foreground in blobs holding two or more predicted
        interiors, ``_CROWDED``): there the factor brings them to 9 px, at most 2 (the rule
        of the segmenters' ``object_scale``, :mod:`microlab._scale`). Small objects that
        mostly stand apart have little to divide and are found at their own pixels, where
        elongated ones stay whole (HeLa nuclei of radius 5.6 and 7 px: +0.017 to +0.043
        AP@0.5 for both tiers, docs/benchmarks.md, session 64). At a few pixels of radius the
        distance transform's peaks and necks are a pixel or less deep, so its seeds and
        splits are coarse. Measured on the same probabilities found both ways (models
        trained enlarged, :mod:`microlab._scale`, on real nuclei overlapping by up to 15 %:
        three real sources, 20 nuclei painted, 3-minute U-Nets; ``benchmarks/
        bench_unet_nuclei.py --real --overlap 0.15``), AP@0.5 / AP@0.75 medians: at radius
        4.5 px the U-Net 0.877 / 0.691 → 0.926 / 0.748 and the forest in instance mode
        0.903 / 0.675 → 0.912 / 0.740; at 5.5 px 0.915 / 0.783 → 0.933 / 0.815 and 0.902 /
        0.756 → 0.920 / 0.766. The labels brought back to the nearest pixel alone (without
        the foreground at its own pixels) scored 0.926 / 0.727 and 0.896 / 0.706 at 4.5 px.
        The forest in instance mode (enlarged), three scenes each: real nuclei of radius
        3.5 px 0.783 / 0.599 → 0.818 / 0.639, of 6.5 px 0.903 / 0.740 → 0.913 / 0.760;
        generated nuclei of radius 3-4 px 0.984 / 0.800 → 0.990 / 0.789, 4-6 and 5-8 px
        within 0.004. A forest that learnt at the image's own scale (``object_scale=1``)
        lost at 3-4 px (0.786 → 0.741 AP@0.5; pass ``object_scale=1`` here too) and gained
        at 6.5 px (0.679 → 0.716 AP@0.75). Not the default for the other kinds, where it
        was not measured. It costs time: at 2× the finder reads four times the pixels and
        took 0.28 s instead of 0.05 s on a 384² U-Net output, 6.5 s instead of 1.0 s on a
        1536² one (2 CPUs). Found enlarged, a predicted interior is divided at a
        shallower neck (``core``): enlarged, the neck between two small touching nuclei
        is a shallower dip than the same neck of nuclei twice as large (at radius 4.5 px
        the U-Net's objects 0.920 / 0.796 → 0.928 / 0.800, the forest's 0.926 / 0.773 →
        0.927 / 0.772; at 5.5 px 0.940 / 0.831 → 0.943 / 0.833 and unchanged at 0.926 /
        0.806; six scenes each, session 49).

    Returns
    -------
    ndarray of int32
        Labels 0 (background) and 1..N, numbered consecutively, with the spatial shape of
        ``prediction``.

    Raises
    ------
    TypeError
        If ``prediction`` is not numeric, or probabilities are not floats.
    ValueError
        If the array cannot be read as the given ``kind``, or a parameter is out of range.

    See Also
    --------
    remove_small : the size cleanup on its own.
    microlab.measure.objects : measure the objects.

    Examples
    --------
    Two overlapping disks make one blob; the watershed splits them:

    >>> import numpy as np
    >>> yy, xx = np.mgrid[:40, :60]
    >>> mask = ((yy - 20) ** 2 + (xx - 20) ** 2 < 144) | ((yy - 20) ** 2 + (xx - 38) ** 2 < 144)
    >>> labels = instances(mask)
    >>> int(labels.max()), int(labels[20, 15]), int(labels[20, 45])
    (2, 1, 2)

    A random forest's ``(C, Y, X)`` probabilities work as they are (class 2 = nuclei):

    >>> proba = np.stack([1 - mask, mask]).astype(np.float32)
    >>> int(instances(proba).max())
    2

    The same in 3D, with a z step twice the pixel size:

    >>> zz, yy, xx = np.mgrid[:20, :30, :50] * np.array([2, 1, 1])[:, None, None, None]
    >>> ball = lambda z, y, x: (zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2 < 100
    >>> int(instances(ball(20, 15, 15) | ball(20, 15, 31), spacing=(2, 1, 1)).max())
    2

    With the image, two touching blobs whose merged mask has hardly a neck still split:

    >>> yy, xx = np.mgrid[:40, :60]
    >>> blobs = np.exp(-((yy - 20) ** 2 + (xx - 22) ** 2) / 50) + np.exp(
    ...     -((yy - 20) ** 2 + (xx - 36) ** 2) / 50)
    >>> wide = (yy - 20) ** 2 / 100 + (xx - 29) ** 2 / 324 < 1  # one smooth ellipse
    >>> int(instances(wide).max()), int(instances(wide, image=blobs).max())
    (1, 2)

    Boundary-class labels (1 = background, 2 = boundary, 3 = interior):

    >>> classes = np.ones((9, 20), np.uint8); classes[2:7, 2:18] = 2
    >>> classes[3:6, 3:9] = classes[3:6, 11:17] = 3
    >>> instances(classes, kind="boundary", min_size=0)[4, ::3].tolist()
    [0, 1, 1, 1, 2, 2, 0]
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if spacing is None:
        spacing = getattr(prediction, "spacing", None)
    array = as_array(prediction, "prediction")
    check_numeric(array, "prediction")
    check_finite(array, "prediction")
    if not isinstance(threshold, numbers.Real) or not 0 <= threshold < 1:
        raise ValueError(f"threshold must be a number in [0, 1), got {threshold!r}")
    for name, value in (("h", h), ("min_distance", min_distance)):
        if value is not None and (not isinstance(value, numbers.Real) or not value > 0):
            raise ValueError(f"{name} must be a positive number or None, got {value!r}")
    if smooth is not None and (not isinstance(smooth, numbers.Real) or not smooth >= 0):
        raise ValueError(f"smooth must be a number >= 0 or None, got {smooth!r}")
    if min_size is not None and (not isinstance(min_size, numbers.Integral) or min_size < 0):
        raise ValueError(
            f"min_size must be a non-negative integer (pixels) or None, got {min_size!r}"
        )
    if core is not None and (not isinstance(core, numbers.Real) or not 0 < core < 1):
        raise ValueError(f"core must be a number in (0, 1) or None, got {core!r}")
    if denoise is not None and (not isinstance(denoise, numbers.Real) or not denoise >= 0):
        raise ValueError(f"denoise must be a number >= 0 or None, got {denoise!r}")
    with reuse_freed_memory():  # big temporary arrays without page faults (see _memory)
        return _found(array, kind=kind, foreground=foreground, threshold=threshold, h=h,
                      min_distance=min_distance, smooth=smooth, min_size=min_size,
                      denoise=denoise, core=core, fill_holes=fill_holes,
                      exclude_border=exclude_border, spacing=spacing, image=image,
                      object_scale=object_scale)


def _found(array: np.ndarray, *, kind, foreground, threshold, h, min_distance, smooth,
           min_size, denoise, core, fill_holes, exclude_border, spacing, image,
           object_scale, enlarged: float = 1.0) -> np.ndarray:
    """:func:`instances` of a checked ``array`` (``enlarged``: the factor by which
    :func:`_enlarged` enlarged it, 1 for a prediction at its own pixels)."""
    kind = _guess_kind(array, kind, foreground)
    ndim = array.ndim - (1 if kind in ("classes", "boundary") and array.dtype.kind == "f"
                         else 0)
    if ndim not in (2, 3):
        raise ValueError(
            f"prediction for kind={kind!r} must have 2 or 3 spatial dimensions, got shape "
            f"{array.shape}"
        )
    space = positive_spacing(spacing, ndim) or (1.0,) * ndim
    factor = _explicit_scale(object_scale, ndim)  # None: the default rule, below
    if image is not None:
        if kind == "boundary":
            raise ValueError(
                "image= is for masks and class probabilities; a boundary prediction "
                "divides touching objects with its own predicted boundary"
            )
        pixels = _image_channels(image, array.shape[array.ndim - ndim:])

    if kind == "boundary":
        probability, interior, boundary = _boundary_parts(array)
    else:
        probability, interior = _foreground_probability(array, kind, foreground), None
    mask = probability > threshold
    soft = kind != "mask" and not np.isin(probability, (0, 1)).all()
    # the mask's typical radius, measured once: the denoising below is at most a pixel
    # or two at the largest radii and moves it by a fraction of a percent
    mask_radius = (typical_radius(mask, space)
                   if (soft and denoise is None) or (image is not None and mask.any())
                   else None)
    if factor is None:
        factor = _default_scale(array, kind, ndim, mask, mask_radius, space, interior)
    if factor != 1:
        return _enlarged(array, factor, space, None if image is None else pixels, mask,
                         min_size, kind=kind, foreground=foreground, threshold=threshold,
                         h=h, min_distance=min_distance, smooth=smooth, denoise=denoise,
                         core=core, fill_holes=fill_holes, exclude_border=exclude_border)
    if soft:
        sigma = 0.02 * mask_radius if denoise is None else denoise
        if sigma > 0:
            probability = gaussian_filter(probability, [sigma / s for s in space])
            mask = probability > threshold
            if interior is not None:
                interior = gaussian_filter(interior, [sigma / s for s in space])
    distance = distance_transform_edt(mask, sampling=space)
    floor = _MIN_PIXELS if min_size is None else min_size
    layer = None  # the image's blob layer, with an image
    merge = h is None and min_distance is None  # seeds left to the defaults
    if image is not None and mask.any():
        # shape and blob-ness together, both in units of length
        layer = _blob_layer(pixels, mask)
        radius = _blob_radius(layer, mask, mask_radius, space)
        sigma = 0.1 * radius if smooth is None else smooth
        if sigma > 0:
            distance = gaussian_filter(distance, [sigma / s for s in space]) * mask
        distance += radius * _blobness(layer, mask, radius, space)
        if h is None and min_distance is None:
            h = _IMAGE_H * radius
        distance, markers = _seeds(distance, mask, space, h, min_distance, 0.0, floor)
    else:
        rules = (h, min_distance, smooth, floor)
        distance, markers = _seeds(distance, mask, space, *rules)
        if interior is not None:
            markers = _interior_markers(interior > _INTERIOR_CORE, mask, markers, space,
                                        rules, 1 - boundary, _interior_neck(enlarged))
        elif soft and core is not None and core > threshold:
            markers = _core_markers(probability > core, mask, markers, space, rules)
    elevation = -distance
    if interior is not None:  # the predicted boundary is a ridge between touching objects
        elevation = elevation * (1 - boundary)

    from skimage.segmentation import watershed

    labels = watershed(elevation, markers, mask=mask)
    if fill_holes:
        labels = _fill_enclosed_holes(labels)
    if merge and interior is not None and soft and (enlarged == 1 or _MERGE_ENLARGED):
        # not among objects small enough to be found enlarged (by default): their pairs
        # look convex at any neck and the boundary between them is faint there
        from ._fragments import merge_unbounded

        if _MERGE_UNBOUNDED:  # a nucleus the seeds cut in two where no boundary was drawn
            labels = merge_unbounded(labels, boundary, _typical_size(labels))
    if merge and (layer is not None or (soft and interior is None)):
        # pieces the seeds cut off a nucleus: the image's blobs, or without the image the
        # distance transform's bumps along a jagged outline (no dip in the probability)
        from ._fragments import PROBABILITY_VALLEY, merge_fragments

        labels = (merge_fragments(labels, layer, _typical_size(labels)) if layer is not None
                  else merge_fragments(labels, probability, _typical_size(labels),
                                       valley=PROBABILITY_VALLEY))
    if min_size is None:  # a dim nucleus in small, unsure pieces is merged first
        pieces = merge and interior is not None and soft and enlarged == 1 and _MERGE_PIECES
        labels = _remove_debris(labels, probability if soft else None, pieces=pieces)
    else:
        labels = remove_small(labels, min_size)
    if exclude_border:
        from skimage.segmentation import clear_border

        labels = clear_border(labels)
    return _relabel(labels)


def _explicit_scale(object_scale, ndim: int) -> float | None:
    """``object_scale`` as given to :func:`instances` (None: the default rule)."""
    from .._scale import check_object_scale

    factor = check_object_scale(object_scale)
    if factor is not None and factor != 1 and ndim != 2:
        raise ValueError(f"object_scale is for 2D predictions; this one has {ndim} "
                         "spatial dimensions (leave object_scale at None or 1)")
    return factor


def _default_scale(array: np.ndarray, kind: str, ndim: int, mask: np.ndarray,
                   mask_radius: float | None, space: tuple, interior) -> float:
    """The factor :func:`instances` enlarges ``array`` by when ``object_scale`` is None:
    :func:`microlab._scale.default_scale` of the foreground ``mask``'s typical radius in
    pixels (``mask_radius`` where it was measured in pixels) for a 2D boundary probability
    stack whose objects touch (:func:`_touching_share` of the ``interior`` probability at
    least :data:`_CROWDED`), 1 otherwise."""
    from .._scale import default_scale

    if kind != "boundary" or ndim != 2 or array.dtype.kind != "f":
        return 1.0
    in_pixels = mask_radius is not None and all(s == 1 for s in space)
    factor = default_scale(mask_radius if in_pixels else typical_radius(mask))
    if factor != 1 and _touching_share(mask, interior) < _CROWDED:
        return 1.0
    return factor


_CROWDED = 0.2
"""By default :func:`instances` finds small objects enlarged only where at least this share
of the foreground lies in blobs that hold two or more predicted interiors: enlarging
divides small touching objects at finer necks, but where the objects mostly stand apart
there is little to divide, and at the enlarged, interpolated scale elongated objects are
cut across their middle (where no predicted boundary divides them, the halves are not
merged there). Measured on the saved test probabilities of both tiers in instance mode
(docs/benchmarks.md, session 64; AP@0.5, medians, enlarged → at the own pixels): HeLa
nuclei shrunk 0.4 and 0.5 times (radius 5.6 and 7.0 px, mostly apart: 0-0.12 of the
foreground in such blobs), U-Net 0.859 → 0.892 and 0.876 → 0.909, the forest 0.826 →
0.869 and 0.847 → 0.864, better in every half; real nuclei packed at radius 4.5 px
(0.59-0.72) would lose 0.029 (U-Net) and 0.052 (forest) at their own pixels and are found
enlarged, as generated nuclei (0.79-0.88) and the U-Net's DSB 2018 crop halved (0.26-0.51)
are; the forest's DSB halves at 0.15-0.16 gain 0.010 and 0.026."""


def _touching_share(mask: np.ndarray, interior: np.ndarray) -> float:
    """The share of the foreground ``mask`` in connected blobs that hold two or more
    interiors (connected parts of ``interior`` probability above 0.5): how much of it is
    objects that touch; 0 for an empty mask.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((8, 20), bool); mask[2:6, 1:5] = mask[2:6, 8:18] = True
    >>> interior = np.zeros((8, 20)); interior[3:5, 2:4] = 1
    >>> interior[3:5, 9:12] = interior[3:5, 14:17] = 1   # two interiors in the long blob
    >>> round(_touching_share(mask, interior), 2)
    0.71
    """
    blobs, n = ndi.label(mask)
    cores, m = ndi.label(interior > 0.5)
    if n == 0 or m == 0:
        return 0.0
    blob_of = np.asarray(ndi.maximum(blobs, cores, np.arange(1, m + 1)), np.intp)
    held = np.bincount(blob_of, minlength=n + 1)
    held[0] = 0  # interiors outside the mask (a threshold above 0.5) hold no blob
    sizes = np.bincount(blobs.ravel(), minlength=n + 1)
    return float(sizes[held >= 2].sum() / max(sizes[1:].sum(), 1))


def _enlarged(array: np.ndarray, factor: float, space: tuple, pixels, mask: np.ndarray,
              min_size, **options) -> np.ndarray:
    """:func:`instances` of the 2D ``array`` (and its image's ``pixels``, ``(C, Y, X)``)
    enlarged ``factor`` times, in its own pixels: the objects found enlarged divide the
    foreground ``mask`` at the prediction's own pixels (each one grown by up to 1.5 pixels
    into it, where the nearest pixel of the enlarged labels missed it)."""
    from skimage.segmentation import expand_labels

    from .._scale import resample, scaled_shape

    shape = scaled_shape(array.shape, factor)
    if array.dtype.kind == "f":
        big = resample(array, shape, 1)
    else:  # masks and labels: to the nearest pixel
        big = resample(array.astype(np.uint8 if array.dtype == bool else array.dtype),
                       shape, 0).astype(array.dtype, copy=False)
    image = None if pixels is None else resample(pixels, (1, *shape[-2:]), 1)
    labels = _found(big, spacing=tuple(s / factor for s in space), image=image,
                    min_size=None if min_size is None else round(min_size * factor**2),
                    object_scale=1, enlarged=factor, **options)
    labels = np.where(mask, expand_labels(resample(labels, array.shape[-2:], 0), 1.5), 0)
    if options["fill_holes"]:
        labels = _fill_enclosed_holes(labels)
    if min_size is not None:
        labels = remove_small(labels, min_size)
    if options["exclude_border"]:  # grown back to the border at the own pixels
        from skimage.segmentation import clear_border

        labels = clear_border(labels)
    return _relabel(labels)


def remove_small(labels, min_size: int) -> np.ndarray:
    """Set objects with fewer than ``min_size`` pixels (voxels) to background.

    Unlike :func:`skimage.morphology.remove_small_objects`, which measures connected blobs of
    a mask, this works on a label image: touching objects are sized one by one.

    Parameters
    ----------
    labels : array-like of int
        A label image, 0 = background.
    min_size : int
        Smallest number of pixels an object keeps.

    Returns
    -------
    ndarray
        A copy of ``labels`` without the small objects (labels are not renumbered).

    Examples
    --------
    >>> import numpy as np
    >>> remove_small(np.array([[1, 1, 1, 0, 2]]), 2).tolist()
    [[1, 1, 1, 0, 0]]
    """
    array = as_array(labels, "labels")
    if array.dtype.kind not in "iu":
        raise TypeError(f"labels must be an integer label image, got dtype {array.dtype}")
    if not isinstance(min_size, numbers.Integral) or min_size < 0:
        raise ValueError(f"min_size must be a non-negative integer, got {min_size!r}")
    if array.size and array.min() < 0:
        raise ValueError("labels must be non-negative (0 = background)")
    if array.size == 0:
        return array.copy()
    if int(array.max()) <= 4 * array.size + 1024:
        small = np.bincount(array.ravel()) < min_size
        small[0] = False
        drop = small[array]
    else:  # sparse, huge label values: count the values present only
        values, inverse, counts = np.unique(array, return_inverse=True, return_counts=True)
        drop = ((counts < min_size) & (values != 0))[inverse.reshape(array.shape)]
    out = array.copy()
    out[drop] = 0
    return out


def _guess_kind(array: np.ndarray, kind: str, foreground) -> str:
    if kind != "auto":
        return kind
    if foreground is not None:
        return "classes"
    if array.dtype == bool:
        return "mask"
    if array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() > 1):
            raise ValueError(
                "prediction is an integer array with values other than 0 and 1, so it is "
                "neither a mask nor probabilities; pass kind='boundary' for labels "
                "1 = background, 2 = boundary, 3 = interior, or a mask such as labels == 2"
            )
        return "mask"
    if (
        array.ndim in (3, 4)
        and 2 <= array.shape[0] <= 16
        and np.allclose(array.sum(axis=0), 1, atol=1e-3)
    ):
        return "classes"
    return "probability"


def _foreground_probability(array, kind, foreground) -> np.ndarray:
    """The foreground as a float map: a mask's 0/1, a probability, or summed class channels."""
    if kind == "mask":
        if array.dtype != bool and array.size and (array.min() < 0 or array.max() > 1):
            raise ValueError(
                "a mask must hold only 0/1 or False/True; threshold it first "
                "(e.g. probability > 0.5) or pass kind='probability'"
            )
        return array.astype(np.float32)
    if kind == "probability":
        _check_probability(array)
        return array
    # classes
    _check_probability(array)
    channels = array.shape[0]
    if foreground is None:
        if channels != 2:
            raise ValueError(
                f"prediction has {channels} class channels; say which hold objects with "
                "foreground= (e.g. foreground=1 for the second class), or pass "
                "kind='boundary' for background/boundary/interior"
            )
        foreground = 1
    chosen = (foreground,) if isinstance(foreground, numbers.Integral) else tuple(foreground)
    if not chosen or not all(
        isinstance(c, numbers.Integral) and -channels <= c < channels for c in chosen
    ):
        raise ValueError(
            f"foreground={foreground!r} must be channel indices in 0..{channels - 1} "
            "(channel k holds class k + 1)"
        )
    return array[list(chosen)].sum(axis=0)


def _check_probability(array: np.ndarray) -> None:
    if array.dtype.kind != "f":
        raise TypeError(
            f"probabilities must be floats in [0, 1], got dtype {array.dtype}; for a mask "
            "pass kind='mask'"
        )
    if array.size and (array.min() < 0 or array.max() > 1 + 1e-6):
        raise ValueError(
            f"probabilities must lie in [0, 1], got values from {array.min():g} to "
            f"{array.max():g}; rescale them, or threshold an intensity image into a mask"
        )


_MIN_PIXELS = 16
"""Objects smaller than this many pixels (voxels) are removed by default, whatever their size."""
_DEBRIS = 0.2
"""By default, objects smaller than this fraction of a typical object's size are removed."""
_DOUBTFUL = 0.3
"""By default, objects smaller than this fraction of a typical object's size are removed
unless the prediction is sure of them (mean foreground probability ``_SURE``)."""
_SURE = 0.85
"""See ``_DOUBTFUL``."""
_MASK_DEBRIS = 0.25
"""For a mask (no probabilities to tell debris by), objects smaller than this fraction of a
typical object's size are removed by default."""
_MERGE_UNBOUNDED = True
"""With ``kind="boundary"`` probabilities: merge touching objects the predicted boundary does
not divide (``_fragments.merge_unbounded``)."""
_MERGE_ENLARGED = False
"""Also merge what no predicted boundary divides among small objects found enlarged (off:
see ``docs/benchmarks.md``, session 62; real HeLa nuclei of radius 5.6 px, elongated and cut
across their middle by the seeds, gained +0.037 to +0.047 AP@0.5 with the U-Net in two
runs, but packed round ones lost up to 0.058 in one scene: at the enlarged, interpolated
scale the drawn boundary between two touching nuclei is as faint, 0.3-0.45, as across one
nucleus). ``bench_unet_nuclei.py
--merge-enlarged false true`` scores both."""
_MERGE_PIECES = True
"""With ``kind="boundary"`` probabilities: merge touching objects that would each be removed
as debris into one where together they make a nucleus-sized, convex object
(``_fragments.merge_pieces``)."""
_INTERIOR_CORE = 0.4
"""With ``kind="boundary"``: interior probability above which a pixel is an object's core
(below 0.5: a dim nucleus whose interior the network is less sure of still gets a marker
of its own instead of being flooded from its neighbour's; see ``instances``' ``core``)."""
_INTERIOR_H = 0.07
"""With ``kind="boundary"``: depth (times *R*) of a neck that divides one interior in two
(set with ``_INTERIOR_CORE``: the larger interiors of a lower core meet more often), for a
prediction found at its own pixels."""
_INTERIOR_H_ENLARGED = 0.05
"""The same for small objects found enlarged twice (``object_scale`` 2, the default's
largest): see :func:`_interior_neck`."""


def _interior_neck(factor: float) -> float:
    """The neck (times *R*) that divides one predicted interior in two, for a prediction
    :func:`instances` found enlarged ``factor`` times: :data:`_INTERIOR_H` at its own
    pixels, :data:`_INTERIOR_H_ENLARGED` from twice its size, linear in between.

    Small nuclei lie a few pixels apart: the prediction resolves the neck between two
    touching ones with fewer pixels, and enlarged it is a shallower dip than the same
    neck of nuclei twice as large. Measured on the saved test outputs of both tiers in
    instance mode (``benchmarks/bench_unet_nuclei.py --real --overlap 0.15``, 3-minute
    U-Nets and forests from 20 painted nuclei, six scenes of the three real sources, two
    test images each; docs/benchmarks.md, session 49), AP@0.5 / AP@0.75 means, forest and
    U-Net, neck 0.07 *R* → this rule: radius 4.5 px (found enlarged 1.8-2 times) 0.926 /
    0.773 and 0.920 / 0.796 → 0.927 / 0.772 and 0.928 / 0.800; radius 5.5 px (1.4-1.8
    times) 0.926 / 0.806 and 0.940 / 0.831 → 0.926 / 0.806 and 0.943 / 0.833; radius 7 px
    (1-1.4 times, three scenes) 0.906 / 0.762 and 0.931 / 0.806 → 0.905 / 0.758 and
    0.936 / 0.810. Objects of a typical radius of 7.5 px and more are found at their own
    pixels and keep 0.07 *R*.

    Examples
    --------
    >>> _interior_neck(1.0), _interior_neck(1.5), _interior_neck(2.0), _interior_neck(3.0)
    (0.07, 0.06, 0.05, 0.05)
    """
    share = min(max(factor - 1.0, 0.0), 1.0)
    return round(_INTERIOR_H + share * (_INTERIOR_H_ENLARGED - _INTERIOR_H), 4)


_IMAGE_H = 0.1
"""With an image, the default seed height ``h`` as a fraction of the typical radius."""
_BLOB_SCALE = 0.5
"""With an image, the Laplacian of Gaussian's scale as a fraction of the typical radius."""
_BLOB_RANGE = np.geomspace(0.4, 1.1, 9)
"""With an image, the radii (times the mask's typical radius) at which blobs are sought."""
_BLOB_PRESMOOTH = 0.15
"""With an image, the smoothing (times the mask's typical radius) before blobs are sought."""
_BLOB_STEP = 0.2
"""With an image, the largest pixel (times the mask's typical radius) blobs are sought on,
the image subsampled after the smoothing."""
_BLOB_FLOOR = 0.1
"""With an image, blobs weaker than this fraction of the strong ones (99th percentile) are
not counted."""
_BLOB_CALIBRATION = 0.9
"""The image's blob radius over the objects' typical radius, when the mask merges none."""


def typical_radius(mask, spacing=None) -> float:
    """Typical radius of a mask's objects: the depth of its distance peaks, weighted by size.

    Every peak of the distance to the background (a maximum at least one pixel above the
    saddle to a higher one) is the centre of a largest inscribed disk (ball in 3D); its
    depth is that disk's radius, in the units of ``spacing``. The typical radius is the
    median of the depths weighted by the disks' areas (volumes), so small debris and the
    shallow bumps of a ragged outline count for little, while touching objects that form
    one blob each count with their own peak: a chain of small nuclei is as deep as one of
    them, not as the clump. Small holes (under a quarter of their blob) are filled first,
    so a speckled nucleus is as deep as a solid one. 0 for an empty mask.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:60, :60]
    >>> mask = (yy - 30) ** 2 + (xx - 30) ** 2 < 20 ** 2
    >>> mask[2:4, 2:4] = True  # a speck does not pull the estimate down
    >>> round(typical_radius(mask))
    20
    """
    from ._hmaxima import h_maxima

    mask = _fill_small_holes(np.asarray(mask, bool))
    if not mask.any():
        return 0.0
    space = positive_spacing(spacing, mask.ndim) or (1.0,) * mask.ndim
    distance = distance_transform_edt(mask, sampling=space)
    peaks, n = ndi.label(h_maxima(distance, mask, min(space)),
                         structure=np.ones((3,) * mask.ndim))
    depth = _label_max(distance, peaks, n)
    return float(_weighted_median(depth, depth**mask.ndim))


def _weighted_median(values: np.ndarray, weights: np.ndarray):
    """The value at which the cumulative weight of the sorted values reaches half the total.

    Examples
    --------
    >>> float(_weighted_median(np.array([1.0, 2.0, 9.0]), np.array([1.0, 1.0, 5.0])))
    9.0
    """
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return values[order][np.searchsorted(cumulative, cumulative[-1] / 2)]


def _fill_small_holes(mask: np.ndarray) -> np.ndarray:
    """Fill each hole smaller than a quarter of the blob that encloses it."""
    filled = binary_fill_holes(mask)
    holes, n = ndi.label(filled & ~mask)
    if n == 0:
        return mask
    blobs, _ = ndi.label(filled)
    blob_size = np.bincount(blobs.ravel())
    hole_size = np.bincount(holes.ravel())
    owner = np.zeros(n + 1, np.int64)
    owner[holes.ravel()] = blobs.ravel()
    small = hole_size < 0.25 * blob_size[owner]
    small[0] = False
    return mask | small[holes]


def _typical_size(labels: np.ndarray, counts: np.ndarray | None = None) -> float:
    """Pixels (voxels) of a typical object: the median of the objects' sizes weighted by
    their sizes, so that debris, however numerous, hardly moves it; 0 without objects.
    ``counts``: ``np.bincount(labels.ravel())`` when the caller has it already."""
    sizes = (np.bincount(labels.ravel()) if counts is None else counts)[1:]
    sizes = sizes[sizes > 0]
    return float(_weighted_median(sizes, sizes)) if len(sizes) else 0.0


def _remove_debris(labels: np.ndarray, probability: np.ndarray | None = None, *,
                   pieces: bool = False) -> np.ndarray:
    """Remove objects below ``_DEBRIS`` of a typical object (border-cut ones are kept).

    The typical object is the area-weighted median of the objects' sizes, so that debris,
    however numerous, hardly moves it. With the foreground ``probability`` (a soft
    prediction), objects up to ``_DOUBTFUL`` of a typical object are removed too unless the
    prediction is sure of them (mean probability at least ``_SURE``): a small nucleus is
    predicted as surely as a large one, a classifier's debris is not. Without it (a mask),
    objects below ``_MASK_DEBRIS`` of a typical object are removed. With ``pieces`` (and the
    ``probability``), touching doubtful objects that together make an object are merged
    first (:func:`~microlab.postprocess._fragments.merge_pieces`).
    """
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    if not sizes.any():
        return labels
    typical = _typical_size(labels, sizes)
    if pieces and probability is not None:
        from ._fragments import merge_pieces

        doubtful = _doubtful(labels, probability, sizes, typical)
        doubtful[0] = False
        merged = merge_pieces(labels, doubtful, typical, smallest=_DOUBTFUL * typical)
        if merged is not labels:
            labels, sizes = merged, np.bincount(merged.ravel())
            sizes[0] = 0
            typical = _typical_size(labels, sizes)
    share = _MASK_DEBRIS if probability is None else _DEBRIS
    drop = sizes < max(_MIN_PIXELS, share * typical)
    if probability is not None:
        drop |= _doubtful(labels, probability, sizes, typical)
    edge = np.zeros(labels.shape, bool)
    for axis in range(labels.ndim):
        edge[(slice(None),) * axis + (0,)] = edge[(slice(None),) * axis + (-1,)] = True
    cut = np.zeros_like(drop)
    cut[labels[edge]] = True
    drop &= ~cut | (sizes < _MIN_PIXELS)
    drop[0] = False
    out = labels.copy()
    out[drop[labels]] = 0
    return out


def _doubtful(labels: np.ndarray, probability: np.ndarray, sizes: np.ndarray,
              typical: float) -> np.ndarray:
    """Per label: the object is under ``_DOUBTFUL`` of a ``typical`` object and its mean
    foreground ``probability`` is under ``_SURE`` (``sizes``: each label's pixel count)."""
    mean = ndi.sum_labels(probability, labels, np.arange(len(sizes))) / np.maximum(sizes, 1)
    return (sizes < _DOUBTFUL * typical) & (mean < _SURE)


def _image_channels(image, shape) -> np.ndarray:
    """The image as ``(C, *shape)`` channels (:func:`~microlab._checks.spatial_image`), or a
    clear error; a plain array may hold channels first or last."""
    shape = tuple(shape)
    channel_axis = None
    if getattr(image, "axes", None) is None and np.ndim(image) == len(shape) + 1:
        last = np.shape(image)[:-1] == shape and np.shape(image)[1:] != shape
        channel_axis = -1 if last else 0
    array = spatial_image(image, "image", channel_axis=channel_axis, ndim=len(shape))
    if array.shape[1:] != shape:
        raise ValueError(
            f"image must have the prediction's spatial shape {shape} (with an optional "
            f"channel axis first or last), got shape {np.shape(image)}"
        )
    return array.astype(np.float32, copy=False)


def _blob_layer(pixels, mask) -> np.ndarray:
    """The channel that best tells ``mask`` from the rest, signed so that objects are
    brighter than their surroundings."""
    inside, outside = mask, ~mask
    if not outside.any():
        return pixels[0]
    best, layer, sign = -1.0, pixels[0], 1.0
    for channel in pixels:
        a, b = np.median(channel[inside]), np.median(channel[outside])
        spread = np.std(channel[outside]) + np.std(channel[inside]) + 1e-12
        if abs(a - b) / spread > best:
            best, layer, sign = abs(a - b) / spread, channel, (1.0 if a >= b else -1.0)
    return sign * layer


def _laplace(layer, sigma, space) -> np.ndarray:
    """Laplacian of Gaussian in physical units: ``sigma`` and the result per unit of
    ``space`` (each axis' second difference divided by its pixel size squared).

    One Gaussian and a second difference per axis, which costs about half of a
    derivative-of-Gaussian filter per axis and differs from it by well under a percent
    at the scales used here (``sigma`` of a pixel or more).
    """
    smooth = gaussian_filter(layer, [sigma / s for s in space])
    out = np.zeros(layer.shape, np.float32)
    for axis, s in enumerate(space):
        out += ndi.correlate1d(smooth, [1.0, -2.0, 1.0], axis=axis, mode="nearest") / s**2
    return out


def _blob_radius(layer, mask, radius, space) -> float:
    """The objects' radius as the image's blobs show it, when the mask's is too large.

    A classifier's foreground often fills the necks between small, touching nuclei, so a
    clump looks like one large object and ``radius`` (the mask's :func:`typical_radius`)
    is inflated -- up to twice the nuclei's radius on dense nuclei of 5 px. The image still
    shows each nucleus as a blob. Blobs are found as the maxima, over position and scale,
    of the scale-normalised Laplacian of Gaussian (Lindeberg's blob detector: a disk of
    radius *r* responds most at scale *r* / sqrt(2)) inside the mask, at scales for radii
    from 0.4 to 1.1 ``radius``, after a light smoothing (0.15 ``radius``) that hides
    chromatin grain (on pixels of up to a fifth of ``radius``, subsampled after that
    smoothing, so that large objects cost no more than small ones). Their radius, the
    median weighted by response times area (so that
    spots of texture count for little), is about 0.8--0.9 of the nuclei's; divided by
    ``_BLOB_CALIBRATION`` it corrects ``radius`` downwards only: the result is never larger
    than ``radius``, and is about ``radius`` when the mask does not merge nuclei.
    """
    if radius <= 0 or not mask.any() or mask.all():
        return radius
    pre = _BLOB_PRESMOOTH * radius
    smoothed = gaussian_filter(layer.astype(np.float32), [pre / s for s in space])
    # blobs of the objects' size need no finer pixels than a fifth of it
    step = tuple(max(1, int(_BLOB_STEP * radius / s)) for s in space)
    cut = tuple(slice(None, None, k) for k in step)
    smoothed, mask = smoothed[cut], mask[cut]
    space = tuple(s * k for s, k in zip(space, step, strict=True))
    sigmas = radius / np.sqrt(2) * _BLOB_RANGE
    scales = np.sqrt(sigmas**2 + pre**2)  # the blobs' scale in the original image

    def response(k):  # scale-normalised, objects positive
        return -(scales[k] ** 2) * _laplace(smoothed, sigmas[k], space)

    # maxima over position and scale, three scales in memory at a time (a 3 x 3 x ...
    # maximum over scale and space is the spatial maximum of the scales' maximum)
    window = [response(0)]
    found, values, top = [], [], 0.0
    for k in range(len(sigmas)):
        last = k + 1 == len(sigmas)
        if not last:
            window.append(response(k + 1))
        here = window[-1] if last else window[-2]
        nearby = maximum_filter3(np.maximum.reduce(window))
        peaks = (here == nearby) & mask & (here > 0)
        top = max(top, float(np.percentile(here[mask], 99)))
        found.append(np.full(int(peaks.sum()), scales[k] * np.sqrt(2)))
        values.append(here[peaks])
        if len(window) == 3:
            window.pop(0)
    found, values = np.concatenate(found), np.concatenate(values)
    strong = values > _BLOB_FLOOR * top
    if not top > 0 or not strong.any():
        return radius
    found = found[strong]
    median = _weighted_median(found, values[strong] * found**layer.ndim)
    return float(min(radius, median / _BLOB_CALIBRATION))


def _blobness(layer, mask, radius, space) -> np.ndarray:
    """How much each pixel of ``mask`` lies at the centre of a blob of the objects' scale.

    The Laplacian of Gaussian at ``_BLOB_SCALE * radius`` of ``layer`` (objects bright, see
    :func:`_blob_layer`), negated so that objects are peaks, scaled so that the
    background's median is 0 and the objects' 95th percentile is 1 (clipped to [0, 1.5]).
    """
    inside, outside = mask, ~mask
    if not outside.any():
        return np.zeros(mask.shape, np.float32)
    sigma = [_BLOB_SCALE * radius / s for s in space]
    blob = -gaussian_laplace(layer, sigma)
    low = np.median(blob[outside])
    high = np.percentile(blob[inside], 95)
    if not high > low:
        return np.zeros(mask.shape, np.float32)
    return np.clip((blob - low) / (high - low), 0, 1.5) * inside


def _boundary_parts(array):
    """Foreground, interior and boundary probabilities (0/1 for labels 1/2/3) of a
    boundary/interior prediction: probabilities ``(3, ...)`` or labels 1/2/3."""
    if array.dtype.kind == "f":
        _check_probability(array)
        if array.shape[0] != 3:
            raise ValueError(
                "kind='boundary' needs 3 probability channels (background, boundary, "
                f"interior), got {array.shape[0]}"
            )
        return 1 - array[0], array[2], array[1]
    if array.dtype.kind not in "iu":
        raise TypeError(f"boundary labels must be integers 1/2/3, got dtype {array.dtype}")
    values = np.unique(array)
    if not np.isin(values, [0, 1, 2, 3]).all():
        raise ValueError(
            "boundary labels must be 1 = background, 2 = boundary, 3 = interior (0 = none); "
            f"got values {values[:10].tolist()}"
        )
    return ((array >= 2).astype(np.float32), (array == 3).astype(np.float32),
            (array == 2).astype(np.float32))


def _seeds(distance, mask, space, h, min_distance, smooth, min_size):
    """Smooth the distance transform and label one seed region per peak.

    Returns the smoothed distance (the watershed's landscape) and the markers.
    """
    blobs, n = ndi.label(mask)
    if n == 0:
        return distance, blobs
    if smooth is None or (h is None and min_distance is None):
        tops = _label_max(distance, blobs, n)
        sizes = np.bincount(blobs.ravel(), minlength=n + 1)[1:]
        radius = float(np.median(tops[sizes >= min_size] if (sizes >= min_size).any() else tops))
        smooth = 0.1 * radius if smooth is None else smooth
        if h is None and min_distance is None:
            h = 0.04 * radius
    if smooth > 0:
        distance = gaussian_filter(distance, [smooth / s for s in space]) * mask
    if h is None:
        from skimage.feature import peak_local_max

        half = [max(1, round(min_distance / s)) for s in space]
        grids = np.ogrid[tuple(slice(-r, r + 1) for r in half)]
        footprint = sum((g / r) ** 2 for g, r in zip(grids, half, strict=True)) <= 1
        peaks = peak_local_max(
            distance, footprint=footprint, labels=blobs, exclude_border=False,
            num_peaks_per_label=np.inf,
        )
        seeds = np.zeros(mask.shape, bool)
        seeds[tuple(_spaced(peaks, distance, space, min_distance).T)] = True
    else:
        from ._hmaxima import h_maxima

        seeds = h_maxima(distance, mask, h)
    markers, _ = ndi.label(_seed_every_blob(seeds, blobs, n, distance))
    return distance, markers


def _core_markers(inner, mask, markers, space, rules, whole=False,
                  weight=None) -> np.ndarray:
    """Seeds from the confident core; blobs without a core keep their own seeds.

    The neck between two touching nuclei is where a classifier hesitates, so their cores
    stand apart more clearly than their masks do. With ``whole``, each part of the core
    (the core divided at its necks by ``rules``) is a marker itself, not only its peak.
    ``weight`` (0..1 per pixel) scales the core's distance transform before its necks are
    sought.
    """
    inner = _fill_small_holes(inner & mask) & mask  # specks of doubt inside a nucleus
    depth = distance_transform_edt(inner, sampling=space)
    if weight is not None:
        depth *= weight
    depth, inner_markers = _seeds(depth, inner, space, *rules)
    blobs, n = ndi.label(mask)
    cored = np.zeros(n + 1, bool)
    cored[blobs[inner_markers > 0]] = True
    cored[0] = False
    own = (markers > 0) & ~cored[blobs]
    if not whole:
        return ndi.label((inner_markers > 0) | own)[0]
    from skimage.segmentation import watershed

    parts = watershed(-depth, inner_markers, mask=inner)
    own = ndi.label(own)[0]
    return np.where(own > 0, own + parts.max(), parts).astype(np.int32)


def _interior_markers(inner, mask, markers, space, rules, weight,
                      neck: float) -> np.ndarray:
    """The predicted interiors as markers (:func:`_core_markers` with ``whole``): each
    connected part is one object unless its distance transform, times ``weight`` (1 minus
    the boundary probability), has peaks ``neck`` *R* above the neck between them
    (:func:`_interior_neck` of the factor the prediction was found enlarged by), where it
    is divided along the neck.

    Splitting an interior at every small bump of its distance (as the foreground's is)
    cuts elongated nuclei across their middle; whole interior parts as markers also keep
    each object's dividing line where the boundary class put it. Where two touching nuclei
    meet along a wide contact, the predicted interior may run across it, with no neck to
    speak of; the network's hesitant boundary there (often 0.2-0.4) still lowers the
    weighted distance into a neck.
    """
    h, min_distance, smooth, floor = rules
    if not (inner & mask).any():
        return markers
    radius = typical_radius(mask, space)
    if h is None and min_distance is None:
        h = neck * radius
    smooth = 0.1 * radius if smooth is None else smooth
    return _core_markers(inner, mask, markers, space, (h, min_distance, smooth, floor),
                         whole=True, weight=weight)


def _label_max(values: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """The largest value in each label 1..n (as ``ndi.maximum``, without its sort).

    Examples
    --------
    >>> _label_max(np.array([[1.0, 5.0, 2.0]]), np.array([[1, 1, 2]]), 2).tolist()
    [5.0, 2.0]
    """
    out = np.full(n + 1, -np.inf)
    np.maximum.at(out, labels.ravel(), values.ravel())
    return out[1:]


def _seed_every_blob(seeds, blobs, n, height) -> np.ndarray:
    """Add a seed at the highest point of each blob that has none.

    A blob lower than ``h``, or one without a predicted interior, still becomes an object.
    """
    seeded = np.zeros(n + 1, bool)
    seeded[blobs[seeds]] = True
    lacking = ~seeded
    lacking[0] = False
    if lacking.any():
        where = np.flatnonzero(lacking[blobs.ravel()])
        label = blobs.ravel()[where]
        order = np.lexsort((where, -height.ravel()[where], label))  # highest, then first
        first = order[np.r_[True, label[order][1:] != label[order][:-1]]]
        seeds = seeds.copy()
        seeds.ravel()[where[first]] = True
    return seeds


def _spaced(peaks: np.ndarray, height: np.ndarray, space, min_distance: float) -> np.ndarray:
    """Keep the highest peaks, dropping any closer than ``min_distance`` to a kept one."""
    from scipy.spatial import cKDTree

    points = peaks * np.asarray(space)
    order = np.argsort(-height[tuple(peaks.T)], kind="stable")
    tree = cKDTree(points)
    dropped = np.zeros(len(peaks), bool)
    for i in order:
        if not dropped[i]:
            near = tree.query_ball_point(points[i], min_distance * (1 - 1e-9))
            dropped[near] = True
            dropped[i] = False
    return peaks[~dropped]


def _fill_enclosed_holes(labels: np.ndarray) -> np.ndarray:
    """Give each hole enclosed by one object to that object.

    A hole bordered by several objects (the gap inside a ring of touching nuclei) stays
    background.
    """
    holes, n = ndi.label(binary_fill_holes(labels > 0) & (labels == 0))
    if n == 0:
        return labels
    grown = ndi.grey_dilation(holes, size=(3,) * labels.ndim)
    rim = (labels > 0) & (grown > 0)
    pairs = np.unique(np.stack([grown[rim], labels[rim]]), axis=1)
    hole_ids, counts = np.unique(pairs[0], return_counts=True)
    single = hole_ids[counts == 1]
    owner = np.zeros(n + 1, labels.dtype)
    owner[pairs[0][np.isin(pairs[0], single)]] = pairs[1][np.isin(pairs[0], single)]
    out = labels.copy()
    fill = owner[holes]
    out[fill > 0] = fill[fill > 0]
    return out


def _relabel(labels: np.ndarray) -> np.ndarray:
    from skimage.segmentation import relabel_sequential

    return relabel_sequential(labels.astype(np.int32, copy=False))[0]
