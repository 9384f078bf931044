"""The fused 2D kernels (numba), imported on first use: numba loads slowly.

Stencil kernels take ``(..., y0, y1)`` and fill rows ``y0..y1`` of their outputs. Neighbours
one pixel outside the array are clamped, which is what ``cv2.BORDER_REFLECT`` gives for a
one-pixel reach; the inner loops over x run without clamping (so LLVM vectorises them) and the
two border columns are done separately. Arithmetic stays in float32 unless noted. The
functions live at module level so that numba's on-disk cache reuses them across processes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

jit = njit(nogil=True, cache=True, error_model="numpy")
"""Kernels release the GIL (run on threads) and are cached on disk by numba."""
half = np.float32(0.5)
two = np.float32(2.0)
zero = np.float32(0.0)
mask = uint64(0xFFFF)
s16 = uint64(16)
s32 = uint64(32)
s48 = uint64(48)


@jit
def rows(a, y):
    h = a.shape[0]
    return a[max(y - 1, 0)], a[y], a[min(y + 1, h - 1)]


@jit
def sobel_at(up, mid, dn, xm, x, xp, cy, cx, out):
    gx = cx * (up[xp] + two * mid[xp] + dn[xp] - up[xm] - two * mid[xm] - dn[xm])
    gy = cy * (dn[xm] + two * dn[x] + dn[xp] - up[xm] - two * up[x] - up[xp])
    out[x] = np.sqrt(gx * gx + gy * gy)


@jit
def sobel(a, sy, sx, out, y0, y1):
    w = a.shape[1]
    cy, cx = np.float32(sy / 8), np.float32(sx / 8)
    for y in range(y0, y1):
        up, mid, dn = rows(a, y)
        o = out[y]
        for x in range(1, w - 1):
            sobel_at(up, mid, dn, x - 1, x, x + 1, cy, cx, o)
        sobel_at(up, mid, dn, 0, 0, min(1, w - 1), cy, cx, o)
        sobel_at(up, mid, dn, max(w - 2, 0), w - 1, w - 1, cy, cx, o)


@jit
def gradient_at(up, mid, dn, xm, x, xp, cy, cx, out):
    gx = cx * (mid[xp] - mid[xm])
    gy = cy * (dn[x] - up[x])
    out[x] = np.sqrt(gx * gx + gy * gy)


@jit
def gradient_magnitude(g, sy, sx, out, y0, y1):
    w = g.shape[1]
    cy, cx = np.float32(sy / 2), np.float32(sx / 2)
    for y in range(y0, y1):
        up, mid, dn = rows(g, y)
        o = out[y]
        for x in range(1, w - 1):
            gradient_at(up, mid, dn, x - 1, x, x + 1, cy, cx, o)
        gradient_at(up, mid, dn, 0, 0, min(1, w - 1), cy, cx, o)
        gradient_at(up, mid, dn, max(w - 2, 0), w - 1, w - 1, cy, cx, o)


@jit
def hessian_at(up, mid, dn, xm, x, xp, cyy, cxx, cxy, log, e1, e2):
    c = mid[x]
    dxx = cxx * (mid[xp] - two * c + mid[xm])
    dyy = cyy * (dn[x] - two * c + up[x])
    dxy = cxy * (dn[xp] - dn[xm] - up[xp] + up[xm])
    mean = half * (dxx + dyy)
    d = half * (dxx - dyy)
    root = np.sqrt(d * d + dxy * dxy)
    log[x] = dxx + dyy
    e1[x] = mean + root
    e2[x] = mean - root


@jit
def hessian(g, sy, sx, log, e1, e2, y0, y1):
    w = g.shape[1]
    cyy, cxx, cxy = np.float32(sy * sy), np.float32(sx * sx), np.float32(sx * sy / 4)
    for y in range(y0, y1):
        up, mid, dn = rows(g, y)
        lo, a, b = log[y], e1[y], e2[y]
        for x in range(1, w - 1):
            hessian_at(up, mid, dn, x - 1, x, x + 1, cyy, cxx, cxy, lo, a, b)
        hessian_at(up, mid, dn, 0, 0, min(1, w - 1), cyy, cxx, cxy, lo, a, b)
        hessian_at(up, mid, dn, max(w - 2, 0), w - 1, w - 1, cyy, cxx, cxy, lo, a, b)


@jit
def tensor_at(up, mid, dn, xm, x, xp, cy, cx, jxx, jxy, jyy):
    gx = cx * (mid[xp] - mid[xm])
    gy = cy * (dn[x] - up[x])
    jxx[x] = gx * gx
    jxy[x] = gx * gy
    jyy[x] = gy * gy


@jit
def eigen2(jxx, jxy, jyy, e1, e2, y0, y1):
    w = jxx.shape[1]
    for y in range(y0, y1):
        a, b, c, o1, o2 = jxx[y], jxy[y], jyy[y], e1[y], e2[y]
        for x in range(w):
            mean = half * (a[x] + c[x])
            d = half * (a[x] - c[x])
            root = np.sqrt(d * d + b[x] * b[x])
            o1[x] = mean + root
            o2[x] = mean - root


@jit
def reflect(i, n):
    # cv2.BORDER_REFLECT / scipy "reflect": ... b a | a b c ... (repeated if needed)
    while i < 0 or i >= n:
        i = -i - 1 if i < 0 else 2 * n - i - 1
    return i


@jit
def variance(a, centre, ry, rx, out, y0, y1):
    # Box variance by running sums (float64) of y = a - centre and y**2: one pass.
    h, w = a.shape
    n = (2 * ry + 1) * (2 * rx + 1)
    inv = 1.0 / n
    col = np.zeros(w)
    col2 = np.zeros(w)
    for dy in range(-ry, ry + 1):
        src = a[reflect(y0 + dy, h)]
        for x in range(w):
            v = np.float64(src[x]) - centre
            col[x] += v
            col2[x] += v * v
    for y in range(y0, y1):
        if y > y0:
            add = a[reflect(y + ry, h)]
            sub = a[reflect(y - ry - 1, h)]
            for x in range(w):
                va = np.float64(add[x]) - centre
                vs = np.float64(sub[x]) - centre
                col[x] += va - vs
                col2[x] += va * va - vs * vs
        s = 0.0
        s2 = 0.0
        for dx in range(-rx, rx + 1):
            j = reflect(dx, w)
            s += col[j]
            s2 += col2[j]
        o = out[y]
        for x in range(w):
            m = s * inv
            o[x] = max(s2 * inv - m * m, 0.0)
            ja = reflect(x + rx + 1, w)
            jr = reflect(x - rx, w)
            s += col[ja] - col[jr]
            s2 += col2[ja] - col2[jr]


@jit
def tensor_row(g, y, cy, cx, jxx, jxy, jyy):
    w = g.shape[1]
    up, mid, dn = rows(g, y)
    for x in range(1, w - 1):
        tensor_at(up, mid, dn, x - 1, x, x + 1, cy, cx, jxx, jxy, jyy)
    tensor_at(up, mid, dn, 0, 0, min(1, w - 1), cy, cx, jxx, jxy, jyy)
    tensor_at(up, mid, dn, max(w - 2, 0), w - 1, w - 1, cy, cx, jxx, jxy, jyy)
    if jxx.shape[0] > w:  # odd width: the block's missing column repeats the last one
        jxx[w] = jxx[w - 1]
        jxy[w] = jxy[w - 1]
        jyy[w] = jyy[w - 1]


@jit
def tensor_smoothed(g, sy, sx, ky, kx, e1, e2, y0, y1):
    # Structure tensor in one streaming pass: gradient products of g, smoothed by the separable
    # kernel (ky along Y, kx along X, reflected borders), then the two eigenvalues. Product rows
    # live in a ring buffer, so nothing but g, e1 and e2 touches main memory.
    h, w = g.shape
    ry = (ky.shape[0] - 1) // 2
    rx = (kx.shape[0] - 1) // 2
    n = 2 * ry + 1
    cy, cx = np.float32(sy / 2), np.float32(sx / 2)
    ring = np.empty((n, 3, w), np.float32)
    vert = np.zeros((3, w + 2 * rx), np.float32)
    horiz = np.zeros((3, w), np.float32)
    for yy in range(y0 - ry, y0 + ry):
        slot = ring[yy % n]
        tensor_row(g, reflect(yy, h), cy, cx, slot[0], slot[1], slot[2])
    for y in range(y0, y1):
        slot = ring[(y + ry) % n]
        tensor_row(g, reflect(y + ry, h), cy, cx, slot[0], slot[1], slot[2])
        for c in range(3):
            v = vert[c]
            centre = v[rx:rx + w]  # views, so that indices are loop counters (vectorised)
            centre[:] = zero
            for k in range(n):
                weight = ky[k]
                src = ring[(y - ry + k) % n, c]
                for x in range(w):
                    centre[x] += weight * src[x]
            for j in range(rx):
                v[rx - 1 - j] = v[rx + reflect(j, w)]
                v[rx + w + j] = v[rx + reflect(w + j, w)]
            hb = horiz[c]
            hb[:] = zero
            for k in range(2 * rx + 1):
                weight = kx[k]
                shifted = v[k:k + w]
                for x in range(w):
                    hb[x] += weight * shifted[x]
        a, b, c2, o1, o2 = horiz[0], horiz[1], horiz[2], e1[y], e2[y]
        for x in range(w):
            mean = half * (a[x] + c2[x])
            d = half * (a[x] - c2[x])
            root = np.sqrt(d * d + b[x] * b[x])
            o1[x] = mean + root
            o2[x] = mean - root


@jit
def tensor_halved(g, sy, sx, jxx, jxy, jyy, y0, y1):
    # Structure-tensor products averaged over 2x2 blocks (rows y0..y1 of the half-size
    # outputs); a missing last row/column repeats the one before, like Plane.halve.
    h = g.shape[0]
    wc = jxx.shape[1]
    cy, cx = np.float32(sy / 2), np.float32(sx / 2)
    quarter = np.float32(0.25)
    buf = np.empty((6, 2 * wc), np.float32)
    for yc in range(y0, y1):
        tensor_row(g, min(2 * yc, h - 1), cy, cx, buf[0], buf[1], buf[2])
        tensor_row(g, min(2 * yc + 1, h - 1), cy, cx, buf[3], buf[4], buf[5])
        for i, out in enumerate((jxx[yc], jxy[yc], jyy[yc])):
            a, b = buf[i], buf[i + 3]
            for x in range(wc):
                out[x] = quarter * (a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1])


@jit
def quantise(a, low, scale, offset, top, out, y0, y1):
    w = a.shape[1]
    low, scale = np.float32(low), np.float32(scale)
    offset, top = np.float32(offset), np.float32(top)
    for y in range(y0, y1):
        src, o = a[y], out[y]
        for x in range(w):
            v = np.floor((src[x] - low) * scale + offset)
            o[x] = np.uint8(min(max(v, zero), top))


@jit
def dequantise(q, low, step, out, y0, y1):
    w = q.shape[1]
    low, step = np.float32(low), np.float32(step)
    for y in range(y0, y1):
        src, o = q[y], out[y]
        for x in range(w):
            o[x] = low + step * np.float32(src[x])


@jit
def lane_sum(h, table):
    return (table[h & mask] + table[(h >> s16) & mask] + table[(h >> s32) & mask]
            + table[h >> s48])


@jit
def entropy(q, ry, rx, table, out, y0, y1):
    # q: bins 0..15, padded by ry rows and rx columns each side; out: unpadded shape.
    # Each column's 16 bin counts are packed 4 per uint64 (16-bit lanes, counts < 2**16),
    # so sliding the window one column is 4 additions and 4 subtractions.
    w = out.shape[1]
    wp = q.shape[1]
    ky = 2 * ry + 1
    kx = 2 * rx + 1
    n = ky * kx
    log_n = np.log2(n)
    inv = 1.0 / n
    one = uint64(1)
    column = np.zeros((wp, 4), np.uint64)
    for yy in range(y0, y0 + ky):
        for x in range(wp):
            b = q[yy, x]
            column[x, b >> 2] += one << uint64(16 * (b & 3))
    for y in range(y0, y1):
        if y > y0:
            for x in range(wp):
                b = q[y - 1, x]
                column[x, b >> 2] -= one << uint64(16 * (b & 3))
                b = q[y + ky - 1, x]
                column[x, b >> 2] += one << uint64(16 * (b & 3))
        h0 = h1 = h2 = h3 = uint64(0)
        for x in range(kx):
            h0 += column[x, 0]
            h1 += column[x, 1]
            h2 += column[x, 2]
            h3 += column[x, 3]
        o = out[y]
        for x in range(w):
            s = (lane_sum(h0, table) + lane_sum(h1, table) + lane_sum(h2, table)
                 + lane_sum(h3, table))
            o[x] = log_n - s * inv
            nxt = min(x + kx, wp - 1)
            h0 = h0 + column[nxt, 0] - column[x, 0]
            h1 = h1 + column[nxt, 1] - column[x, 1]
            h2 = h2 + column[nxt, 2] - column[x, 2]
            h3 = h3 + column[nxt, 3] - column[x, 3]
