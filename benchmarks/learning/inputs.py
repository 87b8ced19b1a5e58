"""The input kinds compared, and how a task's files become in-memory tensors of each kind.

For every codec of a task there are three kinds with the same number of values: resizing the
signal to that many values (Lanczos for images, ideal resampling for audio), the codec's float
latents (``WallocCodec.analysis`` of the decoded PNG or WAV) and its int8 latents (read from the
``.wlc`` files that ``walloc convert`` wrote, through ``torchvision_ext.WlcFolder``: entropy
decoding only, no decoder runs). The full-resolution signal is the ceiling.

Two optional controls (images) tell apart what the latents hold from how easy they are to learn
from: ``packets-256``, the full-resolution image as the codec's wavelet packet bands (as many
values as the pixels, nothing projected away), and ``lanczos-N+CODEC``, the resized image scaled
back up and put through the codec's analysis (the latents' form, but only what the resize kept).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.signal import resample
from torch.utils.data import DataLoader

from torchvision_ext import WlcFolder
from walloc_plugins import load_codec
from walloc_plugins.codec import WallocCodec
from walloc_plugins.files import atomic_write
from walloc_plugins.registry import get_entry
from walloc_plugins.wav import read_wav
from walloc_plugins.wavelets import wpt_analysis

from .sets import list_folder

# Trunk grid: 256 x 256 images have 32 x 32 latent positions (J = 3); one second of 44.1 kHz
# audio has 173 (J = 8), paired by the stem into 86.
IMAGE_SIZE, IMAGE_GRID = 256, 32
AUDIO_LENGTH, AUDIO_GRID = 44100, 86


@dataclass(frozen=True)
class Kind:
    """One way of feeding a task's samples to a classifier.

    Attributes:
        name: short key, e.g. ``lanczos-64``, ``rgb-16x-linear/float``.
        source: ``signal`` (full resolution), ``resized``, ``float`` or ``int8``; the controls
            ``packets`` and ``resized+float``.
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


COMPARED = ("resized", "float", "int8")  # the sources the targets compare: every seed for them


def kinds(modality: str, codecs: Sequence[str], latents: Sequence[str] = ("float", "int8"),
          controls: bool = False) -> list[Kind]:
    """The signal, then for each codec: the resize to its size and its latents; with
    ``controls`` (images only) also the two controls described above."""
    if modality == "image":
        found = [Kind("pixels-256", "signal", None, (3, IMAGE_SIZE, IMAGE_SIZE))]
        if controls and codecs:
            config = get_entry(codecs[0]).config
            grid = IMAGE_SIZE // config.stride
            found.append(Kind(f"packets-{IMAGE_SIZE}", "packets", codecs[0],
                              (3 * config.stride**2, grid, grid)))
    else:
        found = [Kind("audio-44.1k", "signal", None, (2, AUDIO_LENGTH))]
    for codec in codecs:
        config = get_entry(codec).config
        if config.modality != modality:
            raise ValueError(f"codec {codec!r} codes {config.modality}, not {modality}")
        bands = config.channels * config.stride ** config.ndim
        if modality == "image":
            grid = IMAGE_SIZE // config.stride
            side = resized_side(codec)
            found.append(Kind(f"lanczos-{side}", "resized", codec, (3, side, side)))
            latent = (config.latent_dim, grid, grid)
            if controls:
                found.append(Kind(f"lanczos-{side}+{codec}", "resized+float", codec, latent))
        else:
            length = round(AUDIO_LENGTH * config.latent_dim / bands)
            found.append(Kind(f"resample-{length / 1000:.2f}k", "resized", codec, (2, length)))
            latent = (config.latent_dim, -(-AUDIO_LENGTH // config.stride))
        found += [Kind(f"{codec}/{dtype}", dtype, codec, latent) for dtype in latents]
    return found


def resized_side(codec: str) -> int:
    """The side of the square resize of a 256 x 256 image with as many values as the latent of
    image codec ``codec``."""
    config = get_entry(codec).config
    bands = config.channels * config.stride ** config.ndim
    return round(IMAGE_SIZE * (config.latent_dim / bands) ** 0.5)


def read_signals(files: Sequence[Path], modality: str, workers: int = 1) -> np.ndarray:
    """uint8 ``[N, 3, H, W]`` images from PNGs or int16 ``[N, 2, T]`` audio from WAVs, decoded
    by ``workers`` threads (zlib and Pillow's decoders release the GIL)."""
    first = _read_signal(files[0], modality)
    out = np.empty((len(files), *first.shape), first.dtype)
    with ThreadPoolExecutor(workers) as pool:
        for i, signal in enumerate(pool.map(functools.partial(_read_signal, modality=modality), files)):
            out[i] = signal
    return out


def _read_signal(path: Path, modality: str) -> np.ndarray:
    if modality == "image":
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB")).transpose(2, 0, 1)
    with open(path, "rb") as fo:
        audio, _ = read_wav(fo)
    return np.clip(np.round(audio[:AUDIO_LENGTH].T * 32768), -32768, 32767).astype(np.int16)


def derive(signals: np.ndarray, kind: Kind, chunk: int = 256, workers: int = 1) -> np.ndarray:
    """The ``kind`` tensor of every signal, computed ``chunk`` samples at a time (image resizes
    on ``workers`` threads).

    Pixels and resized images stay uint8 and audio int16 (normalised per batch later); float
    latents are stored as float16 (they span about +-127, so float16 keeps them to 0.06).
    """
    if kind.source == "signal":
        return signals
    if kind.source == "resized":
        convert = (functools.partial(_lanczos, size=kind.shape[1:], workers=workers) if signals.ndim == 4
                   else functools.partial(_resample, size=kind.shape[1:]))
    elif kind.source == "float":
        convert = functools.partial(_float_latents, codec=load_codec(kind.codec))
    elif kind.source == "packets":
        convert = functools.partial(_packets, levels=get_entry(kind.codec).config.levels)
    elif kind.source == "resized+float":
        convert = functools.partial(_resized_latents, side=resized_side(kind.codec),
                                    codec=load_codec(kind.codec))
    else:
        raise ValueError(f"{kind.name} is read from .wlc files (wlc_latents), not derived")
    first = convert(signals[:chunk])  # filled in place: a list of chunks would need twice the memory
    out = np.empty((len(signals), *first.shape[1:]), first.dtype)
    out[: len(first)] = first
    for i in range(chunk, len(signals), chunk):
        out[i : i + chunk] = convert(signals[i : i + chunk])
    return out


def _float_latents(signals: np.ndarray, codec: WallocCodec) -> np.ndarray:
    x = torch.from_numpy(signals)  # images go in as uint8, audio as float in [-1, 1]
    with torch.inference_mode():
        latents = codec.analysis(x.float() / 32768 if x.dtype == torch.int16 else x)
    return latents.to(torch.float16).numpy()


def _packets(images: np.ndarray, levels: int) -> np.ndarray:
    """float16 wavelet packet bands of uint8 images, shifted to [-0.5, 0.5] as the codecs do."""
    x = torch.from_numpy(images).float() / 255 - 0.5
    return wpt_analysis(x, levels, 2).to(torch.float16).numpy()


def lanczos_round_trip(images: np.ndarray, side: int) -> np.ndarray:
    """uint8 ``[N, 3, H, W]`` images Lanczos-resized to ``side`` x ``side`` and back."""
    return _lanczos(_lanczos(images, (side, side)), images.shape[2:])


def _resized_latents(images: np.ndarray, side: int, codec: WallocCodec) -> np.ndarray:
    """The float latents of images Lanczos-resized to ``side`` and back to their size."""
    return _float_latents(lanczos_round_trip(images, side), codec)


def _lanczos(images: np.ndarray, size: tuple[int, int], workers: int = 1) -> np.ndarray:
    """Pillow's Lanczos resize of uint8 images, on ``workers`` threads (it releases the GIL)."""
    out = np.empty((len(images), 3, *size), np.uint8)

    def resize(i: int) -> None:
        small = Image.fromarray(images[i].transpose(1, 2, 0)).resize(size[::-1], Image.LANCZOS)
        out[i] = np.asarray(small).transpose(2, 0, 1)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(resize, range(len(images))))
    return out


def _resample(audio: np.ndarray, size: tuple[int]) -> np.ndarray:
    """Ideal (FFT) resampling to ``size`` samples: keeps the band below the new Nyquist."""
    return resample(audio.astype(np.float32) / 32768, size[0], axis=-1).astype(np.float32)


def wlc_latents(folder: Path, workers: int = 2) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """int8 latents, class indices and class names of a folder of .wlc files.

    Read the way a user would: ``torchvision_ext.WlcFolder`` through a ``DataLoader``.
    """
    dataset = WlcFolder(folder)
    loader = DataLoader(dataset, batch_size=256, num_workers=workers)
    latents, targets = zip(*loader)
    return torch.cat(latents).numpy(), torch.cat(targets).numpy(), dataset.classes


def prepare(root: Path, kinds: Sequence[Kind], vocabulary: Sequence[str], workers: int) -> dict[str, float]:
    """Compute every kind's train and test tensors once and cache them under ``root/cache``.

    ``root`` holds the task's ``train`` and ``test`` folders and their ``.wlc`` copies
    ``<split>-<codec>``. Labels are indices into ``vocabulary``.

    Returns:
        Per kind, the milliseconds per sample it took to make its tensor from the files:
        decoding the PNG or WAV plus the resize or the analysis, or reading the .wlc file
        (as recorded when the cache was made).
    """
    cache = root / "cache"
    cache.mkdir(exist_ok=True)
    record = cache / "prep_ms.json"
    costs = json.loads(record.read_text()) if record.is_file() else {}
    for split in ("train", "test"):
        todo = [k for k in kinds if not (cache / _file(split, k)).is_file()]
        if not todo:
            continue
        suffix = ".png" if len(kinds[0].shape) == 3 else ".wav"
        files, targets, names = list_folder(root / split, suffix)
        labels = _vocabulary_indices(targets, names, vocabulary)
        np.save(cache / f"{split}-labels.npy", labels)
        signals, read_s = None, 0.0
        for kind in todo:
            start = time.perf_counter()
            if kind.source == "int8":
                x, targets, names = wlc_latents(root / f"{split}-{kind.codec}", workers)
                if not np.array_equal(_vocabulary_indices(targets, names, vocabulary), labels):
                    raise RuntimeError(f"{root / f'{split}-{kind.codec}'} does not mirror {root / split}")
            else:
                if signals is None:
                    signals = read_signals(files, "image" if suffix == ".png" else "audio", workers)
                    read_s = time.perf_counter() - start
                    start = time.perf_counter()
                x = derive(signals, kind, workers=workers)
            seconds = time.perf_counter() - start + (0 if kind.source == "int8" else read_s)
            costs[f"{split}/{kind.name}"] = 1e3 * seconds / len(x)
            with atomic_write(cache / _file(split, kind)) as fo:
                np.save(fo, x)
            record.write_text(json.dumps(costs, indent=2))
    return {k.name: (costs[f"train/{k.name}"] + costs[f"test/{k.name}"]) / 2 for k in kinds}


def load(root: Path, kind: Kind) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``x_train, y_train, x_test, y_test`` of a kind, from the cache that ``prepare`` made."""
    cache = root / "cache"
    return tuple(np.load(cache / name) for name in (  # type: ignore[return-value]
        _file("train", kind), "train-labels.npy", _file("test", kind), "test-labels.npy"))


def _file(split: str, kind: Kind) -> str:
    return f"{split}-{kind.name.replace('/', '-')}.npy"


def _vocabulary_indices(targets: np.ndarray, names: Sequence[str], vocabulary: Sequence[str]) -> np.ndarray:
    """Folder class indices (of the classes present) as indices into the task's vocabulary."""
    return np.asarray([list(vocabulary).index(n) for n in names], np.int64)[targets]
