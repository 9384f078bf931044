"""3D features: genuine 3D filters (scipy.ndimage), anisotropic spacing honoured.

Every filter works on the whole ``(Z, Y, X)`` window at once, never slice by slice. A
Gaussian σ is σ pixels of the finest axis, i.e. ``σ / rel`` pixels along an axis whose voxels
are ``rel`` times larger (spacing ``(3, 1, 1)``: σ/3 along Z). Hessian and structure-tensor
eigenvalues use the closed form for symmetric 3×3 matrices, vectorised over voxels.
"""

from __future__ import annotations

import math

import numpy as np

from ._plane import (
    GABOR_PRESMOOTH_PER_WAVELENGTH,
    GABOR_SIGMA_PER_WAVELENGTH,
    complex_separable,
    gabor_kernels,
)
from ._registry import ENTROPY_BINS
from ._window import Window, axis_radius, key


def _ndi():
    import scipy.ndimage

    return scipy.ndimage


def _along(ndim: int, axis: int, start, stop) -> tuple:
    return tuple(slice(start, stop) if i == axis else slice(None) for i in range(ndim))


def first_difference(g: np.ndarray, axis: int, scale: float) -> np.ndarray:
    """Central difference along ``axis``; the end samples repeat (a one-pixel reflection)."""
    out = np.empty_like(g)
    n, nd = g.shape[axis], g.ndim
    if n == 1:
        out[...] = 0
        return out
    np.subtract(g[_along(nd, axis, 2, None)], g[_along(nd, axis, None, -2)],
                out=out[_along(nd, axis, 1, -1)])
    np.subtract(g[_along(nd, axis, 1, 2)], g[_along(nd, axis, 0, 1)],
                out=out[_along(nd, axis, 0, 1)])
    np.subtract(g[_along(nd, axis, n - 1, n)], g[_along(nd, axis, n - 2, n - 1)],
                out=out[_along(nd, axis, n - 1, n)])
    out *= np.float32(0.5 * scale)
    return out


def second_difference(g: np.ndarray, axis: int, scale: float) -> np.ndarray:
    """``g[i+1] - 2 g[i] + g[i-1]`` along ``axis``, end samples repeated."""
    out = np.empty_like(g)
    n, nd = g.shape[axis], g.ndim
    if n == 1:
        out[...] = 0
        return out
    inner = out[_along(nd, axis, 1, -1)]
    np.add(g[_along(nd, axis, 2, None)], g[_along(nd, axis, None, -2)], out=inner)
    inner -= 2 * g[_along(nd, axis, 1, -1)]
    np.subtract(g[_along(nd, axis, 1, 2)], g[_along(nd, axis, 0, 1)],
                out=out[_along(nd, axis, 0, 1)])
    np.subtract(g[_along(nd, axis, n - 2, n - 1)], g[_along(nd, axis, n - 1, n)],
                out=out[_along(nd, axis, n - 1, n)])
    out *= np.float32(scale * scale)
    return out


def symmetric_eigenvalues(a11, a22, a33, a12, a13, a23) -> list[np.ndarray]:
    """Eigenvalues (largest first) of symmetric 3×3 matrices given by their 6 entries.

    Closed form (trigonometric solution of the characteristic cubic), vectorised; computed
    in float64 and returned as float32.

    Examples
    --------
    >>> e = symmetric_eigenvalues(*[np.array([v]) for v in (2.0, 3.0, 1.0, 0.0, 0.0, 0.0)])
    >>> [float(v[0]) for v in e]
    [3.0, 2.0, 1.0]
    """
    a11, a22, a33, a12, a13, a23 = (np.asarray(a, np.float64) for a in (a11, a22, a33, a12,
                                                                          a13, a23))
    q = (a11 + a22 + a33) / 3
    b11, b22, b33 = a11 - q, a22 - q, a33 - q
    p = np.sqrt((b11 * b11 + b22 * b22 + b33 * b33 + 2 * (a12 * a12 + a13 * a13 + a23 * a23))
                / 6)
    det = (b11 * (b22 * b33 - a23 * a23) - a12 * (a12 * b33 - a23 * a13)
           + a13 * (a12 * a23 - b22 * a13))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(p > 1e-30, det / (2 * p**3), 0.0)
    phi = np.arccos(np.clip(r, -1.0, 1.0)) / 3
    e1 = q + 2 * p * np.cos(phi)
    e3 = q + 2 * p * np.cos(phi + 2 * math.pi / 3)
    e2 = 3 * q - e1 - e3
    return [e.astype(np.float32) for e in (e1, e2, e3)]


class Volume(Window):
    """Features of a 3D window (see :class:`._window.Window`)."""

    def blur(self, a: np.ndarray, sigma: float, out=None) -> np.ndarray:
        sigmas = [sigma / r for r in self.rel]
        if out is None:
            out = np.empty_like(a)
        return _ndi().gaussian_filter(a, sigmas, mode="reflect", truncate=4.0, output=out)

    def box_mean(self, a: np.ndarray, r: int) -> np.ndarray:
        return _ndi().uniform_filter(a, self.sizes(r), mode="reflect", output=np.float32)

    def sizes(self, r: int) -> tuple[int, ...]:
        return tuple(2 * axis_radius(r, rel) + 1 for rel in self.rel)

    def _quantise(self, low, scale, offset, top) -> np.ndarray:
        v = np.floor((self.x - np.float32(low)) * np.float32(scale) + np.float32(offset))
        return np.clip(v, 0, top).astype(np.uint8)

    def _gaussian(self, k) -> np.ndarray:
        return self.blur(self.x, k[1], out=self.out(k))

    def gradients(self, sigma: float) -> list[np.ndarray]:
        gk = key("gradients", sigma)
        if gk not in self.cache:
            g = self.get(key("gaussian", sigma))
            self.cache[gk] = [first_difference(g, a, 1 / r) for a, r in enumerate(self.rel)]
        return self.cache[gk]

    def _sobel(self, k) -> np.ndarray:
        ndi = _ndi()
        out = self.out(k)
        out[...] = 0
        for axis, rel in enumerate(self.rel):
            d = ndi.sobel(self.x, axis=axis, mode="reflect", output=np.float32)
            d *= np.float32(1 / (32 * rel))
            out += d * d
        return np.sqrt(out, out=out)

    def _gradient(self, k) -> np.ndarray:
        out = self.out(k)
        out[...] = 0
        for d in self.gradients(k[1]):
            out += d * d
        return np.sqrt(out, out=out)

    def hessian_parts(self, sigma: float) -> list[np.ndarray]:
        """LoG and the three Hessian eigenvalues."""
        gk = key("hessian_parts", sigma)
        if gk not in self.cache:
            g = self.get(key("gaussian", sigma))
            rel = self.rel
            diag = [second_difference(g, a, 1 / rel[a]) for a in range(3)]
            off = [
                first_difference(first_difference(g, a, 1 / rel[a]), b, 1 / rel[b])
                for a, b in ((0, 1), (0, 2), (1, 2))
            ]
            log = self.out(key("log", sigma))
            np.add(diag[0], diag[1], out=log)
            log += diag[2]
            self.cache[gk] = [log, *symmetric_eigenvalues(*diag, *off)]
        return self.cache[gk]

    def _log(self, k) -> np.ndarray:
        return self.hessian_parts(k[1])[0]

    def _hessian(self, k) -> np.ndarray:
        return self.hessian_parts(k[1])[k[2]]

    def tensor_parts(self, sigma: float) -> list[np.ndarray]:
        gk = key("tensor_parts", sigma)
        if gk not in self.cache:
            gz, gy, gx = self.gradients(sigma / 2)
            products = [gz * gz, gy * gy, gx * gx, gz * gy, gz * gx, gy * gx]
            products = [self.blur(p, sigma, out=p) for p in products]
            self.cache[gk] = symmetric_eigenvalues(*products)
        return self.cache[gk]

    def _tensor(self, k) -> np.ndarray:
        return self.tensor_parts(k[1])[k[2] - 1]

    def _entropy(self, k) -> np.ndarray:
        q = self.entropy_bins()
        sizes = self.sizes(k[1])
        n = math.prod(sizes)
        table = self.table(n).astype(np.float32)
        total = np.zeros(q.shape, np.float32)
        for b in range(ENTROPY_BINS):
            indicator = q == b
            if not indicator.any():
                continue
            counts = self.box_mean(indicator.astype(np.float32), k[1])
            counts *= np.float32(n)
            total += table[np.rint(counts).astype(np.intp)]
        out = self.out(k)
        np.subtract(np.float32(math.log2(n)), total / np.float32(n), out=out)
        return out

    def _median(self, k) -> np.ndarray:
        m = _ndi().median_filter(self.median_levels(), size=self.sizes(k[1]), mode="nearest")
        return self.dequantise(m, self.out(k))

    def _variance(self, k) -> np.ndarray:
        y = self.centred()
        mean = self.box_mean(y, k[1])
        mean_sq = self.box_mean(y * y, k[1])
        out = self.out(k)
        np.subtract(mean_sq, mean * mean, out=out)
        return np.maximum(out, 0, out=out)

    def _gabor(self, k) -> np.ndarray:
        ndi = _ndi()
        wavelength = k[1]
        theta, phi = (math.radians(a) for a in k[3])
        direction = (math.sin(phi), math.cos(phi) * math.sin(theta),
                     math.cos(phi) * math.cos(theta))
        axes = [
            gabor_kernels(wavelength, d, rel, GABOR_SIGMA_PER_WAVELENGTH)
            for d, rel in zip(direction, self.rel, strict=True)
        ]

        def product(*which: int) -> np.ndarray:
            pk = key("gabor_product", wavelength, 0,
                     tuple(a.id for a in axes) + tuple(which))
            if pk not in self.cache:
                a = self.get(key("gaussian", GABOR_PRESMOOTH_PER_WAVELENGTH * wavelength))
                for axis, (ax, w) in enumerate(zip(axes, which, strict=True)):
                    a = ndi.correlate1d(a, ax.parts[w], axis=axis, mode="reflect",
                                        output=np.float32)
                self.cache[pk] = a
            return self.cache[pk]

        re, im = complex_separable(product, axes, lambda shape: np.empty(shape, np.float32))
        return np.hypot(re, im, out=self.out(k))
