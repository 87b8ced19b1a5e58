"""ReferenceCodec: the authors' published networks behind the interface of ``WallocCodec``."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ..codec import (
    Latent,
    _finite,
    _lowpass_bands,
    _merge_batch,
    as_signal,
    check_latent,
    check_reduce,
    weights_sha256,
)
from ..errors import CodecMismatchError, ConfigError, InputError
from ..model import Compander, Decompander, Quantizer
from ..wavelets import wpt_analysis, wpt_synthesis
from .audio_decoder import AudioDecoder
from .checkpoint import read_checkpoint
from .config import ReferenceConfig, read_card
from .image_decoder import ImageDecoder

if TYPE_CHECKING:
    from ..registry import CodecEntry

__all__ = ["POST_TAPS", "ReferenceCodec"]

POST_TAPS = 129  # the stereo codecs' learned FIR after the inverse transform
_PEAK_EPS = 1e-8  # added to the clip's peak before dividing, as the authors do


class ReferenceCodec(nn.Module):
    """One of the authors' WaLLoC codecs, numerically equal to their implementation.

    The interface is ``WallocCodec``'s (``encode``, ``decode``, ``decode_tiles``,
    ``analysis``, ``config``, ``weights_sha256``, ``name``), with the authors' pipeline:

    * images ``[..., C, H, W]`` (float in [0, 1] or uint8) are shifted to [-0.5, 0.5] and
      mirrored (without repeating the edge) on both sides up to a multiple of ``2**J``;
    * audio ``[..., C, T]`` (float) is normalised per clip: minus its mean over all channels
      and samples, divided by its peak plus 1e-8, halved (the peak travels as the latent's
      gain; the mean is not kept, as in the reference), then zero-padded at the end to a
      multiple of 2**16 samples;
    * the latent is the 1x1 projection of the wavelet packets (for audio a 1-tap convolution
      with padding 1, so two more frames that hold the companded bias), companded and
      rounded half to even;
    * decoding runs the synthesis network, the inverse transform, the post filter (stereo
      codecs), clamps to [-0.5, 0.5] and removes the padding.

    Module names are the checkpoints' (``encoder.0``, ``decoder.1``, ``post``); the wavelet
    filters they also store are checked and dropped (our transform computes the same).
    """

    name: str = "unnamed"
    _sha256: str | None = None  # hash of the weights as loaded

    def __init__(self, reference: ReferenceConfig) -> None:
        super().__init__()
        self.reference = reference
        self.config = cfg = reference.codec_config()
        if cfg.modality == "image":
            projection: nn.Module = nn.Conv2d(cfg.bands, cfg.latent_dim, 1)
            network: nn.Module = ImageDecoder(cfg.latent_dim, cfg.bands, cfg.decoder_width)
        else:
            projection = nn.Conv1d(cfg.bands, cfg.latent_dim, 1, padding=1)
            network = AudioDecoder(cfg.latent_dim, cfg.bands, cfg.decoder_width)
        self.encoder = nn.Sequential(projection, Compander(cfg.latent_bits), Quantizer())
        self.decoder = nn.Sequential(Decompander(cfg.latent_bits), network)
        if reference.post_filter:
            self.post = nn.Conv1d(cfg.channels, cfg.channels, POST_TAPS, padding=POST_TAPS // 2)
        self.eval()

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_checkpoint(
        cls, path: Path | str, config: Path | str | Mapping[str, Any] | None = None, name: str | None = None
    ) -> ReferenceCodec:
        """Load ``NAME.pth``: a published checkpoint or a training log.

        Args:
            path: the checkpoint.
            config: the authors' config, as a path or a mapping; by default ``NAME.json``
                beside the checkpoint, else the config pickled in a training log.
            name: the codec name files record; by default ``NAME``.

        Raises:
            ConfigError: no config, an invalid one, a file the restricted reader refuses, or
                weights that do not fit the config.
        """
        path = Path(path)
        checkpoint = read_checkpoint(path)
        if isinstance(config, Mapping):
            reference = ReferenceConfig.from_mapping(config, "the config given")
        elif config is not None or path.with_suffix(".json").is_file():
            reference = read_card(Path(config or path.with_suffix(".json")))
        elif checkpoint.config is not None:
            reference = ReferenceConfig.from_mapping(checkpoint.config, f"the config in {path}")
        else:
            raise ConfigError(f"no config for {path}: put {path.with_suffix('.json').name} beside it or pass config=")
        with torch.device("meta"):  # the weights come from the file: skip initialising them
            codec = cls(reference)
        codec._load_state(checkpoint.state, str(path))
        codec.name = name or path.stem
        return codec

    @classmethod
    def from_entry(cls, entry: CodecEntry) -> ReferenceCodec:
        """Build a registered codec; its weights must hash to the declared SHA-256, if any."""
        codec = cls.from_checkpoint(entry.weights, name=entry.name)
        if codec.config != entry.config:
            raise ConfigError(f"codec {entry.name!r} at {entry.weights} is not the declared {entry.config}")
        if entry.sha256 and codec.weights_sha256() != entry.sha256:
            raise CodecMismatchError(
                f"weights of codec {entry.name!r} at {entry.weights} hash to "
                f"{codec.weights_sha256()[:12]}, not the declared {entry.sha256[:12]}"
            )
        return codec

    def _load_state(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Take the checkpoint's tensors as the weights (checking its wavelet filters)."""
        state = dict(state)
        for key, expected in _filters(self.config.ndim).items():
            stored = state.pop(key, None)
            if stored is not None and not (
                stored.shape == expected.shape and torch.allclose(stored.double(), expected, rtol=0, atol=1e-6)
            ):
                raise ConfigError(f"{source}: its wavelet filter {key} is not bior4.4")
        if not all(t.is_floating_point() for t in state.values()):
            raise ConfigError(f"{source}: its weights are not all floating point")
        try:
            self.load_state_dict({k: t.float() for k, t in state.items()}, assign=True)
        except RuntimeError as exc:
            raise ConfigError(f"{source} does not fit the config {self.reference}: {exc}") from None
        self._sha256 = weights_sha256(self.state_dict())

    def weights_sha256(self) -> str:
        """Hash of the weights (``walloc_plugins.codec.weights_sha256``) as they were loaded;
        the checkpoint's wavelet filters are not part of it."""
        return self._sha256 or weights_sha256(self.state_dict())

    @property
    def device(self) -> torch.device:
        return self.encoder[0].weight.device

    # -- the codec ------------------------------------------------------------------------
    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """Float latents before rounding (the companded projection), as ``encode`` rounds them."""
        signal, _, _ = self._prepare(x)
        return _finite(self._encode_bands(signal, stages=2))

    @torch.inference_mode()
    def encode(self, x: torch.Tensor) -> Latent:
        """Encode to an int8 latent ``[..., D, *config.latent_size(size)]``."""
        signal, size, gain = self._prepare(x)
        u = _finite(self._encode_bands(signal, stages=2))
        return Latent(q=self.encoder[2](u).to(torch.int8), size=size, gain=gain)

    @torch.inference_mode()
    def decode(self, latent: Latent, reduce: int = 0) -> torch.Tensor:
        """Reconstruct ``[..., C, *size]``: images in [0, 1], audio in [-1, 1] (float32).

        With ``reduce`` > 0 an image comes back at ``ceil(size / 2**reduce)``: the network
        runs whole, then only ``levels - reduce`` inverse levels run on its lowpass bands.
        """
        cfg = self.config
        q = check_latent(latent, cfg, self.name)
        reduce = check_reduce(reduce, cfg)
        bands = self.decoder(_merge_batch(q.to(self.device, torch.float32), cfg.ndim))
        if cfg.modality == "audio":
            x_hat = wpt_synthesis(bands, cfg.levels, 1)
            if self.reference.post_filter:
                x_hat = self.post(x_hat)
            x_hat = x_hat.clamp(-0.5, 0.5)[..., : latent.size[0]].reshape(*q.shape[:-2], cfg.channels, -1)
            gain = latent.gain.to(x_hat).reshape(*latent.gain.shape, 1, 1)  # type: ignore[union-attr]
            return (x_hat * (2 * gain)).clamp(-1.0, 1.0)
        if reduce:  # a band lowpass at the first levels is the image reduced, scaled by 2 a level
            bands = bands[:, _lowpass_bands(cfg, reduce).to(bands.device)] / (1 << reduce)
        x_hat = wpt_synthesis(bands, cfg.levels - reduce, 2) if reduce < cfg.levels else bands
        x_hat = x_hat.reshape(*q.shape[:-3], *x_hat.shape[1:])
        crop = [
            slice(before >> reduce, (before >> reduce) + (-(-n >> reduce)))
            for n, (before, _) in zip(latent.size, cfg.padding(latent.size))
        ]
        return x_hat[(..., *crop)].clamp(-0.5, 0.5) + 0.5

    def decode_tiles(
        self, latent: Latent, *, reduce: int = 0, tile: int = 0
    ) -> Iterator[tuple[tuple[int, int], torch.Tensor]]:
        """Decode one image as ``WallocCodec.decode_tiles`` does, in a single window.

        The network's attention spans the whole image, so a window is the whole image
        (``tile`` is accepted and ignored): memory grows with the image, and the attention's
        work with the square of its latent positions.

        Yields:
            ``((0, 0), pixels)``: ``pixels`` is ``[C, h, w]`` in [0, 1], ``decode(latent, reduce)``.
        """
        if latent.q.ndim != 3 or self.config.modality != "image":
            raise InputError(f"decode_tiles takes one image latent [D, h, w], not {tuple(latent.q.shape)}")
        yield (0, 0), self.decode(latent, reduce)

    # -- internals ------------------------------------------------------------------------
    def _prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...], torch.Tensor | None]:
        """Validate, normalise and pad as the authors' pipeline does (see the class docstring)."""
        cfg = self.config
        x = as_signal(x, cfg, self.device)
        size = tuple(x.shape[-cfg.ndim :])
        gain = None
        if cfg.modality == "image":
            x = x - 0.5
        else:
            x = x - x.flatten(-2).mean(-1)[..., None, None]
            gain = x.flatten(-2).abs().amax(-1) + _PEAK_EPS
            x = x / gain[..., None, None] / 2
        pads = cfg.padding(size)
        if any(p for pad in pads for p in pad):
            flat = _merge_batch(x, cfg.ndim)
            padded = _mirror(flat, pads) if cfg.modality == "image" else F.pad(flat, pads[0])
            x = padded.reshape(*x.shape[: -cfg.ndim], *padded.shape[-cfg.ndim :])
        return x, size, gain

    def _encode_bands(self, signal: torch.Tensor, stages: int) -> torch.Tensor:
        """Wavelet packets, then the first ``stages`` encoder modules (2 = companded)."""
        ndim = self.config.ndim
        bands = wpt_analysis(signal, self.config.levels, ndim)
        y = self.encoder[:stages](_merge_batch(bands, ndim))
        return y.reshape(*bands.shape[: -ndim - 1], *y.shape[1:])

    def __repr__(self) -> str:
        cfg = self.config
        return (
            f"ReferenceCodec(name={self.name!r}, modality={cfg.modality!r}, channels={cfg.channels}, "
            f"levels={cfg.levels}, latent_dim={cfg.latent_dim}, decoder_width={cfg.decoder_width}, "
            f"reduction={cfg.dimensionality_reduction:g}x)"
        )


def _mirror(x: torch.Tensor, pads: tuple[tuple[int, int], ...]) -> torch.Tensor:
    """Pad the last axes by mirroring without repeating the edge sample (torch's ``reflect``),
    continued periodically so that any pad works, even on a 1-pixel axis."""
    for axis, (before, after) in zip(range(-len(pads), 0), pads):
        n = x.shape[axis]
        period = max(2 * (n - 1), 1)
        index = torch.arange(-before, n + after, device=x.device) % period
        x = x.index_select(axis, torch.where(index < n, index, period - index))
    return x


@functools.cache
def _filters(ndim: int) -> dict[str, torch.Tensor]:
    """The wavelet filter buffers the authors' checkpoints hold, in their shapes: the bior4.4
    analysis filters reversed, the synthesis filters as they are; 2D ones once as a column
    ``[1, 1, 10, 1]`` and once as a row ``[1, 1, 1, 10]``, 1D ones ``[1, 1, 10]``."""
    import pywt

    bank = pywt.Wavelet("bior4.4")
    filters = {
        "wt.h0": bank.dec_lo[::-1], "wt.h1": bank.dec_hi[::-1], "iwt.g0": bank.rec_lo, "iwt.g1": bank.rec_hi,
    }
    shapes = {"_col": (1, 1, -1, 1), "_row": (1, 1, 1, -1)} if ndim == 2 else {"": (1, 1, -1)}
    return {
        key + suffix: torch.tensor(taps, dtype=torch.float64).reshape(shape)
        for key, taps in filters.items()
        for suffix, shape in shapes.items()
    }
