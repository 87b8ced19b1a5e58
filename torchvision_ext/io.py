"""Reading and writing .wlc files with tensors, in the style of ``torchvision.io`` and torchaudio.

Images are uint8 ``(C, H, W)`` tensors (an alpha plane is the last channel), waveforms float32
``(channels, time)``; ``read_latent`` is the fast path for learning on latents.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from walloc_plugins import api
from walloc_plugins.errors import InputError
from walloc_plugins.files import Source
from walloc_plugins.registry import get_entry
from walloc_plugins.wlcinfo import read_header

from .resampling import resample

__all__ = ["decode_wlc", "encode_wlc", "load", "read_latent", "save"]


def decode_wlc(data: torch.Tensor | str | os.PathLike, *, reduce: int = 0) -> torch.Tensor:
    """Decode a .wlc image to a uint8 ``(C, H, W)`` tensor.

    Args:
        data: the file's bytes as a 1-D uint8 tensor (what ``torchvision.io.read_file``
            gives), or its path.
        reduce: decode at ``1 / 2**reduce`` of the size (0 to the codec's levels), much
            faster than a full decode and a resize.
    """
    if isinstance(data, torch.Tensor):
        if data.dtype != torch.uint8 or data.ndim != 1:
            raise InputError("decode_wlc takes the file's bytes as a 1-D uint8 tensor, or a path")
        data = data.cpu().numpy().tobytes()
    pixels = api.read_image(data).decode(reduce)
    return torch.from_numpy(pixels.reshape(*pixels.shape[:2], -1)).permute(2, 0, 1).contiguous()


def encode_wlc(
    image: torch.Tensor, codec: str | None = None, *, coder: str = api.DEFAULT_CODER
) -> torch.Tensor:
    """Encode a ``(C, H, W)`` image (uint8, or float in [0, 1]) to the bytes of a .wlc file.

    Returns a 1-D uint8 tensor (write it with ``torchvision.io.write_file``). ``codec``
    defaults to the core's choice for the channel count; one channel more is alpha, stored
    losslessly.
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        kind = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise InputError(f"encode_wlc takes one image (C, H, W), got {kind}")
    data = api.compress(image.detach().cpu().permute(1, 2, 0).numpy(), codec, coder=coder)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def read_latent(path: Source) -> torch.Tensor:
    """The int8 latent a .wlc file stores, by entropy decoding only (no decoder runs).

    Images give ``(D, h, w)``, equal to ``WallocEncode(codec, dtype=torch.int8)`` of the
    image; audio gives ``(D, t)``, the frames' latents in order (``walloc_plugins.read_latent``
    also returns the header and each frame's gain).
    """
    return api.read_latent(path).q


def load(path: str | os.PathLike) -> tuple[torch.Tensor, int]:
    """Decode a .wlc audio file: ``(waveform, sample_rate)``, float32 ``(channels, time)``."""
    header = read_header(path)
    if header.modality != "audio":
        raise InputError(f"{path} holds an image; read it with decode_wlc or read_latent")
    return torch.from_numpy(np.ascontiguousarray(api.decompress(path).T)), header.sample_rate


def save(
    path: str | os.PathLike,
    waveform: torch.Tensor,
    sample_rate: int,
    codec: str | None = None,
    *,
    coder: str = api.DEFAULT_CODER,
) -> None:
    """Encode a float waveform ``(channels, time)`` in [-1, 1] to a .wlc file (atomically).

    Audio at another rate than the codec's is resampled to it first; ``load`` returns the
    codec's rate. ``codec`` defaults to the core's choice for the channel count.
    """
    if (
        not isinstance(waveform, torch.Tensor)
        or waveform.ndim != 2
        or not waveform.is_floating_point()
    ):
        raise InputError("save takes a float waveform (channels, time)")
    name = codec or api.DEFAULT_CODECS.get(("audio", waveform.shape[0]))
    if name is None:
        raise InputError(f"no default codec for {waveform.shape[0]}-channel audio; pass codec=...")
    rate = get_entry(name).config.sample_rate
    audio = resample(waveform.detach().cpu().float(), sample_rate, rate)  # type: ignore[arg-type]
    api.save(path, audio.T.numpy(), name, sample_rate=rate, coder=coder)
