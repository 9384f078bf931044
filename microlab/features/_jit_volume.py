"""The 3D kernels (numba), imported on first use, like the 2D ones in :mod:`._jit`.

Each takes a range ``(i0, i1)`` last, so :func:`._kernels.run_rows` splits the work over the
cores. Arrays are C-contiguous; the caller reshapes the volume so that the kernel's loops run
along contiguous memory.
"""

from __future__ import annotations

import math

from numba import uint64

from ._jit import jit, lane_sum, reflect


@jit
def eigen3(a11, a22, a33, a12, a13, a23, e1, e2, e3, y0, y1):
    # eigenvalues (largest first) of symmetric 3×3 matrices, arrays (rows, cols), float64
    # inside: the trigonometric solution of the characteristic cubic
    third = 1.0 / 3.0
    for y in range(y0, y1):
        for x in range(a11.shape[1]):
            d1, d2, d3 = float(a11[y, x]), float(a22[y, x]), float(a33[y, x])
            o1, o2, o3 = float(a12[y, x]), float(a13[y, x]), float(a23[y, x])
            q = (d1 + d2 + d3) * third
            b1, b2, b3 = d1 - q, d2 - q, d3 - q
            p = math.sqrt((b1 * b1 + b2 * b2 + b3 * b3 + 2.0 * (o1 * o1 + o2 * o2 + o3 * o3))
                          / 6.0)
            det = b1 * (b2 * b3 - o3 * o3) - o1 * (o1 * b3 - o3 * o2) + o2 * (o1 * o3 - b2 * o2)
            r = det / (2.0 * p * p * p) if p > 1e-30 else 0.0
            phi = math.acos(min(max(r, -1.0), 1.0)) * third
            v1 = q + 2.0 * p * math.cos(phi)
            v3 = q + 2.0 * p * math.cos(phi + 2.0 * math.pi * third)
            e1[y, x] = v1
            e2[y, x] = 3.0 * q - v1 - v3
            e3[y, x] = v3


@jit
def pack_bins(q, packed, y0, y1):
    # q (rows, cols) bins 0..15 -> packed (rows, cols, 4): one count in bin b's 16-bit lane
    one = uint64(1)
    for y in range(y0, y1):
        for x in range(q.shape[1]):
            b = q[y, x]
            for lane in range(4):
                packed[y, x, lane] = 0
            packed[y, x, b >> 2] = one << uint64(16 * (b & 3))


@jit
def box_sum(src, r, dst, b0, b1):
    # src, dst (A, n, B): sum over [i - r, i + r] along the middle axis (borders reflected
    # as scipy's "reflect"), for the columns b0..b1 of the last axis
    n = src.shape[1]
    for a in range(src.shape[0]):
        s, d = src[a], dst[a]
        for b in range(b0, b1):
            d[0, b] = 0
        for k in range(-r, r + 1):
            row = s[reflect(k, n)]
            for b in range(b0, b1):
                d[0, b] += row[b]
        for i in range(1, n):
            add, sub = s[reflect(i + r, n)], s[reflect(i - r - 1, n)]
            prev, cur = d[i - 1], d[i]
            for b in range(b0, b1):
                cur[b] = prev[b] + add[b] - sub[b]


@jit
def entropy_of_counts(h, table, log_n, inv, out, y0, y1):
    # h (rows, cols, 4): 16 packed bin counts of each voxel's window of n voxels
    for y in range(y0, y1):
        for x in range(h.shape[1]):
            s = (lane_sum(h[y, x, 0], table) + lane_sum(h[y, x, 1], table)
                 + lane_sum(h[y, x, 2], table) + lane_sum(h[y, x, 3], table))
            out[y, x] = log_n - s * inv
