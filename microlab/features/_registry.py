"""The named features: one registry for 2D and 3D, each name ilastik-like with its scale.

A :class:`Spec` is what a name means (kind and parameters); :func:`parse` turns a name back
into its spec. The grids below are every valid name; the default sets pick from them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache

SIGMAS = (0.7, 1.0, 1.6, 2.0, 3.5, 4.0, 5.0, 8.0, 10.0, 16.0)
"""Gaussian scales (pixels) of the smoothing, gradient, LoG and Hessian features."""
DOG_PAIRS = ((1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 16.0))
TENSOR_SIGMAS = (1.0, 2.0, 4.0, 8.0)
"""Integration scales of the structure tensor; its gradients use half that scale."""
ENTROPY_RADII = (2, 3, 5, 8, 12)
MEDIAN_RADII = (1, 2, 3, 5)
VARIANCE_RADII = (1, 2, 3, 5, 7)
GABOR_WAVELENGTHS = (4, 8)
GABOR_ANGLES_2D = (0, 45, 90, 135)
GABOR_ANGLES_3D = ((0, 0), (45, 0), (90, 0), (135, 0), (0, 90))
"""3D Gabor directions (θ in the YX plane from the X axis, φ elevation towards Z)."""
ENTROPY_BINS = 16
"""Intensity bins of the local entropy (over the bank's intensity range)."""
MEDIAN_LEVELS = 256
"""Grey levels the median works on (over the bank's intensity range)."""


@dataclass(frozen=True)
class Spec:
    """What a feature name means.

    ``kind`` is one of intensity, gaussian, sobel, gradient, log, dog, hessian, tensor,
    entropy, gabor, median, variance. ``scale`` is σ (pixels), a (σ1, σ2) pair for DoG, or a
    radius r; ``index`` is the eigenvalue (1 = largest) for hessian/tensor; ``angles`` the
    Gabor direction (θ,) in 2D or (θ, φ) in 3D, in degrees.
    """

    name: str
    kind: str
    scale: float | tuple[float, float] | int = 0
    index: int = 0
    angles: tuple[int, ...] = ()


def _sigma(s: float) -> str:
    return f"σ={s:.1f}"


def _grid(ndim: int) -> list[Spec]:
    specs = [Spec("Intensity", "intensity")]
    specs += [Spec(f"Gaussian {_sigma(s)}", "gaussian", s) for s in SIGMAS]
    specs.append(Spec("Sobel", "sobel"))
    specs += [Spec(f"Gradient magnitude {_sigma(s)}", "gradient", s) for s in SIGMAS]
    specs += [Spec(f"LoG {_sigma(s)}", "log", s) for s in SIGMAS]
    specs += [Spec(f"DoG σ={a:.1f}-{b:.1f}", "dog", (a, b)) for a, b in DOG_PAIRS]
    specs += [
        Spec(f"Hessian eig{k} {_sigma(s)}", "hessian", s, k)
        for s in SIGMAS
        for k in range(1, ndim + 1)
    ]
    specs += [
        Spec(f"Structure tensor eig{k} {_sigma(s)}", "tensor", s, k)
        for s in TENSOR_SIGMAS
        for k in range(1, ndim + 1)
    ]
    specs += [Spec(f"Entropy r={r}", "entropy", r) for r in ENTROPY_RADII]
    if ndim == 2:
        specs += [
            Spec(f"Gabor θ={t}° λ={lam}", "gabor", lam, angles=(t,))
            for lam in GABOR_WAVELENGTHS
            for t in GABOR_ANGLES_2D
        ]
    else:
        specs += [
            Spec(f"Gabor θ={t}° φ={p}° λ={lam}", "gabor", lam, angles=(t, p))
            for lam in GABOR_WAVELENGTHS
            for t, p in GABOR_ANGLES_3D
        ]
    specs += [Spec(f"Median r={r}", "median", r) for r in MEDIAN_RADII]
    specs += [Spec(f"Variance r={r}", "variance", r) for r in VARIANCE_RADII]
    return specs


@cache
def registry(ndim: int) -> dict[str, Spec]:
    """Every valid feature for ``ndim`` (2 or 3), by name, in a stable order."""
    return {spec.name: spec for spec in _grid(ndim)}


_DEFAULTS = {
    2: (
        ["Intensity"]
        + [f"Gaussian {_sigma(s)}" for s in (1.0, 2.0, 4.0, 8.0, 16.0)]
        + ["Sobel"]
        + [f"Gradient magnitude {_sigma(s)}" for s in (1.0, 2.0, 4.0, 8.0)]
        + [f"LoG {_sigma(s)}" for s in (1.0, 2.0, 4.0, 8.0)]
        + [f"DoG σ={a:.1f}-{b:.1f}" for a, b in DOG_PAIRS]
        + [f"Hessian eig{k} {_sigma(s)}" for s in (1.0, 2.0, 4.0, 8.0) for k in (1, 2)]
        + [f"Structure tensor eig{k} {_sigma(s)}" for s in (2.0, 4.0) for k in (1, 2)]
        + ["Entropy r=3", "Entropy r=8"]
        + [f"Gabor θ={t}° λ=8" for t in GABOR_ANGLES_2D]
        + ["Median r=1", "Median r=2"]
        + ["Variance r=3", "Variance r=7"]
    ),
    3: (
        ["Intensity"]
        + [f"Gaussian {_sigma(s)}" for s in (1.0, 2.0, 4.0, 8.0)]
        + ["Sobel"]
        + [f"Gradient magnitude {_sigma(s)}" for s in (1.0, 2.0, 4.0, 8.0)]
        + [f"LoG {_sigma(s)}" for s in (1.0, 2.0, 4.0, 8.0)]
        + [f"DoG σ={a:.1f}-{b:.1f}" for a, b in DOG_PAIRS[:3]]
        + [f"Hessian eig{k} {_sigma(s)}" for s in (1.0, 2.0, 4.0) for k in (1, 2, 3)]
        + [f"Structure tensor eig{k} {_sigma(s)}" for s in (2.0, 4.0) for k in (1, 2, 3)]
        + ["Entropy r=2", "Entropy r=5"]
        + [f"Gabor θ={t}° φ={p}° λ=8" for t, p in GABOR_ANGLES_3D]
        + ["Median r=1"]
        + ["Variance r=2", "Variance r=5"]
    ),
}


def check_ndim(ndim) -> int:
    """Validate ``ndim`` (2 or 3)."""
    if ndim not in (2, 3) or isinstance(ndim, bool):
        raise ValueError(f"ndim must be 2 (Y, X images) or 3 (Z, Y, X stacks), got {ndim!r}")
    return int(ndim)


def default_specs(ndim: int) -> list[Spec]:
    """The default bank for ``ndim``."""
    table = registry(ndim)
    return [table[name] for name in _DEFAULTS[ndim]]


def parse(names, ndim: int) -> list[Spec]:
    """Specs for ``names``, raising a ``ValueError`` that suggests close matches."""
    if isinstance(names, str):
        raise TypeError(
            f"names must be a list of feature names, got the string {names!r}; "
            f"write [{names!r}]"
        )
    try:
        names = list(names)
    except TypeError as exc:
        raise TypeError(f"names must be a list of feature names, got {names!r}") from exc
    if not names:
        raise ValueError("names is empty; pass None for the default bank or at least one name")
    table = registry(ndim)
    specs = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"feature names must be strings, got {name!r}")
        spec = table.get(name)
        if spec is None:
            raise ValueError(_unknown(name, ndim))
        specs.append(spec)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"feature names must be unique; repeated: {repeated}")
    return specs


def _unknown(name: str, ndim: int) -> str:
    other = 5 - ndim
    if name in registry(other):
        return (
            f"feature {name!r} exists for {other}D images only, not {ndim}D; "
            f"see microlab.features.available(ndim={ndim})"
        )
    close = difflib.get_close_matches(name, list(registry(ndim)), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    return (
        f"unknown feature {name!r}; {hint}microlab.features.available(ndim={ndim}) lists "
        f"all {len(registry(ndim))} valid names"
    )
