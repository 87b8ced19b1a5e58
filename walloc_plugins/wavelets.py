"""Full wavelet packet transform with PyWavelets' bior4.4 (CDF 9/7) filters and periodization."""

from __future__ import annotations

import functools
import itertools
import math

import torch
import torch.nn.functional as F

__all__ = ["wpt_analysis", "wpt_synthesis"]

# Design: g levels along one axis are one linear map per block of B = 2**g samples, so a group
# of levels is one product with a composed kernel (57 taps for g=3, 121 for g=4) instead of g
# passes. Median ms, 2-core dev box, 2 threads, float32 (benchmarks/bench_wavelets.py):
# * 2D [1,3,512,768] J=3, analysis 2.8 / synthesis 2.4: the H axis is a batched GEMM over
#   overlapping strided row windows (K[8, 57] @ rows[8b : 8b+57], rows as columns, no im2col),
#   the W axis a GEMM on windows of G=4 blocks. oneDNN strided conv2d per axis: 3.7 warm, 9.5
#   fresh; lifting: 2.4 per level and axis (~14); conv_transpose synthesis: ~10 per axis.
# * 1D [1,2,441088] J=8, analysis 2.4 / synthesis 2.8: strided conv1d (oneDNN) per group of 4
#   levels (one level per pass: ~1.7 a level); synthesis is the polyphase conv whose
#   channels-last output is the interleaved signal (conv_transpose1d: 6.5-15 per group).
# * 2D intermediates share one allocation per call: glibc trims freed heap tops larger than
#   twice the largest freed chunk, and re-faulting pages costs ~1 us each here. (oneDNN's own
#   buffers still re-fault, ~2 ms for 1D, until the process has freed some >= 8 MB chunk.)
# * Backward is the adjoint, run by the other direction's code with the responses swapped.

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
        significant; 2D bands per level a, h, v, d), channels concatenated; same dtype.

    Raises:
        ValueError: wrong ndim, levels < 1, non-float dtype or sizes not multiples of 2**J.
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

    Returns:
        The signal (k = 0) or the level-k packets, as described for ``stop_level``.

    Raises:
        ValueError: wrong ndim, levels or stop_level, non-float dtype, or a channel count
            that is not a multiple of 2**(ndim*J).
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
    """Raise ValueError unless ``x`` is a valid signal (or, with ``packets``, packet stack)."""
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 or 2, got {ndim}")
    if not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        kind = getattr(x, "dtype", type(x).__name__)
        raise ValueError(f"{name} must be a floating-point torch.Tensor, got {kind}")
    layout = "[..., C, L]" if ndim == 1 else "[..., C, H, W]"
    if x.ndim < ndim + 1:
        raise ValueError(f"{name} must be {layout}, got shape {tuple(x.shape)}")
    size, stride = tuple(x.shape[-ndim:]), 1 << levels
    if not packets and any(n % stride for n in size):
        raise ValueError(f"spatial size {size} of {name} is not a multiple of 2**levels = {stride}")
    bands, channels = 1 << (ndim * levels), x.shape[-ndim - 1]
    if packets and channels % bands:
        raise ValueError(f"{name} has {channels} channels, not a multiple of {bands} bands")


def _groups(levels: int, ndim: int) -> tuple[int, ...]:
    """Split J levels into near-equal groups of at most _MAX_GROUP[ndim], larger first."""
    count = -(-levels // _MAX_GROUP[ndim])
    return tuple(levels // count + (i < levels % count) for i in range(count))


# -- composed kernels (built once in float64 from PyWavelets' filters) -----------------------
def _level(x: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
    """One periodic level along the last axis, as pywt.dwt: [..., n] -> [..., 2, n/2] (a, d)."""
    n = x.shape[-1]
    idx = (2 * torch.arange(n // 2)[:, None] + 5 - torch.arange(10)) % n
    return (x[..., idx] @ dec.T).movedim(-1, -2)


def _inverse_level(c: torch.Tensor, rec: torch.Tensor) -> torch.Tensor:
    """One periodic inverse level, as pywt.idwt: [..., 2, m] -> [..., 2m]."""
    m = c.shape[-1]
    parts = (c[..., None] * rec[:, None, :]).sum(-3)  # [..., m, 10]
    idx = ((2 * torch.arange(m)[:, None] - 4 + torch.arange(10)) % (2 * m)).flatten()
    return c.new_zeros(*c.shape[:-2], 2 * m).index_add_(-1, idx, parts.flatten(-2))


def _support(full: torch.Tensor) -> tuple[torch.Tensor, int]:
    """[B, n] indexed by offset t mod n -> (nonzero span [B, k], its first offset t0 <= 0)."""
    n = full.shape[-1]
    centred = full.roll(n // 2, -1)
    nonzero = (centred.abs().amax(0) > 1e-12).nonzero().flatten()
    lo, hi = int(nonzero[0]), int(nonzero[-1])
    return centred[:, lo : hi + 1], lo - n // 2


@functools.cache
def _responses(g: int) -> tuple[tuple[torch.Tensor, int], tuple[torch.Tensor, int]]:
    """Impulse responses of g levels along one axis (B = 2**g bands, natural order), float64.

    Returns ``(ana, t0), (syn, s0)``: band p of block b is sum_t ana[p, t] x[B*b + t0 + t], and
    the signal is x[B*b + s0 + t] += syn[p, t] c[p, b] summed over bands and blocks.
    """
    import pywt  # only here: the hot path needs no numpy

    w = pywt.Wavelet("bior4.4")
    dec = torch.tensor([w.dec_lo, w.dec_hi], dtype=torch.float64)
    rec = torch.tensor([w.rec_lo, w.rec_hi], dtype=torch.float64)
    B = 1 << g
    n = 16 * B  # longer than both supports, so nothing wraps
    x = torch.eye(n, dtype=torch.float64)
    for lev in range(g):
        x = _level(x.reshape(n, 1 << lev, n >> lev), dec)
    c = torch.zeros(B, B, n // B, dtype=torch.float64)
    c[range(B), range(B), 0] = 1.0
    for lev in range(g, 0, -1):
        c = _inverse_level(c.reshape(B, 1 << (lev - 1), 2, n >> lev), rec)
    return _support(x.reshape(n, B, n // B)[:, :, 0].T), _support(c.reshape(B, n))


def _polyphase(resp: torch.Tensor, s0: int) -> tuple[torch.Tensor, int]:
    """Synthesis response -> (W [B(q), B(p), M], pl): x[B*b+q] = sum W[q, p, u] c[p, b-pl+u]."""
    B, k = resp.shape
    s1 = s0 + k - 1
    pl = s1 // B
    t = B * (pl - torch.arange(pl - s0 // B + 1)) + torch.arange(B)[:, None]  # [q, u] offsets
    poly = torch.where((t >= s0) & (t <= s1), resp[:, (t - s0).clamp(0, k - 1)], 0.0)
    return poly.permute(1, 0, 2), pl


def _chunk(blocks: int) -> int:
    """Blocks per W-axis GEMM window: more make wider GEMMs but more zero MACs (4 was fastest)."""
    return math.gcd(blocks, 4)


@functools.lru_cache(maxsize=64)
def _operators(g: int, G: int, adjoint: bool, dtype: torch.dtype, device: torch.device) -> dict:
    """Kernels laid out for the GEMMs and convolutions below, on ``device`` in ``dtype``.

    The adjoint of analysis is synthesis-shaped with the analysis response and vice versa, so
    ``adjoint=True`` swaps the two responses and backward passes reuse the forward code.
    """
    (ana, t0), (syn, s0) = _responses(g)[::-1] if adjoint else _responses(g)
    ana, (B, k) = ana.contiguous(), ana.shape
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
    """g levels along the last ndim axes; backward is the adjoint, run by the other direction."""

    @staticmethod
    def forward(
        ctx, x: torch.Tensor, g: int, ndim: int, synthesis: bool, adjoint: bool
    ) -> torch.Tensor:
        ctx.args = (g, ndim, synthesis, adjoint)
        return _RUN[ndim, synthesis != adjoint](x, g, adjoint)

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
    """[R, H, W] -> [R, 4**g, H/B, W/B]: H-axis GEMM on overlapping row windows, then W axis."""
    R, H, W = x.shape
    B, nh, nw = 1 << g, H >> g, W >> g
    G = _chunk(nw)
    op = _operators(g, G, adjoint, x.dtype, x.device)
    ana, ana_w, left = op["ana"], op["ana_w"], op["left"]
    k = ana.shape[1]
    hb = nh + -(-(k - B) // B)  # blocks per padded image, so all windows share one stride
    Hp, Wp = B * hb, W + k - B
    windows, chunks = max(R * hb - (hb - nh), 0), nw // G  # the last image's tail would overrun
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
    """[R, 4**g, h, w] -> [R, h*B, w*B]: H-axis GEMM on overlapping block windows, then W axis."""
    R, _, nh, nw = c.shape
    B, H, W = 1 << g, nh << g, nw << g
    G = _chunk(nw)
    op = _operators(g, G, adjoint, c.dtype, c.device)
    syn_w, syn_h, M, pl = op["syn_w"], op["syn_h"], op["M"], op["pl"]
    hb, wb, chunks = nh + M - 1, nw + M - 1, nw // G
    windows, rows = max(R * hb - (M - 1), 0), R * H
    cp, hz, tz, wz = _workspace(
        c, (R, hb, B * B * nw), (windows, B, B * nw), (R, H, wb, B), (chunks, rows, G * B)
    )
    # [r, band(pw1 ph1 pw2 ph2 ..), hblock, wblock] -> [r, hblock, ph bits, pw bits, wblock], padded
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
    """[R, B, m] -> [R, m*B]: polyphase conv; its channels-last output is the interleaved signal."""
    op = _operators(g, 1, adjoint, c.dtype, c.device)
    R, B, m = c.shape
    cp = c.new_empty(R, B, 1, m + op["M"] - 1)
    _wrap(cp, c[:, :, None], 3, op["pl"])
    return F.conv2d(cp, op["syn_conv"]).permute(0, 2, 3, 1).reshape(R, m * B)


_RUN = {(1, False): _analysis_1d, (2, False): _analysis_2d,
        (1, True): _synthesis_1d, (2, True): _synthesis_2d}  # (ndim, synthesis-shaped)
