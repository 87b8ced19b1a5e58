"""Quality metrics with the definitions of shared/data/BASELINES.md: PSNR, MS-SSIM, SNR."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["ms_ssim", "psnr", "snr"]

_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def psnr(reference: np.ndarray, decoded: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB over all values (inf for identical inputs)."""
    error = np.mean((np.asarray(reference, np.float64) - np.asarray(decoded, np.float64)) ** 2)
    return math.inf if error == 0 else 10 * math.log10(peak**2 / error)


def snr(reference: np.ndarray, decoded: np.ndarray) -> float:
    """Signal-to-noise ratio in dB: signal energy over error energy."""
    reference = np.asarray(reference, np.float64)
    error = np.sum((reference - np.asarray(decoded, np.float64)) ** 2)
    return math.inf if error == 0 else 10 * math.log10(np.sum(reference**2) / error)


def ms_ssim(reference: np.ndarray, decoded: np.ndarray, peak: float = 255.0) -> float:
    """5-scale MS-SSIM (Gaussian window 11, sigma 1.5) per channel, averaged over channels.

    Images ``[H, W]`` or ``[H, W, C]``; NaN when a side is shorter than 176 pixels (the
    coarsest scale would be smaller than the window).
    """
    x, y = (_as_planes(a) for a in (reference, decoded))
    if min(x.shape[-2:]) < 11 * 2 ** (len(_MS_SSIM_WEIGHTS) - 1):
        return math.nan
    window = _gaussian(11, 1.5, x.dtype)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    values = []
    for scale, _ in enumerate(_MS_SSIM_WEIGHTS):
        ssim, contrast = _ssim(x, y, window, c1, c2)
        values.append(ssim if scale == len(_MS_SSIM_WEIGHTS) - 1 else contrast)
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    stacked = torch.stack(values).clamp_min(0)  # [scales, C]
    weights = torch.tensor(_MS_SSIM_WEIGHTS, dtype=x.dtype)[:, None]
    return float(torch.prod(stacked**weights, dim=0).mean())


def _as_planes(image: np.ndarray) -> torch.Tensor:
    array = np.asarray(image, np.float32)
    array = array[..., None] if array.ndim == 2 else array
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[:, None]  # [C, 1, H, W]


def _gaussian(size: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    offsets = torch.arange(size, dtype=dtype) - size // 2
    g = torch.exp(-(offsets**2) / (2 * sigma**2))
    return g / g.sum()


def _ssim(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, c1: float, c2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure term per channel (valid, separable filtering)."""
    maps = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # [C, 5, H, W]: one filtering pass
    size = window.numel()
    maps = F.conv2d(maps, window.view(1, 1, size, 1).expand(5, 1, size, 1), groups=5)
    mu_x, mu_y, xx, yy, xy = F.conv2d(maps, window.view(1, 1, 1, size).expand(5, 1, 1, size), groups=5).unbind(1)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    contrast = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (luminance * contrast).mean(dim=(1, 2)), contrast.mean(dim=(1, 2))
