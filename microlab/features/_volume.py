"""3D features: genuine 3D filters, anisotropic spacing honoured.

Every filter works on the whole ``(Z, Y, X)`` window, along all three axes. A Gaussian σ is σ
pixels of the finest axis, i.e. ``σ / rel`` pixels along an axis whose voxels are ``rel``
times larger (spacing ``(3, 1, 1)``: σ/3 along Z). Separable filters run one axis at a time
through OpenCV (:func:`correlate_axis`: what ``scipy.ndimage.correlate1d`` gives with
``mode="reflect"``, several times faster, on all cores); Hessian and structure-tensor
eigenvalues (closed form for symmetric 3×3 matrices) and the local entropy (16 bin counts
packed in 64-bit words, box-summed along each axis) are numba kernels (:mod:`._jit_volume`).
"""

from __future__ import annotations

import math

import numpy as np

from ._kernels import run_rows, start_volume_kernels, volume_kernels
from ._plane import (
    GABOR_PRESMOOTH_PER_WAVELENGTH,
    GABOR_SIGMA_PER_WAVELENGTH,
    complex_separable,
    gabor_kernels,
)
from ._window import Window, axis_radius, key

_ONE = np.ones(1, np.float32)


_NUMBA_KINDS = frozenset({"hessian", "tensor", "entropy"})
"""Features whose 3D computation runs numba kernels (eigenvalues, entropy's bin counts)."""


def _ndi():
    import scipy.ndimage

    return scipy.ndimage


def correlate_axis(a: np.ndarray, weights: np.ndarray, axis: int, out: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.correlate1d(a, weights, axis, mode="reflect")`` into ``out``.

    ``a`` and ``out`` are distinct C-contiguous float32 ``(Z, Y, X)`` arrays and ``weights``
    has an odd length. OpenCV filters 2D views of the volume (``(Z·Y, X)`` rows for X, each
    slice for Y, ``(Z, Y·X)`` columns for Z), split over the cores; equal to scipy's up to
    float32 rounding, borders included (long kernels on short axes too).

    Examples
    --------
    >>> import scipy.ndimage
    >>> a = np.random.default_rng(0).random((3, 5, 7), dtype=np.float32)
    >>> w = np.float32([1, 2, 3, 2, 1, 0, 4])
    >>> all(np.allclose(correlate_axis(a, w, axis, np.empty_like(a)),
    ...                 scipy.ndimage.correlate1d(a, w, axis, mode="reflect"), atol=1e-5)
    ...     for axis in range(3))
    True
    """
    import cv2

    w = np.ascontiguousarray(weights, np.float32)
    z, y, x = a.shape
    reflect = cv2.BORDER_REFLECT

    def along(src, dst, kx, ky) -> None:
        result = cv2.sepFilter2D(src, cv2.CV_32F, kx, ky, dst=dst, borderType=reflect)
        if not np.shares_memory(result, dst):  # pragma: no cover - OpenCV made a new array
            dst[...] = result

    if axis == 2:
        src, dst = a.reshape(z * y, x), out.reshape(z * y, x)
        run_rows(lambda i0, i1: along(src[i0:i1], dst[i0:i1], w, _ONE), z * y, x)
    elif axis == 1:
        def slices(i0: int, i1: int) -> None:
            for i in range(i0, i1):
                along(a[i], out[i], _ONE, w)

        run_rows(slices, z, y * x)
    else:
        src, dst = a.reshape(z, y * x), out.reshape(z, y * x)
        run_rows(lambda i0, i1: along(src[:, i0:i1], dst[:, i0:i1], _ONE, w), y * x, z)
    return out


def gaussian_weights(sigma: float) -> np.ndarray:
    """scipy's Gaussian taps for ``gaussian_filter(..., truncate=4.0)``, float32."""
    from .._ndfilters import gaussian_taps  # here: it imports scipy.ndimage, which
    # importing the features does not

    return gaussian_taps(sigma).astype(np.float32)


def first_difference(g: np.ndarray, axis: int, scale: float, out=None) -> np.ndarray:
    """Central difference along ``axis``; the end samples repeat (a one-pixel reflection).

    Examples
    --------
    >>> g = np.float32([0, 1, 4, 9]).reshape(1, 1, 4)
    >>> first_difference(g, 2, 1.0).ravel().tolist()
    [0.5, 2.0, 4.0, 2.5]
    """
    half = np.float32(0.5 * scale)
    out = np.empty_like(g) if out is None else out
    return correlate_axis(g, np.float32([-half, 0, half]), axis, out)


def second_difference(g: np.ndarray, axis: int, scale: float, out=None) -> np.ndarray:
    """``g[i+1] - 2 g[i] + g[i-1]`` along ``axis``, end samples repeated.

    Examples
    --------
    >>> g = np.float32([0, 1, 4, 9]).reshape(1, 1, 4)
    >>> second_difference(g, 2, 1.0).ravel().tolist()
    [1.0, 2.0, 2.0, -5.0]
    """
    s2 = np.float32(scale * scale)
    out = np.empty_like(g) if out is None else out
    return correlate_axis(g, np.float32([s2, -2 * s2, s2]), axis, out)


def symmetric_eigenvalues(a11, a22, a33, a12, a13, a23, out=None) -> list[np.ndarray]:
    """Eigenvalues (largest first) of symmetric 3×3 matrices given by their 6 entries.

    Closed form (trigonometric solution of the characteristic cubic), per voxel in a numba
    kernel on all cores; computed in float64 and returned as float32 (into ``out``, three
    arrays, if given).

    Examples
    --------
    >>> e = symmetric_eigenvalues(*[np.array([v]) for v in (2.0, 3.0, 1.0, 0.0, 0.0, 0.0)])
    >>> [float(v[0]) for v in e]
    [3.0, 2.0, 1.0]
    """
    entries = [np.ascontiguousarray(a, np.float32) for a in (a11, a22, a33, a12, a13, a23)]
    shape = entries[0].shape
    cols = shape[-1] if len(shape) > 1 else max(entries[0].size, 1)
    flat = [e.reshape(-1, cols) for e in entries]
    out = [np.empty(shape, np.float32) for _ in range(3)] if out is None else list(out)
    run_rows(volume_kernels().eigen3, flat[0].shape[0], cols, *flat,
             *(o.reshape(-1, cols) for o in out))
    return out


class Volume(Window):
    """Features of a 3D window (see :class:`._window.Window`)."""

    def fill(self, specs) -> None:
        if any(spec.kind in _NUMBA_KINDS for spec in specs):
            start_volume_kernels()  # loads numba while the first filters run
        super().fill(specs)

    def separable(self, a: np.ndarray, weights, out: np.ndarray) -> np.ndarray:
        """``a`` correlated with ``weights[axis]`` along each axis (X, then Y, then Z), into
        ``out``."""
        first, second = self.empty(a.shape), self.empty(a.shape)
        correlate_axis(a, weights[2], 2, first)
        correlate_axis(first, weights[1], 1, second)
        correlate_axis(second, weights[0], 0, out)
        self.release(first, second)
        return out

    def blur(self, a: np.ndarray, sigma: float, out=None) -> np.ndarray:
        weights = [gaussian_weights(sigma / rel) for rel in self.rel]
        return self.separable(a, weights, np.empty_like(a) if out is None else out)

    def box_mean(self, a: np.ndarray, r: int) -> np.ndarray:
        weights = [np.full(size, 1 / size, np.float32) for size in self.sizes(r)]
        return self.separable(a, weights, self.empty(a.shape))

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
            self.cache[gk] = [first_difference(g, a, 1 / r, out=self.empty())
                              for a, r in enumerate(self.rel)]
        return self.cache[gk]

    def _sobel(self, k) -> np.ndarray:
        out = self.out(k)
        out[...] = 0
        diff, smooth = np.float32([-1, 0, 1]), np.float32([1, 2, 1])
        d = self.empty()
        for axis, rel in enumerate(self.rel):
            self.separable(self.x, [diff if b == axis else smooth for b in range(3)], d)
            d *= np.float32(1 / (32 * rel))
            d *= d
            out += d
        self.release(d)
        return np.sqrt(out, out=out)

    def _gradient(self, k) -> np.ndarray:
        out = self.out(k)
        out[...] = 0
        square = self.empty()
        for d in self.gradients(k[1]):
            np.multiply(d, d, out=square)
            out += square
        self.release(square)
        return np.sqrt(out, out=out)

    def hessian_parts(self, sigma: float) -> list[np.ndarray]:
        """LoG and the three Hessian eigenvalues (only the LoG when no eigenvalue of this σ
        is asked for: the eigenvalues are half the cost)."""
        gk = key("hessian_parts", sigma)
        if gk not in self.cache:
            g = self.get(key("gaussian", sigma))
            rel = self.rel
            diag = [second_difference(g, a, 1 / rel[a], out=self.empty()) for a in range(3)]
            log = self.out(key("log", sigma))
            np.add(diag[0], diag[1], out=log)
            log += diag[2]
            if not any(key("hessian", sigma, i) in self.planes for i in (1, 2, 3)):
                self.release(*diag)
                self.cache[gk] = [log]
                return self.cache[gk]
            off, step = [], self.empty()
            for a, b in ((0, 1), (0, 2), (1, 2)):
                first_difference(g, a, 1 / rel[a], out=step)
                off.append(first_difference(step, b, 1 / rel[b], out=self.empty()))
            eig = [self.out(key("hessian", sigma, i)) for i in (1, 2, 3)]
            self.cache[gk] = [log, *symmetric_eigenvalues(*diag, *off, out=eig)]
            self.release(step, *diag, *off)
        return self.cache[gk]

    def _log(self, k) -> np.ndarray:
        return self.hessian_parts(k[1])[0]

    def _hessian(self, k) -> np.ndarray:
        return self.hessian_parts(k[1])[k[2]]

    def tensor_parts(self, sigma: float) -> list[np.ndarray]:
        gk = key("tensor_parts", sigma)
        if gk not in self.cache:
            gz, gy, gx = self.gradients(sigma / 2)
            products = []
            for a, b in ((gz, gz), (gy, gy), (gx, gx), (gz, gy), (gz, gx), (gy, gx)):
                product = np.multiply(a, b, out=self.empty())
                products.append(self.blur(product, sigma, out=product))
            eig = [self.out(key("tensor", sigma, i)) for i in (1, 2, 3)]
            self.cache[gk] = symmetric_eigenvalues(*products, out=eig)
            self.release(*products)
        return self.cache[gk]

    def _tensor(self, k) -> np.ndarray:
        return self.tensor_parts(k[1])[k[2] - 1]

    def _entropy(self, k) -> np.ndarray:
        kernels = volume_kernels()
        z, y, x = self.x.shape
        rz, ry, rx = ((size - 1) // 2 for size in self.sizes(k[1]))
        n = (2 * rz + 1) * (2 * ry + 1) * (2 * rx + 1)
        q = self.entropy_bins().reshape(z * y, x)
        a = self.empty((z, y, x, 4), np.uint64)
        b = self.empty((z, y, x, 4), np.uint64)
        run_rows(kernels.pack_bins, z * y, x, q, a.reshape(z * y, x, 4))
        run_rows(kernels.box_sum, 4, z * y * x, a.reshape(z * y, x, 4), rx,
                 b.reshape(z * y, x, 4))
        run_rows(kernels.box_sum, x * 4, z * y, b.reshape(z, y, x * 4), ry,
                 a.reshape(z, y, x * 4))
        run_rows(kernels.box_sum, y * x * 4, z, a.reshape(1, z, y * x * 4), rz,
                 b.reshape(1, z, y * x * 4))
        out = self.out(k)
        run_rows(kernels.entropy_of_counts, z * y, x, b.reshape(z * y, x, 4), self.table(n),
                 math.log2(n), 1.0 / n, out.reshape(z * y, x))
        self.release(a, b)
        return out

    def _median(self, k) -> np.ndarray:
        sizes, levels = self.sizes(k[1]), self.median_levels()
        if sizes[0] == 1 and sizes[1] == sizes[2]:  # one slice deep: OpenCV's 2D median
            import cv2

            m = self.empty(dtype=np.uint8)

            def slices(i0: int, i1: int) -> None:
                for i in range(i0, i1):
                    m[i] = cv2.medianBlur(levels[i], sizes[1])

            run_rows(slices, m.shape[0], m[0].size)
        else:
            m = _ndi().median_filter(levels, size=sizes, mode="nearest")
        return self.dequantise(m, self.out(k))

    def _variance(self, k) -> np.ndarray:
        y = self.centred()
        mean = self.box_mean(y, k[1])
        mean_sq = self.box_mean(y * y, k[1])
        out = self.out(k)
        mean *= mean
        np.subtract(mean_sq, mean, out=out)
        self.release(mean, mean_sq)
        return np.maximum(out, 0, out=out)

    def _gabor(self, k) -> np.ndarray:
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
                passes = []
                for axis, (ax, w) in enumerate(zip(axes, which, strict=True)):
                    a = correlate_axis(a, ax.parts[w], axis, self.empty())
                    passes.append(a)
                self.release(*passes[:-1])
                self.cache[pk] = a
            return self.cache[pk]

        re, im = complex_separable(product, axes, self.empty)
        return np.hypot(re, im, out=self.out(k))
