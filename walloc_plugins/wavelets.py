"""Full wavelet packet transform with PyWavelets' bior4.4 (CDF 9/7) filters and periodization."""

from __future__ import annotations

import functools
import itertools
import math

import torch
import torch.nn.functional as F

__all__ = ["wpt_analysis", "wpt_synthesis"]

# PyWavelets' bior4.4 decomposition filters; the reconstruction filters follow from them:
# rec_lo[j] = (-1)^(j+1) dec_hi[j], rec_hi[j] = (-1)^j dec_lo[j].
_DEC_LO = (0.0, 0.03782845550726404, -0.023849465019556843, -0.11062440441843718,
           0.37740285561283066, 0.8526986790088938, 0.37740285561283066,
           -0.11062440441843718, -0.023849465019556843, 0.03782845550726404)
_DEC_HI = (0.0, -0.06453888262869706, 0.04068941760916406, 0.41809227322161724,
           -0.7884856164055829, 0.41809227322161724, 0.04068941760916406,
           -0.06453888262869706, 0.0, 0.0)

# Design (timings: 2 cores, torch 2 threads, float32, median ms; see benchmarks/bench_wavelets.py).
# Several levels along one axis are one linear map per block of B = 2**g samples, so each group
# of g levels is a single product with a composed kernel instead of g passes over the data.
# * 2D, H axis: every output block is K[B, k] @ rows[Bb : Bb+k] with the rows of the whole
#   image as columns, i.e. a batched GEMM over overlapping strided windows (no im2col copy).
# * 2D, W axis: G blocks at a time, [rows, G*B + k - B] windows @ [., G*B] composed matrix.
# * 1D: a strided conv1d (oneDNN) per group of up to 4 levels; synthesis is the polyphase
#   conv with a channels-last weight, whose output memory is already the interleaved signal.
# * All 2D intermediates live in one allocation per call: glibc returns freed heap tops to
#   the OS when they exceed twice the largest freed chunk, and re-faulting ~20 MB of pages
#   cost 5-7 ms per call here (more than the arithmetic).
# Tried for [1,3,512,768] J=3: per-axis oneDNN conv2d with circular pad 9.5 ms (page faults;
# 3.7 without), W conv + H GEMM 2.4, lifting-style elementwise passes (~40 memory passes)
# estimated well above 10, conv_transpose synthesis 20; kept GEMM+GEMM (see the module
# benchmark for the current numbers).

_MAX_GROUP = {1: 4, 2: 3}  # levels per composed kernel: longer kernels cost more MACs per level


def wpt_analysis(x: torch.Tensor, levels: int, ndim: int) -> torch.Tensor:
    """Full wavelet packet analysis (every band split at every level).

    Args:
        x: ``[..., C, L]`` (ndim=1) or ``[..., C, H, W]`` (ndim=2), floating point, any device;
            the spatial sizes must be multiples of ``2**levels``.
        levels: packet depth J >= 1.
        ndim: 1 for signals, 2 for images.

    Returns:
        ``[..., C * 2**J, L / 2**J]`` or ``[..., C * 4**J, H / 2**J, W / 2**J]``: per input
        channel the level-J packets in PyWavelets' natural order (first level most
        significant; 2D bands per level a, h, v, d), channels concatenated.
    """
    _check(x, levels, ndim, "x")
    lead, channels, size = x.shape[: -ndim - 1], x.shape[-ndim - 1], x.shape[-ndim:]
    y = x.reshape(-1, *size)
    for g in _groups(levels, ndim):
        y = _Group.apply(y, g, ndim, False, False)
        y = y.reshape(-1, *y.shape[2:])
    return y.reshape(*lead, channels << (ndim * levels), *y.shape[1:])


def wpt_synthesis(X: torch.Tensor, levels: int, ndim: int, stop_level: int = 0) -> torch.Tensor:
    """Inverse of :func:`wpt_analysis`, optionally stopping at an intermediate level.

    Args:
        X: ``[..., C * 2**(ndim*J), *size]`` packets as returned by :func:`wpt_analysis`.
        levels: packet depth J of ``X``.
        ndim: 1 or 2.
        stop_level: k in ``[0, J)``; levels J..k+1 are inverted. k = 0 returns the signal
            ``[..., C, *size * 2**J]``; k > 0 returns the level-k packets
            ``[..., C * 2**(ndim*k), *size * 2**(J-k)]`` in natural order (the all-lowpass
            band of each channel divided by 2**(ndim*k/2) is a reduced-size signal).
    """
    _check(X, levels, ndim, "X", packets=True)
    if not 0 <= stop_level < levels:
        raise ValueError(f"stop_level must be in [0, {levels}), got {stop_level}")
    inverted = levels - stop_level
    lead, size = X.shape[: -ndim - 1], X.shape[-ndim:]
    out_channels = X.shape[-ndim - 1] >> (ndim * inverted)
    groups = _groups(inverted, ndim)
    y = X.reshape(-1, *size)  # [R * bands, *size]
    for i in reversed(range(len(groups))):
        bands = 1 << (ndim * groups[i])
        y = _Group.apply(y.reshape(-1, bands, *y.shape[1:]), groups[i], ndim, True, False)
    return y.reshape(*lead, out_channels, *y.shape[1:])


def _check(x: torch.Tensor, levels: int, ndim: int, name: str, packets: bool = False) -> None:
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 or 2, got {ndim}")
    if not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch.Tensor, got {getattr(x, 'dtype', type(x))}")
    layout = "[..., C, L]" if ndim == 1 else "[..., C, H, W]"
    if x.ndim < ndim + 1:
        raise ValueError(f"{name} must be {layout}, got shape {tuple(x.shape)}")
    if not packets and any(n % (1 << levels) for n in x.shape[-ndim:]):
        raise ValueError(f"spatial size {tuple(x.shape[-ndim:])} of {name} must be a multiple of 2**levels = {1 << levels}")
    if packets and x.shape[-ndim - 1] % (1 << (ndim * levels)):
        raise ValueError(f"{name} has {x.shape[-ndim - 1]} channels, not a multiple of {1 << (ndim * levels)} bands")


def _groups(levels: int, ndim: int) -> tuple[int, ...]:
    """Split J levels into near-equal groups of at most _MAX_GROUP[ndim], larger first."""
    count = -(-levels // _MAX_GROUP[ndim])
    return tuple(levels // count + (i < levels % count) for i in range(count))


# -- composed kernels (built once in float64 from PyWavelets' formulas) -----------------------
def _level(x: torch.Tensor) -> torch.Tensor:
    """One periodic level along the last axis: [..., n] -> [..., 2, n/2] (a, d)."""
    n = x.shape[-1]
    idx = (2 * torch.arange(n // 2)[:, None] + 5 - torch.arange(10)) % n
    return (x[..., idx] @ torch.tensor([_DEC_LO, _DEC_HI], dtype=x.dtype).T).movedim(-1, -2)


def _inverse_level(c: torch.Tensor) -> torch.Tensor:
    """Inverse of _level: [..., 2, m] -> [..., 2m]."""
    m, j = c.shape[-1], torch.arange(10)
    rec = torch.tensor([_DEC_HI, _DEC_LO], dtype=c.dtype) * torch.tensor([[-1.0], [1.0]], dtype=c.dtype) * (-1.0) ** j
    parts = (c[..., None] * rec[:, None, :]).sum(-3)  # [..., m, 10]
    idx = ((2 * torch.arange(m)[:, None] - 4 + j) % (2 * m)).flatten()
    return c.new_zeros(*c.shape[:-2], 2 * m).index_add_(-1, idx, parts.flatten(-2))


def _support(full: torch.Tensor) -> tuple[torch.Tensor, int]:
    """[B, n] indexed by offset t mod n -> (nonzero span [B, k], its first offset t0 <= 0)."""
    n = full.shape[-1]
    centred = full.roll(n // 2, -1)
    nonzero = (centred.abs().amax(0) > 1e-12).nonzero().flatten()
    lo, hi = int(nonzero[0]), int(nonzero[-1])
    return centred[:, lo : hi + 1], lo - n // 2


@functools.lru_cache(maxsize=None)
def _responses(g: int) -> tuple[tuple[torch.Tensor, int], tuple[torch.Tensor, int]]:
    """Impulse responses of g levels along one axis (B = 2**g bands, natural order), float64.

    Returns ``(ana, t0), (syn, s0)``: band p of block b is sum_t ana[p, t] x[B*b + t0 + t], and
    the signal is x[B*b + s0 + t] += syn[p, t] c[p, b] summed over bands and blocks.
    """
    B = 1 << g
    n = 16 * B  # longer than both supports, so nothing wraps
    x = torch.eye(n, dtype=torch.float64)
    for lev in range(g):
        x = _level(x.reshape(n, 1 << lev, n >> lev))
    c = torch.zeros(B, B, n // B, dtype=torch.float64)
    c[range(B), range(B), 0] = 1.0
    for lev in range(g, 0, -1):
        c = _inverse_level(c.reshape(B, 1 << (lev - 1), 2, n >> lev))
    return _support(x.reshape(n, B, n // B)[:, :, 0].T), _support(c.reshape(B, n))


def _polyphase(resp: torch.Tensor, s0: int) -> tuple[torch.Tensor, int]:
    """Synthesis response -> (W [B(q), B(p), M], pl) with x[B*b + q] = sum W[q, p, u] c[p, b - pl + u]."""
    B, k = resp.shape
    s1 = s0 + k - 1
    pl = s1 // B
    t = B * (pl - torch.arange(pl - s0 // B + 1)) + torch.arange(B)[:, None]  # [q, u] offsets
    poly = torch.where((t >= s0) & (t <= s1), resp[:, (t - s0).clamp(0, k - 1)], 0.0)
    return poly.permute(1, 0, 2), pl


def _chunk(blocks: int) -> int:
    """Blocks per W-axis GEMM window: more blocks make wider GEMMs but more zero MACs."""
    return math.gcd(blocks, 8)


@functools.lru_cache(maxsize=64)
def _operators(g: int, G: int, adjoint: bool, dtype: torch.dtype, device: torch.device) -> dict:
    """Kernels laid out for the GEMMs and convolutions below, on ``device`` in ``dtype``.

    The adjoint of analysis is synthesis-shaped with the analysis response and vice versa, so
    ``adjoint=True`` swaps the two responses and backward passes reuse the forward code.
    """
    (ana, t0), (syn, s0) = _responses(g)[::-1] if adjoint else _responses(g)
    B, k = ana.shape
    poly, pl = _polyphase(syn, s0)
    M = poly.shape[-1]
    # W axis, G blocks at a time: analysis window [G*B + k - B] -> columns (band, block);
    # synthesis window (G + M - 1 blocks, band) -> G*B samples
    ana_w = torch.zeros(G * B + k - B, B, G, dtype=torch.float64)
    syn_w = torch.zeros(G + M - 1, B, G, B, dtype=torch.float64)
    for i in range(G):
        ana_w[B * i : B * i + k, :, i] = ana.T
        syn_w[i : i + M, :, i, :] = poly.permute(2, 1, 0)
    mats = {
        "ana": ana, "ana_w": ana_w.reshape(-1, B * G), "ana_conv": ana[:, None, :],
        "syn_h": poly.permute(0, 2, 1).reshape(B, M * B),  # [q, (u, p)]
        "syn_w": syn_w.reshape(-1, G * B),
        "syn_conv": poly[:, :, None, :].contiguous(memory_format=torch.channels_last),
    }
    ops = {name: m.to(device, dtype) for name, m in mats.items()}
    return {**ops, "left": -t0, "pl": pl, "M": M}


# -- one group of g levels -------------------------------------------------------------------
class _Group(torch.autograd.Function):
    """g levels along the last ndim axes; backward is the adjoint, run by the opposite direction's code."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, g: int, ndim: int, synthesis: bool, adjoint: bool) -> torch.Tensor:
        ctx.args = (g, ndim, synthesis, adjoint)
        run = {(1, False): _analysis_1d, (2, False): _analysis_2d, (1, True): _synthesis_1d, (2, True): _synthesis_2d}
        return run[ndim, synthesis != adjoint](x, g, adjoint)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        g, ndim, synthesis, adjoint = ctx.args
        return _Group.apply(grad, g, ndim, synthesis, not adjoint), None, None, None, None


def _workspace(like: torch.Tensor, *shapes: tuple[int, ...]) -> list[torch.Tensor]:
    """Views of one fresh buffer, so a call allocates (and page-faults) a single chunk."""
    ends = [0, *itertools.accumulate(math.prod(s) for s in shapes)]
    flat = torch.empty(ends[-1], dtype=like.dtype, device=like.device)
    return [flat[a:b].view(s) for a, b, s in zip(ends, ends[1:], shapes)]


def _wrap(dst: torch.Tensor, src: torch.Tensor, dim: int, left: int) -> None:
    """dst[i] = src[(i - left) mod n] along ``dim``, in as few slice copies as the sizes allow."""
    n, i = src.shape[dim], 0
    while i < dst.shape[dim]:
        s = (i - left) % n
        run = min(n - s, dst.shape[dim] - i)
        part, piece = dst.narrow(dim, i, run), src.narrow(dim, s, run)
        if part.data_ptr() != piece.data_ptr():  # skip copying src onto itself
            part.copy_(piece)
        i += run


def _analysis_2d(x: torch.Tensor, g: int, adjoint: bool) -> torch.Tensor:
    """[R, H, W] -> [R, 4**g, H/B, W/B]: H-axis GEMM on overlapping row windows, then W-axis GEMM."""
    R, H, W = x.shape
    B, nh, nw = 1 << g, H >> g, W >> g
    G = _chunk(nw)
    op = _operators(g, G, adjoint, x.dtype, x.device)
    ana, ana_w, left = op["ana"], op["ana_w"], op["left"]
    k = ana.shape[1]
    hb = nh + -(-(k - B) // B)  # blocks per padded image, so all windows share one stride
    Hp, Wp = B * hb, W + k - B
    windows, chunks = R * hb - (hb - nh), nw // G  # the last image's trailing windows would overrun
    rows = windows * B
    xp, hz, wz = _workspace(x, (R, Hp, Wp), (windows, B, Wp), (chunks, rows, B * G))
    _wrap(xp.narrow(1, left, H), x, 2, left)
    _wrap(xp, xp.narrow(1, left, H), 1, left)
    # hz[w] = ana @ xp[rows B*w .. B*w + k) for every window w (junk ones straddle two images)
    torch.matmul(ana, xp.as_strided((windows, k, Wp), (B * Wp, Wp, 1)), out=hz)
    torch.matmul(hz.as_strided((chunks, rows, ana_w.shape[0]), (G * B, Wp, 1)), ana_w, out=wz)
    # wz[chunk, (r, hblock, ph), (pw, i)] -> [r, (pw1 ph1 pw2 ph2 ...), hblock, (chunk, i)]
    size, stride = [R], [hb * B * B * G]
    for i in range(g):
        size += [2, 2]
        stride += [G << (g - 1 - i), (B * G) << (g - 1 - i)]
    view = wz.as_strided(size + [nh, chunks, G], stride + [B * B * G, rows * B * G, 1])
    return view.reshape(R, B * B, nh, nw)


def _synthesis_2d(c: torch.Tensor, g: int, adjoint: bool) -> torch.Tensor:
    """[R, 4**g, h, w] -> [R, h*B, w*B]: H-axis GEMM on overlapping block windows, then W-axis GEMM."""
    R, _, nh, nw = c.shape
    B, H, W = 1 << g, nh << g, nw << g
    G = _chunk(nw)
    op = _operators(g, G, adjoint, c.dtype, c.device)
    syn_w, syn_h, M, pl = op["syn_w"], op["syn_h"], op["M"], op["pl"]
    hb, wb, chunks = nh + M - 1, nw + M - 1, nw // G
    windows, rows = R * hb - (M - 1), R * H
    cp, hz, tz, wz = _workspace(c, (R, hb, B * B * nw), (windows, B, B * nw), (R, H, wb, B), (chunks, rows, G * B))
    # [r, band(pw1 ph1 pw2 ph2 ...), hblock, wblock] -> [r, hblock, ph bits, pw bits, wblock], padded
    order = [0, 2 * g + 1, *range(2, 2 * g + 1, 2), *range(1, 2 * g, 2), 2 * g + 2]
    bits = [2] * (2 * g)
    _wrap(cp.view(R, hb, *bits, nw), c.view(R, *bits, nh, nw).permute(order), 1, pl)
    # hz[w] = syn_h @ cp[blocks w .. w + M): rows (block, ph) -> rows q, columns (pw, wblock)
    torch.matmul(syn_h, cp.as_strided((windows, M * B, B * nw), (B * B * nw, B * nw, 1)), out=hz)
    # to [r, row, wblock, pw] (padded) so that a W window of blocks is one contiguous run
    _wrap(tz, hz.as_strided((R, H, nw, B), (hb * B * B * nw, B * nw, 1, nw)), 2, pl)
    torch.matmul(tz.as_strided((chunks, rows, (G + M - 1) * B), (G * B, wb * B, 1)), syn_w, out=wz)
    return wz.view(chunks, R, H, G * B).permute(1, 2, 0, 3).reshape(R, H, W)


def _analysis_1d(x: torch.Tensor, g: int, adjoint: bool) -> torch.Tensor:
    """[R, L] -> [R, B, L/B]: circular pad, then one strided conv1d with the composed kernel."""
    op = _operators(g, 1, adjoint, x.dtype, x.device)
    conv, left, B = op["ana_conv"], op["left"], 1 << g
    xp = x.new_empty(x.shape[0], 1, x.shape[1] + conv.shape[-1] - B)
    _wrap(xp, x[:, None], 2, left)
    return F.conv1d(xp, conv, stride=B)


def _synthesis_1d(c: torch.Tensor, g: int, adjoint: bool) -> torch.Tensor:
    """[R, B, m] -> [R, m*B]: polyphase conv whose channels-last output is the interleaved signal."""
    op = _operators(g, 1, adjoint, c.dtype, c.device)
    R, B, m = c.shape
    cp = c.new_empty(R, B, 1, m + op["M"] - 1)
    _wrap(cp, c[:, :, None], 3, op["pl"])
    return F.conv2d(cp, op["syn_conv"]).permute(0, 2, 3, 1).reshape(R, m * B)
