"""WaLLoC as transforms for torchvision and torchaudio pipelines: encode, decode, round trip.

They are ``nn.Module`` callables that need only torch: in ``torchvision.transforms.v2.Compose``
they follow v2's rules for samples (an image, or a tuple/dict holding one): ``PIL.Image``,
``tv_tensors.Image`` and ``tv_tensors.Video`` are transformed, a plain tensor is transformed only
when the sample holds none of those (the first one found), and everything else (masks, boxes,
labels) passes through untouched. A transform keeps only codec *names*: it pickles small, and
each process loads a model once, on the input's device, on first use (``load_codec`` caches).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils._pytree import tree_flatten, tree_unflatten

from walloc_plugins.codec import Latent, WallocCodec
from walloc_plugins.errors import InputError
from walloc_plugins.registry import get_entry, load_codec

from .resampling import resample

__all__ = ["WallocDecode", "WallocEncode", "WallocRoundTrip"]

# What a PIL image is converted to for a codec of that many channels.
_PIL_MODES = {1: "L", 3: "RGB"}


class _CodecTransform(nn.Module):
    """Shared parts: codec names checked at construction, v2-style sample traversal, repr."""

    def __init__(self, codec: str | Sequence[str], sample_rate: int | None = None) -> None:
        super().__init__()
        names = [codec] if isinstance(codec, str) else list(codec)
        if not names or not all(isinstance(n, str) for n in names):
            raise InputError(f"codec must be a codec name or a list of names, got {codec!r}")
        configs = [get_entry(name).config for name in names]  # UnknownCodecError names the choices
        modalities = {c.modality for c in configs}
        if len(modalities) > 1:
            raise InputError(f"codecs {names} mix images and audio; use one modality per transform")
        self.modality = modalities.pop()
        if self.modality == "image" and sample_rate is not None:
            raise InputError("sample_rate is for audio codecs; image codecs take none")
        if sample_rate is not None and (not isinstance(sample_rate, int) or sample_rate <= 0):
            raise InputError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}")
        self.codecs = tuple(names)
        self.sample_rate = sample_rate or configs[0].sample_rate

    def forward(self, *inputs: Any) -> Any:
        flat, spec = tree_flatten(inputs if len(inputs) > 1 else inputs[0])
        chosen = _pick(flat, self.modality)
        if not chosen:
            raise InputError(
                f"{type(self).__name__} found no image or tensor in {_describe(inputs[0])}"
            )
        codec = self.codecs[0]
        if len(self.codecs) > 1:  # drawn like v2's parameters, so DataLoader workers differ
            codec = self.codecs[int(torch.randint(len(self.codecs), ()))]
        out = [self._apply(x, codec) if i in chosen else x for i, x in enumerate(flat)]
        return tree_unflatten(out, spec)

    def _apply(self, x: Any, codec: str) -> Any:
        raise NotImplementedError

    def extra_repr(self) -> str:
        codec = self.codecs[0] if len(self.codecs) == 1 else list(self.codecs)
        fields = [f"codec={codec!r}"]
        if self.modality == "audio":
            fields.append(f"sample_rate={self.sample_rate}")
        return ", ".join(fields + self._options())

    def _options(self) -> list[str]:
        return []

    def _audio_in(self, x: torch.Tensor, model: WallocCodec) -> torch.Tensor:
        """A float waveform ``(..., C, T)`` at the codec's rate."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise InputError(f"audio must be a float tensor (..., C, T), got {_describe(x)}")
        return resample(x, self.sample_rate, model.config.sample_rate)  # type: ignore[arg-type]

    def _audio_out(self, y: torch.Tensor, model: WallocCodec) -> torch.Tensor:
        return resample(y, model.config.sample_rate, self.sample_rate)  # type: ignore[arg-type]


class WallocEncode(_CodecTransform):
    """Image or waveform to WaLLoC latents, the input for learning in the compressed domain.

    Images ``(..., C, H, W)`` (uint8, or float in [0, 1]; PIL images are converted to the
    codec's mode, ``RGB`` or ``L``) give ``(..., D, ceil(H / s), ceil(W / s))`` with ``s`` the
    codec's stride (8 for the shipped image codecs); waveforms ``(..., C, T)`` at
    ``sample_rate`` (default: the codec's rate; others are resampled first) give
    ``(..., D, ceil(T' / s))``. Audio latents are loudness-normalised: each signal is divided
    by its peak before coding.

    Args:
        codec: a registered codec name (see ``walloc codecs``).
        dtype: ``torch.float32`` (default) or any float dtype gives the quantised latent
            values as floats, exactly what ``read_latent`` reads from a ``.wlc`` file written
            with this codec; ``torch.int8`` gives the integers themselves.
        quantize: False gives the latents before rounding, differentiable with respect to the
            input (float dtypes only).
        sample_rate: audio only: the input's rate in Hz.
    """

    def __init__(
        self,
        codec: str,
        *,
        dtype: torch.dtype = torch.float32,
        quantize: bool = True,
        sample_rate: int | None = None,
    ) -> None:
        if not isinstance(codec, str):
            raise InputError(f"WallocEncode takes one codec name, got {codec!r}")
        super().__init__(codec, sample_rate)
        if dtype != torch.int8 and not dtype.is_floating_point:
            raise InputError(f"dtype must be torch.int8 or a float dtype, got {dtype}")
        if dtype == torch.int8 and not quantize:
            raise InputError("latents before rounding are floats: pass a float dtype")
        self.dtype, self.quantize = dtype, quantize

    def _apply(self, x: Any, codec: str) -> torch.Tensor:
        if self.modality == "audio":
            model = load_codec(codec, device=_device(x))
            x = self._audio_in(x, model)
        else:
            x, _ = _image_in(x, get_entry(codec).config.channels)
            model = load_codec(codec, device=x.device)
        if not self.quantize:
            return model.analysis(x).to(self.dtype)
        return _normal(model.encode(x).q).to(self.dtype)

    def _options(self) -> list[str]:
        return [f"dtype={self.dtype}"] + ([] if self.quantize else ["quantize=False"])


class WallocDecode(_CodecTransform):
    """WaLLoC latents (int8, or floats that round to them) back to images or waveforms.

    Latents ``(..., D, h, w)`` give images ``(..., C, h * s, w * s)``: the padded size, as the
    latent does not record the original one (crop it, or read ``.wlc`` files with
    ``torchvision_ext.io``, which do). Float output is in [0, 1]; uint8 is rounded from it.
    Audio latents ``(..., D, t)`` give waveforms ``(..., C, T)`` at ``sample_rate`` with peak
    at most 1 (the loudness that ``WallocEncode`` divided out is not in the latent).

    Args:
        codec: the registered codec name the latents come from.
        dtype: output dtype: float (default ``torch.float32``) or, for images, ``torch.uint8``.
        sample_rate: audio only: the rate to resample the output to (default: the codec's).
    """

    def __init__(
        self, codec: str, *, dtype: torch.dtype = torch.float32, sample_rate: int | None = None
    ) -> None:
        if not isinstance(codec, str):
            raise InputError(f"WallocDecode takes one codec name, got {codec!r}")
        super().__init__(codec, sample_rate)
        if not (dtype.is_floating_point or dtype == torch.uint8 and self.modality == "image"):
            raise InputError(f"dtype must be float (or torch.uint8 for images), got {dtype}")
        self.dtype = dtype

    def _apply(self, x: Any, codec: str) -> torch.Tensor:
        model = load_codec(codec, device=_device(x))
        cfg = model.config
        if not isinstance(x, torch.Tensor) or x.ndim < cfg.ndim + 1:
            raise InputError(f"WallocDecode takes latents (..., D, *grid), got {_describe(x)}")
        q = x if x.dtype == torch.int8 else x.round().clamp(-128, 127).to(torch.int8)
        size = cfg.signal_size(tuple(q.shape[-cfg.ndim :]))
        gain = torch.ones(q.shape[: -cfg.ndim - 1]) if self.modality == "audio" else None
        y = _normal(model.decode(Latent(q=q, size=size, gain=gain)))
        if self.modality == "audio":
            return self._audio_out(y, model).to(self.dtype)
        return _image_out(y, self.dtype)

    def _options(self) -> list[str]:
        return [f"dtype={self.dtype}"]


class WallocRoundTrip(_CodecTransform):
    """Encode and decode: what a model sees after WaLLoC compression, as an augmentation.

    The output has the input's type, shape, dtype and device: a PIL image (in the codec's
    mode), a uint8 or float tensor, a ``tv_tensors.Image`` or ``Video``; waveforms
    ``(..., C, T)`` keep their rate and length. Like ``v2.JPEG(quality=(lo, hi))``, a list of
    codecs draws one per call (torch's RNG, so each DataLoader worker draws its own sequence);
    one call applies the same codec to every image of a sample or batch. Wrap it in
    ``v2.RandomApply`` to apply it to a fraction of the samples.

    Args:
        codec: a registered codec name, or a list of names of one modality to draw from.
        sample_rate: audio only: the input's rate in Hz (default: the codecs' rate).
    """

    def _apply(self, x: Any, codec: str) -> Any:
        if self.modality == "audio":
            model = load_codec(codec, device=_device(x))
            signal = self._audio_in(x, model)
            latent = model.encode(signal)
            y = self._audio_out(_normal(model.decode(latent)), model)
            return y[..., : x.shape[-1]].to(x.dtype)
        image, restore = _image_in(x, get_entry(codec).config.channels)
        model = load_codec(codec, device=image.device)
        return restore(_normal(model.decode(model.encode(image))))


# -- inputs and outputs ---------------------------------------------------------------------
def _pick(flat: list[Any], modality: str) -> set[int]:
    """Indices of the leaves v2 would transform: explicit images and videos, else one tensor."""
    from PIL import Image

    explicit: tuple[type, ...] = ()
    if modality == "image":
        tv = sys.modules.get("torchvision.tv_tensors")  # a tv_tensor exists only if it was imported
        explicit = (Image.Image,) + ((tv.Image, tv.Video) if tv is not None else ())
    chosen = {i for i, x in enumerate(flat) if isinstance(x, explicit)}
    if chosen:
        return chosen
    for i, x in enumerate(flat):
        if type(x) is torch.Tensor:  # a pure tensor, not a tv_tensor (Mask, BoundingBoxes ...)
            return {i}
    return set()


def _image_in(x: Any, channels: int) -> tuple[torch.Tensor, Any]:
    """A float ``(..., C, H, W)`` tensor in [0, 1], and a function that gives ``x``'s kind back."""
    from PIL import Image

    if isinstance(x, Image.Image):
        if channels not in _PIL_MODES:
            raise InputError(f"a PIL image cannot feed a codec of {channels} channels")
        mode = _PIL_MODES[channels]
        array = np.asarray(x.convert(mode) if x.mode != mode else x)
        tensor = torch.from_numpy(array.reshape(*array.shape[:2], channels).copy()).permute(2, 0, 1)

        def to_pil(y: torch.Tensor) -> Image.Image:
            pixels = _image_out(y, torch.uint8).permute(1, 2, 0).numpy()
            return Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)

        return tensor.float() / 255, to_pil
    if not isinstance(x, torch.Tensor) or x.ndim < 3 or x.shape[-3] != channels:
        raise InputError(f"codec expects images (..., {channels}, H, W), got {_describe(x)}")
    if x.dtype == torch.uint8:
        image = x.float() / 255
    elif x.is_floating_point():
        image = x.float().clamp(0, 1)
    else:
        raise InputError(f"images must be uint8 or float in [0, 1], got {x.dtype}")
    wrap = type(x) if type(x) is not torch.Tensor else None  # tv_tensors.Image / Video

    def restore(y: torch.Tensor) -> torch.Tensor:
        out = _image_out(y, x.dtype)
        return wrap(out) if wrap is not None else out

    return image.as_subclass(torch.Tensor), restore


def _image_out(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Decoded pixels in [0, 1] as ``dtype`` (uint8 rounds)."""
    return y.mul(255).round_().to(torch.uint8) if dtype == torch.uint8 else y.to(dtype)


def _normal(t: torch.Tensor) -> torch.Tensor:
    """A tensor made under ``inference_mode`` cannot be saved for backward; copy it out."""
    return t.clone() if t.is_inference() else t


def _device(x: Any) -> torch.device:
    return x.device if isinstance(x, torch.Tensor) else torch.device("cpu")


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"{type(x).__name__} {x.dtype} of shape {tuple(x.shape)}"
    return type(x).__name__
