"""The input kinds compared, and how a task's files become in-memory tensors of each kind.

For every codec of a task there are three kinds with the same number of values: resizing the
signal to that many values (Lanczos for images, ideal resampling for audio), the codec's float
latents (``WallocCodec.analysis`` of the decoded PNG or WAV) and its int8 latents (read from the
``.wlc`` files that ``walloc convert`` wrote, through ``torchvision_ext.WlcFolder``: entropy
decoding only, no decoder runs). The full-resolution signal is the ceiling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.signal import resample
from torch.utils.data import DataLoader

from torchvision_ext import WlcFolder
from walloc_plugins import load_codec
from walloc_plugins.registry import get_entry
from walloc_plugins.wav import read_wav

# Trunk grid: 256 x 256 images have 32 x 32 latent positions (J = 3); one second of 44.1 kHz
# audio has 173 (J = 8), paired by the stem into 86.
IMAGE_SIZE, IMAGE_GRID = 256, 32
AUDIO_LENGTH, AUDIO_GRID = 44100, 86


@dataclass(frozen=True)
class Kind:
    """One way of feeding a task's samples to a classifier.

    Attributes:
        name: short key, e.g. ``lanczos-64``, ``rgb-16x-linear/float``.
        source: ``signal`` (full resolution), ``resized``, ``float`` or ``int8``.
        codec: the codec whose latents (or whose reduction, for ``resized``) it uses.
        shape: one sample's tensor shape, channels first.
    """

    name: str
    source: str
    codec: str | None
    shape: tuple[int, ...]

    @property
    def values(self) -> int:
        return int(np.prod(self.shape))

    @property
    def patch(self) -> tuple[int, ...]:
        """Input positions per trunk grid position along each axis (the stem's patch)."""
        grid = IMAGE_GRID if len(self.shape) == 3 else AUDIO_GRID
        return tuple(n // grid for n in self.shape[1:])


def kinds(modality: str, codecs: Sequence[str], latents: Sequence[str] = ("float", "int8")) -> list[Kind]:
    """The signal, then for each codec: the resize to its size and its latents."""
    if modality == "image":
        found = [Kind("pixels-256", "signal", None, (3, IMAGE_SIZE, IMAGE_SIZE))]
    else:
        found = [Kind("audio-44.1k", "signal", None, (2, AUDIO_LENGTH))]
    for codec in codecs:
        config = get_entry(codec).config
        if config.modality != modality:
            raise ValueError(f"codec {codec!r} codes {config.modality}, not {modality}")
        bands = config.channels * config.stride ** config.ndim
        if modality == "image":
            grid = IMAGE_SIZE // config.stride
            side = round(IMAGE_SIZE * (config.latent_dim / bands) ** 0.5)
            found.append(Kind(f"lanczos-{side}", "resized", codec, (3, side, side)))
            latent = (config.latent_dim, grid, grid)
        else:
            length = round(AUDIO_LENGTH * config.latent_dim / bands)
            found.append(Kind(f"resample-{length / 1000:.2f}k", "resized", codec, (2, length)))
            latent = (config.latent_dim, -(-AUDIO_LENGTH // config.stride))
        found += [Kind(f"{codec}/{dtype}", dtype, codec, latent) for dtype in latents]
    return found


def read_signals(files: Sequence[Path], modality: str) -> np.ndarray:
    """uint8 ``[N, 3, H, W]`` images from PNGs or int16 ``[N, 2, T]`` audio from WAVs."""
    if modality == "image":
        first = np.asarray(Image.open(files[0]).convert("RGB"))
        out = np.empty((len(files), 3, *first.shape[:2]), np.uint8)
        for i, path in enumerate(files):
            with Image.open(path) as image:
                out[i] = np.asarray(image.convert("RGB")).transpose(2, 0, 1)
        return out
    out = np.empty((len(files), 2, AUDIO_LENGTH), np.int16)
    for i, path in enumerate(files):
        with open(path, "rb") as fo:
            audio, _ = read_wav(fo)
        out[i] = np.round(audio[:AUDIO_LENGTH].T * 32767)
    return out


def derive(signals: np.ndarray, kind: Kind, chunk: int = 256) -> np.ndarray:
    """The ``kind`` tensor of every signal, computed ``chunk`` samples at a time.

    Pixels and resized images stay uint8 and audio int16 (normalised per batch later); float
    latents are stored as float16 (they span about +-127, so float16 keeps them to 0.06).
    """
    if kind.source == "signal":
        return signals
    if kind.source == "resized":
        transform = _lanczos if signals.ndim == 4 else _resample
        convert: Callable[[np.ndarray], np.ndarray] = lambda x: transform(x, kind.shape[1:])
    elif kind.source == "float":
        codec = load_codec(kind.codec)
        scale = 1.0 if signals.ndim == 4 else 1 / 32768

        def convert(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                latent = codec.analysis(torch.from_numpy(x).float() * scale if scale != 1 else torch.from_numpy(x))
            return latent.to(torch.float16).numpy()
    else:
        raise ValueError(f"{kind.name} is read from .wlc files (wlc_latents), not derived")
    parts = [convert(signals[i : i + chunk]) for i in range(0, len(signals), chunk)]
    return np.concatenate(parts)


def _lanczos(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    out = np.empty((len(images), 3, *size), np.uint8)
    for i, image in enumerate(images):
        small = Image.fromarray(image.transpose(1, 2, 0)).resize(size[::-1], Image.LANCZOS)
        out[i] = np.asarray(small).transpose(2, 0, 1)
    return out


def _resample(audio: np.ndarray, length: tuple[int]) -> np.ndarray:
    """Ideal (FFT) resampling to ``length`` samples: keeps the band below the new Nyquist."""
    return resample(audio.astype(np.float32) / 32768, length[0], axis=-1).astype(np.float32)


def wlc_latents(folder: Path, workers: int = 2) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """int8 latents, class indices and class names of a folder of .wlc files.

    Read the way a user would: ``torchvision_ext.WlcFolder`` through a ``DataLoader``.
    """
    dataset = WlcFolder(folder)
    loader = DataLoader(dataset, batch_size=256, num_workers=workers)
    latents, targets = zip(*loader)
    return torch.cat(latents).numpy(), torch.cat(targets).numpy(), dataset.classes
