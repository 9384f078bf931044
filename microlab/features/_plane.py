"""2D features: OpenCV filters, fused numba kernels, large scales on a Gaussian pyramid.

Speed comes from doing each thing once: one Gaussian per σ serves smoothing, DoG and the
derivatives; one numba pass over a smoothed image writes LoG and both Hessian eigenvalues.
Scales σ >= 8 are computed on an exactly aligned pyramid: the image smoothed at σ=2 (or σ=8)
is averaged over 2×2 blocks, smoothed further at half resolution, and interpolated back
(bilinear). The σ=2 (σ=8) pre-smoothing leaves nothing to alias: the Gaussians equal the
full-resolution filter to within ~3e-3 of the intensity range, their derivatives to a few
percent, at a fraction of the cost. Windows start on aligned pixels (see :func:`alignment`),
so a chunked computation sees the same pyramid grid as the whole image and matches it exactly.
The pyramid is used for isotropic pixels only; anisotropic 2D spacing computes every scale at
full resolution.
"""

from __future__ import annotations

import math

import numpy as np

from ._kernels import kernels, run_bands, run_rows
from ._registry import MEDIAN_LEVELS, Spec
from ._window import Window, axis_radius, gauss_radius, key

LEVEL1_FROM = 8.0
"""Gaussian scales from here on are computed at half resolution (quarter from LEVEL2_FROM)."""
LEVEL2_FROM = 16.0
BASE1_SIGMA = 2.0
"""Level 1 is the image smoothed at this σ, averaged over 2×2 blocks."""
TENSOR_LEVEL1_FROM = 4.0
GABOR_LEVEL1_FROM = 8
GABOR_SIGMA_PER_WAVELENGTH = 0.5
"""Gabor envelope σ = 0.5 λ (about one octave of bandwidth), truncated at 3σ."""
GABOR_PRESMOOTH_PER_WAVELENGTH = 0.125
"""The image is smoothed at σ = λ/8 before the Gabor filter (noise; no aliasing on level 1)."""
_BOX_VAR = 0.25  # variance (in the finer level's pixels) a 2×2 block average adds
VECTOR_ALIGN = 16
"""Windows start on multiples of 16 pixels along X (on every pyramid level). Vectorised
filters (OpenCV, numba) treat the last ``width % 8`` (or 16) columns of a row separately, with
results that can differ in the last bit; aligned windows put the same columns in those tails
as the whole image does, so chunks reproduce the whole image bit for bit."""


def _cv2():
    import cv2

    return cv2


def level(spec: Spec, pyramid: bool) -> int:
    """The coarsest pyramid level ``spec`` uses (0: full resolution only)."""
    kind, scale = spec.kind, spec.scale
    if not pyramid:
        return 0
    if kind in ("gaussian", "gradient", "log", "hessian"):
        return _gauss_level(scale, pyramid)
    if kind == "dog":
        return max(_gauss_level(s, pyramid) for s in scale)
    if kind == "tensor":
        return int(scale >= TENSOR_LEVEL1_FROM)
    if kind == "gabor":
        return int(scale >= GABOR_LEVEL1_FROM)
    return 0


def alignment(ndim: int, levels: int) -> tuple[int, ...]:
    """Windows must start on multiples of these many pixels, per axis.

    A pyramid level ``l`` halves the grid ``l`` times, so windows start on multiples of
    ``2**l`` pixels (and of ``16 * 2**l`` along X, see :data:`VECTOR_ALIGN`).
    """
    factor = 2**levels
    return (factor,) * (ndim - 1) + (VECTOR_ALIGN * factor,)


def _gauss_level(sigma: float, pyramid: bool) -> int:
    if not pyramid or sigma < LEVEL1_FROM:
        return 0
    return 1 if sigma < LEVEL2_FROM else 2


def _level_sigma(sigma: float, level: int) -> float:
    """The extra σ (in level pixels) that turns the level's base into a Gaussian σ."""
    if level == 1:
        base = BASE1_SIGMA**2 + _BOX_VAR
        return math.sqrt(max(sigma**2 - base, 0.0)) / 2
    base = LEVEL1_FROM**2 + 4 * _BOX_VAR
    return math.sqrt(max(sigma**2 - base, 0.0)) / 4


def _gauss_kernel(sigma: float) -> np.ndarray:
    """The 1D Gaussian taps OpenCV's GaussianBlur uses for a float image."""
    radius = gauss_radius(max(sigma, 1e-3))
    return _cv2().getGaussianKernel(2 * radius + 1, max(sigma, 1e-3), ktype=_cv2().CV_32F)[:, 0]


def _gabor_radius(sigma: float) -> int:
    return math.ceil(3 * sigma)


def support(spec: Spec, rel: tuple[float, ...], pyramid: bool) -> int:
    """Pixels of context each side that ``spec`` needs (its halo)."""
    g = gauss_radius

    def coarse(sigma: float) -> int:
        if _gauss_level(sigma, pyramid) == 1:
            return g(BASE1_SIGMA) + 1 + 2 * g(_level_sigma(sigma, 1))
        return coarse(LEVEL1_FROM) + 2 + 4 * g(_level_sigma(sigma, 2))

    def smooth(sigma: float, derivative: bool = False) -> int:
        level = _gauss_level(sigma, pyramid)
        if level == 0:
            return g(sigma) + int(derivative)
        f = 2**level
        return coarse(sigma) + f * (1 + int(derivative))

    kind, scale = spec.kind, spec.scale
    if kind == "intensity":
        return 0
    if kind == "sobel":
        return 1
    if kind == "gaussian":
        return smooth(scale)
    if kind in ("gradient", "log", "hessian"):
        return smooth(scale, derivative=True)
    if kind == "dog":
        return max(smooth(s) for s in scale)
    if kind == "tensor":
        inner = g(scale / 2) + 1
        if pyramid and scale >= TENSOR_LEVEL1_FROM:
            return inner + 1 + 2 * g(math.sqrt(scale**2 - _BOX_VAR) / 2) + 2
        return inner + g(scale)
    if kind == "gabor":
        sigma = GABOR_SIGMA_PER_WAVELENGTH * scale
        pre = g(GABOR_PRESMOOTH_PER_WAVELENGTH * scale)
        if pyramid and scale >= GABOR_LEVEL1_FROM:
            return pre + 1 + 2 * _gabor_radius(sigma / 2) + 2
        return pre + _gabor_radius(sigma)
    return int(scale)  # entropy, median, variance: the radius along the finest axis


_BANDED_BLUR = (1 << 18, 1 << 20)
"""Image sizes (pixels) whose Gaussian blurs :meth:`Plane.blur` splits into row bands."""
_PADDED_BLUR = 3 << 18
"""From this size (pixels, ¾ megapixel) :meth:`Plane.blur` pads images up to a megapixel."""


class Plane(Window):
    """Features of a 2D window (see :class:`._window.Window`)."""

    def __init__(self, x, rel, intensity_range, planes, *, pyramid: bool):
        super().__init__(x, rel, intensity_range, planes)
        self.pyramid = pyramid
        self.kernels = kernels()

    # ---------------------------------------------------------------- building blocks
    def run(self, kernel, shape, *args) -> None:
        run_rows(kernel, shape[0], shape[1], *args)

    def blur(self, a, sigma_y: float, sigma_x: float, out=None) -> np.ndarray:
        """Gaussian blur (OpenCV's, reflecting borders). From a megapixel OpenCV runs it on
        all cores itself (Intel IPP, about 3× faster per pixel); below, on one thread. Just
        below a megapixel (from ``_PADDED_BLUR``) a blur of σ ≥ 1.5 pads the image with its
        own mirror image up to a megapixel, at least the kernel's radius each side, and keeps
        the middle: the same pixels (mirroring twice is mirroring once), on IPP's path; σ = 4
        on 996 × 1024 pixels, 6.8 → 2.8 ms. Otherwise, from a quarter megapixel, the blur is
        split into row bands on the cores (each reads enough rows around it to be exact):
        σ = 1, 1.1 → 1.0 ms."""
        cv2 = _cv2()
        tiny = 1e-3  # OpenCV reads 0 as "same as the other axis"; this gives a 1-tap kernel
        sigma_x, sigma_y = max(sigma_x, tiny), max(sigma_y, tiny)
        out = self.empty(a.shape) if out is None else out

        def band(lo: int, hi: int, y0: int, y1: int) -> None:
            part = cv2.GaussianBlur(a[lo:hi], (0, 0), sigmaX=sigma_x, sigmaY=sigma_y,
                                    borderType=cv2.BORDER_REFLECT)
            out[y0:y1] = part[y0 - lo:y1 - lo]

        if _PADDED_BLUR <= a.size < _BANDED_BLUR[1] and sigma_y >= 1.5:
            return self._padded_blur(a, sigma_y, sigma_x, out)
        if _BANDED_BLUR[0] <= a.size < _BANDED_BLUR[1] and run_bands(
                band, a.shape[0], a.shape[1], gauss_radius(sigma_y) + 1):
            return out
        result = cv2.GaussianBlur(a, (0, 0), sigmaX=sigma_x, sigmaY=sigma_y, dst=out,
                                  borderType=cv2.BORDER_REFLECT)
        return _landed(result, out)

    def _padded_blur(self, a, sigma_y: float, sigma_x: float, out) -> np.ndarray:
        """:meth:`blur` of an image just under a megapixel, padded up to one (see there)."""
        cv2 = _cv2()
        h, w = a.shape
        pad = max(gauss_radius(sigma_y), -(-(_BANDED_BLUR[1] - a.size) // (2 * w)))
        padded = self.empty((h + 2 * pad, w))
        blurred = self.empty(padded.shape)
        cv2.copyMakeBorder(a, pad, pad, 0, 0, cv2.BORDER_REFLECT, dst=padded)
        cv2.GaussianBlur(padded, (0, 0), sigmaX=sigma_x, sigmaY=sigma_y, dst=blurred,
                         borderType=cv2.BORDER_REFLECT)
        np.copyto(out, blurred[pad:pad + h])
        self.release(padded, blurred)
        return out

    def halve(self, a: np.ndarray) -> np.ndarray:
        """Average 2×2 blocks (an odd last row/column is mirrored first)."""
        cv2 = _cv2()
        h, w = a.shape
        if h % 2 or w % 2:
            padded = self.empty((h + h % 2, w + w % 2))
            a = _landed(cv2.copyMakeBorder(a, 0, h % 2, 0, w % 2, cv2.BORDER_REFLECT,
                                           dst=padded), padded)
        out = self.empty((a.shape[0] // 2, a.shape[1] // 2))
        return _landed(cv2.resize(a, (out.shape[1], out.shape[0]), dst=out,
                                  interpolation=cv2.INTER_AREA), out)

    def upsample(self, a: np.ndarray, factor: int, out: np.ndarray) -> np.ndarray:
        """Bilinear interpolation back to the window's shape, consistent with :meth:`halve`."""
        cv2 = _cv2()
        h, w = self.x.shape
        big = (a.shape[0] * factor, a.shape[1] * factor)
        target = out if big == (h, w) else self.empty(big)
        result = _landed(cv2.resize(a, big[::-1], dst=target, interpolation=cv2.INTER_LINEAR),
                         target)
        if result is not out:
            out[...] = result[:h, :w]
        return out

    def _quantise(self, low, scale, offset, top) -> np.ndarray:
        out = self.empty(dtype=np.uint8)
        self.run(self.kernels.quantise, out.shape, self.x, low, scale, offset, float(top), out)
        return out

    def dequantise(self, q: np.ndarray, out: np.ndarray) -> np.ndarray:
        low, high = self.intensity_range
        step = (high - low) / (MEDIAN_LEVELS - 1)
        self.run(self.kernels.dequantise, out.shape, q, low, step, out)
        return out

    def radii(self, r: int) -> tuple[int, int]:
        return axis_radius(r, self.rel[0]), axis_radius(r, self.rel[1])

    def scales(self, factor: int) -> tuple[float, float]:
        """Derivative scale per axis: per pixel of the finest axis, at a pyramid level."""
        return 1.0 / (factor * self.rel[0]), 1.0 / (factor * self.rel[1])

    # ---------------------------------------------------------------- Gaussians
    def coarse(self, sigma: float) -> np.ndarray:
        """The Gaussian σ on its pyramid level (level 1 or 2)."""
        k = key("coarse", sigma)
        if k not in self.cache:
            level = _gauss_level(sigma, self.pyramid)
            if level == 1:
                base = self.cache.get(key("base1"))
                if base is None:
                    base = self.cache[key("base1")] = self.halve(
                        self.get(key("gaussian", BASE1_SIGMA))
                    )
            else:
                base = self.halve(self.coarse(LEVEL1_FROM))
            s = _level_sigma(sigma, level)
            self.cache[k] = self.blur(base, s, s)
        return self.cache[k]

    def smoothed(self, sigma: float) -> tuple[np.ndarray, int]:
        """The Gaussian σ and its pyramid factor (1 at full resolution)."""
        level = _gauss_level(sigma, self.pyramid)
        if level == 0:
            return self.get(key("gaussian", sigma)), 1
        return self.coarse(sigma), 2**level

    def _gaussian(self, k) -> np.ndarray:
        sigma = k[1]
        level = _gauss_level(sigma, self.pyramid)
        if level == 0:
            return self.blur(self.x, sigma / self.rel[0], sigma / self.rel[1], out=self.out(k))
        return self.upsample(self.coarse(sigma), 2**level, self.out(k))

    # ---------------------------------------------------------------- derivatives
    def _sobel(self, k) -> np.ndarray:
        out = self.out(k)
        self.run(self.kernels.sobel, out.shape, self.x, *self.scales(1), out)
        return out

    def _gradient(self, k) -> np.ndarray:
        g, f = self.smoothed(k[1])
        target = self.out(k) if f == 1 else self.empty(g.shape)
        self.run(self.kernels.gradient_magnitude, g.shape, g, *self.scales(f), target)
        return target if f == 1 else self.upsample(target, f, self.out(k))

    def hessian_parts(self, sigma: float) -> tuple[list[np.ndarray], int]:
        """(LoG, eig1, eig2) at the σ's pyramid level, and the level's factor."""
        gk = key("hessian_parts", sigma)
        if gk not in self.cache:
            g, f = self.smoothed(sigma)
            keys = [key("log", sigma), key("hessian", sigma, 1), key("hessian", sigma, 2)]
            parts = [self.out(kk) if f == 1 else self.empty(g.shape) for kk in keys]
            self.run(self.kernels.hessian, g.shape, g, *self.scales(f), *parts)
            self.cache[gk] = (parts, f)
        return self.cache[gk]

    def _from_parts(self, parts_and_factor, i: int, k) -> np.ndarray:
        parts, f = parts_and_factor
        return parts[i] if f == 1 else self.upsample(parts[i], f, self.out(k))

    def _log(self, k) -> np.ndarray:
        return self._from_parts(self.hessian_parts(k[1]), 0, k)

    def _hessian(self, k) -> np.ndarray:
        return self._from_parts(self.hessian_parts(k[1]), k[2], k)

    def tensor_parts(self, sigma: float) -> tuple[list[np.ndarray], int]:
        """(eig1, eig2) of the structure tensor at its level, and the level's factor."""
        gk = key("tensor_parts", sigma)
        if gk not in self.cache:
            inner = self.get(key("gaussian", sigma / 2))
            keys = [key("tensor", sigma, 1), key("tensor", sigma, 2)]
            if not (self.pyramid and sigma >= TENSOR_LEVEL1_FROM):
                parts = [self.out(kk) for kk in keys]
                ry, rx = self.rel
                self.run(self.kernels.tensor_smoothed, inner.shape, inner, *self.scales(1),
                         _gauss_kernel(sigma / ry), _gauss_kernel(sigma / rx), *parts)
                self.cache[gk] = (parts, 1)
            else:
                h, w = inner.shape
                products = [self.empty(((h + 1) // 2, (w + 1) // 2)) for _ in range(3)]
                self.run(self.kernels.tensor_halved, products[0].shape, inner,
                         *self.scales(1), *products)
                s = math.sqrt(sigma**2 - _BOX_VAR) / 2
                products = [self.blur(p, s, s) for p in products]
                parts = [self.empty(products[0].shape) for _ in keys]
                self.run(self.kernels.eigen2, parts[0].shape, *products, *parts)
                self.cache[gk] = (parts, 2)
        return self.cache[gk]

    def _tensor(self, k) -> np.ndarray:
        return self._from_parts(self.tensor_parts(k[1]), k[2] - 1, k)

    # ---------------------------------------------------------------- local statistics
    def _entropy(self, k) -> np.ndarray:
        cv2 = _cv2()
        ry, rx = self.radii(k[1])
        h, w = self.x.shape
        padded = self.empty((h + 2 * ry, w + 2 * rx), np.uint8)
        q = _landed(cv2.copyMakeBorder(self.entropy_bins(), ry, ry, rx, rx, cv2.BORDER_REFLECT,
                                       dst=padded), padded)
        table = self.table((2 * ry + 1) * (2 * rx + 1))
        out = self.out(k)
        self.run(self.kernels.entropy, out.shape, q, ry, rx, table, out)
        return out

    def _median(self, k) -> np.ndarray:
        ry, rx = self.radii(k[1])
        q = self.median_levels()
        m = self.empty(dtype=np.uint8)
        if ry == rx:
            m = _landed(_cv2().medianBlur(q, 2 * ry + 1, dst=m), m)
        else:
            from scipy.ndimage import median_filter

            median_filter(q, size=(2 * ry + 1, 2 * rx + 1), mode="nearest", output=m)
        return self.dequantise(m, self.out(k))

    def _variance(self, k) -> np.ndarray:
        ry, rx = self.radii(k[1])
        low, high = self.intensity_range
        out = self.out(k)
        self.run(self.kernels.variance, out.shape, self.x, 0.5 * (low + high), ry, rx, out)
        return out

    # ---------------------------------------------------------------- Gabor
    def _gabor(self, k) -> np.ndarray:
        cv2 = _cv2()
        wavelength, theta = k[1], math.radians(k[3][0])
        f = 2 if self.pyramid and wavelength >= GABOR_LEVEL1_FROM else 1
        base = self.get(key("gaussian", GABOR_PRESMOOTH_PER_WAVELENGTH * wavelength))
        direction = (math.sin(theta), math.cos(theta))
        gain = 1.0
        if f == 2:
            bk = key("gabor_base", wavelength)
            if bk not in self.cache:
                self.cache[bk] = self.halve(base)
            base = self.cache[bk]
            # undo the 2×2 average's attenuation, cos(π f) per axis, at the Gabor frequency
            gain = 1.0 / math.prod(math.cos(math.pi * abs(d) / wavelength) for d in direction)
        axes = [
            gabor_kernels(wavelength, d, rel * f, GABOR_SIGMA_PER_WAVELENGTH)
            for d, rel in zip(direction, self.rel, strict=True)
        ]

        def product(ay: int, ax: int) -> np.ndarray:
            pk = key("gabor_product", (wavelength, f), 0, (axes[0].id, axes[1].id, ay, ax))
            if pk not in self.cache:
                dst = self.empty(base.shape)
                self.cache[pk] = _landed(cv2.sepFilter2D(
                    base, cv2.CV_32F, axes[1].parts[ax], axes[0].parts[ay], dst=dst,
                    borderType=cv2.BORDER_REFLECT,
                ), dst)
            return self.cache[pk]

        re, im = complex_separable(product, axes, self.empty)
        target = self.out(k) if f == 1 else self.empty(base.shape)
        magnitude = _landed(cv2.magnitude(re, im, target), target)
        if f == 1:
            return magnitude
        magnitude *= np.float32(gain)
        return self.upsample(magnitude, f, self.out(k))


class GaborAxis:
    """The 1D factors ``g(u) cos(ku)`` and ``g(u) sin(ku)`` of a Gabor kernel along one axis.

    ``parts[0]`` is the cosine part, ``parts[1]`` the sine part (None when k = 0), ``sign``
    the sign of k (the sine part is odd, so -k flips it), ``id`` identifies |k| and σ.
    """

    def __init__(self, sigma: float, k: float):
        radius = _gabor_radius(sigma)
        u = np.arange(-radius, radius + 1, dtype=np.float64)
        g = np.exp(-0.5 * (u / sigma) ** 2)
        g /= g.sum()
        self.sign = 1.0 if k >= 0 else -1.0
        k = abs(k)
        self.parts = [(g * np.cos(k * u)).astype(np.float32)]
        self.parts.append((g * np.sin(k * u)).astype(np.float32) if k > 1e-9 else None)
        self.id = (round(sigma, 9), round(k, 9) if k > 1e-9 else 0.0)


def gabor_kernels(wavelength: float, direction: float, pixel: float, envelope: float):
    """The Gabor factor along one axis whose pixels measure ``pixel`` finest-axis pixels."""
    return GaborAxis(envelope * wavelength / pixel, 2 * math.pi / wavelength * direction * pixel)


def complex_separable(product, axes: list[GaborAxis], empty):
    """Real and imaginary parts of a separable complex filter.

    The kernel is ``Π_a (C_a + i S_a)``; expanding the product gives one real separable
    filter per choice of C or S on each axis. ``product(*choices)`` returns the image
    filtered with that choice (0 = C, 1 = S). An odd number of S factors is imaginary,
    and i² = -1 flips the sign of every second power. ``empty(shape)`` gives scratch arrays;
    a part made of a single term is that term's array itself (do not write to it).
    """
    terms: list[list[tuple[float, np.ndarray]]] = [[], []]
    choices = [(0, 1) if axis.parts[1] is not None else (0,) for axis in axes]
    for pick in np.ndindex(*[len(c) for c in choices]):
        which = tuple(c[p] for c, p in zip(choices, pick, strict=True))
        n_sine = sum(which)
        sign = -1.0 if n_sine % 4 in (2, 3) else 1.0
        for axis, w in zip(axes, which, strict=True):
            if w:
                sign *= axis.sign
        terms[n_sine % 2].append((sign, product(*which)))
    parts = []
    for part in terms:
        if not part:
            zeros = empty(terms[0][0][1].shape)
            zeros[...] = 0
            parts.append(zeros)
            continue
        (s0, t0), rest = part[0], part[1:]
        if not rest and s0 > 0:
            parts.append(t0)
            continue
        total = empty(t0.shape)
        if not rest:
            np.negative(t0, out=total)
        else:
            (s1, t1), rest = rest[0], rest[1:]
            if s0 == s1:
                np.add(t0, t1, out=total)
            else:
                np.subtract(t0, t1, out=total)
            if s0 < 0:
                np.negative(total, out=total)
        for sign, term in rest:
            if sign > 0:
                total += term
            else:
                total -= term
        parts.append(total)
    return parts[0], parts[1]


def _landed(result: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """OpenCV returns a new array if it could not write into ``out``: copy it there."""
    if out is None or result is out:
        return result
    out[...] = result
    return out
