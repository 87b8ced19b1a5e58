"""WallocCodec: wavelet packet analysis, 1x1 projection, int8 bottleneck, synthesis, inverse."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .config import CodecConfig
from .errors import CodecMismatchError, ConfigError, InputError
from .model import Compander, Decompander, Quantizer, SynthesisNet, compander_constants
from .wavelets import wpt_analysis, wpt_synthesis

if TYPE_CHECKING:
    from .registry import CodecEntry

__all__ = [
    "DECODE_TILE",
    "Latent",
    "WallocCodec",
    "as_signal",
    "check_latent",
    "check_reduce",
    "synthesis_reach",
    "weights_sha256",
]

_SILENCE = 1e-8  # smallest audio gain, so that digital silence needs no special case
DECODE_TILE = 80  # latent positions per window side: 640 pixels at J = 3, ~80 MB working memory


@dataclass(frozen=True)
class Latent:
    """What ``encode`` produces and ``decode`` needs.

    Attributes:
        q: int8 latent ``[..., D, h, w]`` (images) or ``[..., D, t]`` (audio).
        size: the signal's spatial size before padding: ``(H, W)`` or ``(T,)``.
        gain: audio only, ``[...]`` float32: the peak the signal was divided by.
    """

    q: torch.Tensor
    size: tuple[int, ...]
    gain: torch.Tensor | None = None


class WallocCodec(nn.Module):
    """A WaLLoC codec for images ``[..., C, H, W]`` or audio ``[..., C, T]``.

    Images are float in [0, 1] (or uint8); audio is float in [-1, 1], peak-normalised per
    signal before coding (the gain travels with the latent). Module names follow the
    reference (``encoder.0`` projection, ``decoder.1`` synthesis network) so its checkpoints
    map onto this class.
    """

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        if not isinstance(config, CodecConfig):
            raise ConfigError(f"WallocCodec needs a CodecConfig, got {type(config).__name__}")
        if config.architecture != "walloc":
            raise ConfigError(f"a {config.architecture!r} codec is built by load_codec, not WallocCodec")
        self.config = config
        conv = nn.Conv2d if config.ndim == 2 else nn.Conv1d
        self.encoder = nn.Sequential(
            conv(config.bands, config.latent_dim, 1),
            Compander(config.latent_bits),
            Quantizer(),
        )
        self.decoder = nn.Sequential(
            Decompander(config.latent_bits),
            SynthesisNet(
                config.ndim,
                config.latent_dim,
                config.bands,
                config.decoder_width,
                config.decoder_depth,
                config.decoder_kernel,
                input_scale=compander_constants(config.latent_bits)[0],
            ),
        )
        self.eval()

    # -- construction ---------------------------------------------------------------------
    name: str = "unnamed"
    _verified_sha256: str | None = None

    @classmethod
    def from_entry(cls, entry: CodecEntry) -> WallocCodec:
        """Build a registered codec and check its weights against the declared hash."""
        codec = cls(entry.config)
        codec.load_weights(entry.weights)
        digest = codec.weights_sha256()
        if digest != entry.sha256:
            raise CodecMismatchError(
                f"weights of codec {entry.name!r} at {entry.weights} hash to {digest[:12]}, "
                f"not the declared {entry.sha256[:12]}; reinstall walloc-plugins or the plugin"
            )
        codec.name, codec._verified_sha256 = entry.name, digest
        return codec

    @classmethod
    def from_file(cls, path: Path) -> WallocCodec:
        """Load ``x.pt`` with its card ``x.json`` (``{"config": {...}}``) beside it."""
        card_path = path.with_suffix(".json")
        if not card_path.is_file():
            raise ConfigError(f"no config {card_path} beside the weights {path}")
        card = json.loads(card_path.read_text(encoding="utf-8"))
        codec = cls(CodecConfig.from_dict(card.get("config")))
        codec.load_weights(path)
        codec.name = card.get("name", path.stem)
        return codec

    def load_weights(self, path: Path | str) -> None:
        """Load a state dict of tensors (never unpickles arbitrary objects)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, Mapping):
            raise ConfigError(f"{path} does not hold a state dict")
        try:
            self.load_state_dict(state)
        except RuntimeError as exc:
            raise ConfigError(f"weights {path} do not fit config {self.config}: {exc}") from None

    def save_weights(self, path: Path | str) -> str:
        """Save the state dict; returns its SHA-256 (``weights_sha256``)."""
        torch.save({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, path)
        return self.weights_sha256()

    def weights_sha256(self) -> str:
        """Hash of the current weights (a registered codec's verified hash, without rehashing)."""
        return self._verified_sha256 or weights_sha256(self.state_dict())

    @property
    def device(self) -> torch.device:
        return self.encoder[0].weight.device

    # -- the codec ------------------------------------------------------------------------
    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """Float latents before rounding, ``[..., D, h, w]``: the compressed-learning input."""
        signal, _, gain = self._prepare(x)
        return _finite(self._encode_bands(signal, stages=2, gain=gain))

    @torch.inference_mode()
    def encode(self, x: torch.Tensor) -> Latent:
        """Encode a signal to an int8 latent (see the class docstring for ranges)."""
        signal, size, gain = self._prepare(x)
        u = _finite(self._encode_bands(signal, stages=2, gain=gain))
        return Latent(q=self.encoder[2](u).to(torch.int8), size=size, gain=gain)

    @torch.inference_mode()
    def decode(self, latent: Latent, reduce: int = 0) -> torch.Tensor:
        """Reconstruct ``[..., C, *size]``: images in [0, 1], audio in [-1, 1] (float32).

        With ``reduce`` > 0 an image comes back at ``ceil(size / 2**reduce)``, as described
        for ``decode_tiles``.
        """
        q = check_latent(latent, self.config, self.name)
        reduce = check_reduce(reduce, self.config)
        x_hat = self._synthesize(q.to(self.device, torch.float32), reduce)
        crop = tuple(slice(0, _ceil_shift(n, reduce)) for n in latent.size)
        x_hat = x_hat[(..., *crop)]
        if self.config.modality == "image":
            return (x_hat + 0.5).clamp(0.0, 1.0)
        gain = latent.gain.to(x_hat).reshape(*latent.gain.shape, 1, 1)  # type: ignore[union-attr]
        return (x_hat.clamp(-0.5, 0.5) * (2 * gain)).clamp(-1.0, 1.0)

    def decode_tiles(
        self, latent: Latent, *, reduce: int = 0, tile: int = DECODE_TILE
    ) -> Iterator[tuple[tuple[int, int], torch.Tensor]]:
        """Decode one image window by window, so that memory stays bounded at any size.

        Args:
            latent: one image's latent, ``q`` of shape ``[D, h, w]``.
            reduce: decode at ``1 / 2**reduce`` of the size, for 0 <= reduce <= levels: the
                network computes only the bands whose first ``reduce`` levels are lowpass and
                only ``levels - reduce`` inverse levels run, so the work shrinks about
                ``4**reduce`` times. Pixel ``i`` of a reduced image is centred on pixel
                ``i * 2**reduce`` of the full one (the lowpass filters are centred there).
            tile: latent positions per side of a window.

        Yields:
            ``((top, left), pixels)``: ``pixels`` is ``[C, h, w]`` in [0, 1] at that offset of
            the (reduced) image; windows come in row-major order, cropped to the image, and
            equal the same region of ``decode(latent, reduce)`` up to float rounding.

        Raises:
            InputError: not the latent of one image, or a bad ``reduce`` or ``tile``.
        """
        q = check_latent(latent, self.config, self.name)
        reduce = check_reduce(reduce, self.config)
        if q.ndim != 3 or self.config.modality != "image":
            raise InputError(f"decode_tiles takes one image latent [D, h, w], not {tuple(q.shape)}")
        if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
            raise InputError(f"tile must be a positive number of latent positions, not {tile!r}")
        step = 1 << (self.config.levels - reduce)  # output pixels per latent position
        height, width = (_ceil_shift(n, reduce) for n in latent.size)
        rows, cols = q.shape[1:]
        # One window if the latent is no larger than a window, so small images need no margin.
        tile_rows, tile_cols = (rows, cols) if rows * cols <= tile * tile else (tile, tile)
        for top in range(0, rows, tile_rows):
            for left in range(0, cols, tile_cols):
                window = ((top, min(top + tile_rows, rows)), (left, min(left + tile_cols, cols)))
                pixels = self._decode_window(q, window, reduce)
                y, x = top * step, left * step
                yield (y, x), pixels[:, : height - y, : width - x]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Training pass on a normalised, stride-aligned signal: noisy bottleneck, unclamped."""
        return self._synthesize(self._encode_bands(x, stages=3))

    # -- internals ------------------------------------------------------------------------
    def _encode_bands(self, signal: torch.Tensor, stages: int, gain: torch.Tensor | None = None) -> torch.Tensor:
        """Wavelet packet analysis, then the first ``stages`` encoder modules (3 = quantised).

        An audio ``gain`` divides the projection instead of the signal: the transform and the
        projection are linear, and the latent is far smaller than the signal.
        """
        ndim = self.config.ndim
        bands = wpt_analysis(signal, self.config.levels, ndim)
        flat = _merge_batch(bands, ndim)
        if gain is None:
            y = self.encoder[:stages](flat)
        else:
            projection = self.encoder[0]
            scale = (0.5 / gain).reshape(-1, *(1,) * (ndim + 1))
            y = (projection._conv_forward(flat, projection.weight, None) * scale).add_(
                projection.bias.reshape(-1, *(1,) * ndim)
            )
            y = self.encoder[1:stages](y)
        return y.reshape(*bands.shape[: -ndim - 1], *y.shape[1:])

    def _synthesize(self, q: torch.Tensor, reduce: int = 0) -> torch.Tensor:
        ndim = self.config.ndim
        bands = self._bands(_merge_batch(q, ndim), reduce)
        return self._inverse(bands.reshape(*q.shape[: -ndim - 1], *bands.shape[1:]), reduce)

    def _bands(self, q: torch.Tensor, reduce: int) -> torch.Tensor:
        """The synthesis network on ``[B, D, *grid]``; with ``reduce``, only the bands it needs.

        Those are, per channel, the first ``2**(ndim (J - reduce))`` in natural order: the
        packets whose first ``reduce`` levels are lowpass. The output convolutions compute only
        them (``4**reduce`` times less work there); a residual body's hidden layers run whole.
        """
        if not reduce:
            return self.decoder(q)
        return self.decoder[1](self.decoder[0](q), _lowpass_bands(self.config, reduce).to(q.device))

    def _inverse(self, bands: torch.Tensor, reduce: int) -> torch.Tensor:
        """Inverse transform of ``levels - reduce`` levels; reduced images are rescaled.

        Each analysis level scales a 2D lowpass band by 2, so a band whose first ``reduce``
        levels are lowpass is the image reduced ``2**reduce`` times, scaled by ``2**reduce``.
        """
        levels = self.config.levels - reduce
        x = wpt_synthesis(bands, levels, self.config.ndim) if levels else bands
        return x / (1 << reduce) if reduce else x

    @torch.inference_mode()
    def _decode_window(
        self, q: torch.Tensor, window: tuple[tuple[int, int], tuple[int, int]], reduce: int
    ) -> torch.Tensor:
        """Pixels ``[C, ...]`` of a window of latent rows and columns, as in a whole decode.

        The network pads the latent with zeros at the image border only, so it runs on the
        window plus ``receptive_radius`` positions. The inverse transform is periodic over
        the whole image, so the window's bands get a margin of ``synthesis_reach`` positions
        taken around the image periodically (none along an axis the window spans whole).
        """
        radius = self.decoder[1].receptive_radius
        reach = synthesis_reach(self.config.levels - reduce)
        grid = q.shape[1:]
        margins = [0 if (lo, hi) == (0, n) else reach for (lo, hi), n in zip(window, grid)]
        row_runs, col_runs = (
            _periodic_runs(lo - m, hi + m, n) for (lo, hi), m, n in zip(window, margins, grid)
        )
        pieces = []
        for r0, r1 in row_runs:
            row = []
            for c0, c1 in col_runs:
                top, bottom = max(0, r0 - radius), min(grid[0], r1 + radius)
                left, right = max(0, c0 - radius), min(grid[1], c1 + radius)
                crop = q[None, :, top:bottom, left:right].to(self.device, torch.float32)
                bands = self._bands(crop, reduce)
                row.append(bands[..., r0 - top : r1 - top, c0 - left : c1 - left])
            pieces.append(row[0] if len(row) == 1 else torch.cat(row, dim=-1))
        bands = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-2)
        pixels = self._inverse(bands, reduce)[0]
        step = 1 << (self.config.levels - reduce)
        (r0, r1), (c0, c1) = window
        y, x = margins[0] * step, margins[1] * step  # the window's first pixel, past the margins
        pixels = pixels[:, y : y + (r1 - r0) * step, x : x + (c1 - c0) * step]
        return pixels.add_(0.5).clamp_(0.0, 1.0)

    def _prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...], torch.Tensor | None]:
        """Validate, normalise and pad the end of each axis to the stride.

        Images are shifted to [-0.5, 0.5]; audio keeps its scale and returns its peak as the
        gain (the signal is coded as ``x / (2 gain)``, applied in ``_encode_bands``).
        """
        cfg = self.config
        x = as_signal(x, cfg, self.device)
        size = tuple(x.shape[-cfg.ndim :])
        gain = None
        if cfg.modality == "image":
            x = x - 0.5
        else:
            low, high = torch.aminmax(x.flatten(-2), dim=-1)
            gain = torch.maximum(high, -low).clamp_min(_SILENCE)  # silence decodes to ~0
        pad = [p for n in reversed(size) for p in (0, -n % cfg.stride)]
        if any(pad):
            x = _pad_end(x, pad, cfg.ndim)
        return x, size, gain

    def __repr__(self) -> str:
        cfg = self.config
        return (
            f"WallocCodec(name={self.name!r}, modality={cfg.modality!r}, channels={cfg.channels}, "
            f"levels={cfg.levels}, latent_dim={cfg.latent_dim}, "
            f"reduction={cfg.dimensionality_reduction:g}x)"
        )


def as_signal(x: torch.Tensor, config: CodecConfig, device: torch.device) -> torch.Tensor:
    """Check a signal's layout and dtype for ``config``: float32 on ``device``, with uint8
    images scaled to [0, 1] (NaN and inf are caught in the latent)."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim < config.ndim + 1 or x.shape[-config.ndim - 1] != config.channels:
        layout = "[..., C, H, W]" if config.ndim == 2 else "[..., C, T]"
        raise InputError(f"codec expects {layout} with C={config.channels}, got shape {tuple(x.shape)}")
    if any(n == 0 for n in x.shape):
        raise InputError(f"cannot encode an empty tensor of shape {tuple(x.shape)}")
    if x.dtype == torch.uint8 and config.modality == "image":
        return x.to(device, torch.float32) / 255
    if x.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        return x.to(device, torch.float32)
    allowed = "uint8 or floating point" if config.modality == "image" else "floating point"
    raise InputError(f"{config.modality} input must be {allowed}, got {x.dtype}")


def check_latent(latent: Latent, config: CodecConfig, name: str) -> torch.Tensor:
    """``latent.q`` if it is what codec ``name`` encodes for ``latent.size``, else InputError."""
    if not isinstance(latent, Latent) or latent.q.dtype != torch.int8:
        raise InputError("decode takes the Latent that encode returned (int8 q)")
    q, ndim = latent.q, config.ndim
    expected = (config.latent_dim, *config.latent_size(latent.size))
    if q.ndim < ndim + 1 or tuple(q.shape[-ndim - 1 :]) != expected:
        raise InputError(
            f"latent of shape {tuple(q.shape)} does not fit codec {name!r} "
            f"(D={config.latent_dim}) and size {latent.size}"
        )
    if config.modality == "audio" and (latent.gain is None or latent.gain.shape != q.shape[:-2]):
        raise InputError("an audio latent needs a gain per signal")
    return q


def check_reduce(reduce: int, config: CodecConfig) -> int:
    """``reduce`` if an image of ``config`` can decode at ``1 / 2**reduce`` size, else InputError."""
    if reduce == 0:
        return 0
    if config.modality != "image":
        raise InputError("only images decode at a reduced size")
    if isinstance(reduce, bool) or not isinstance(reduce, int) or not 0 <= reduce <= config.levels:
        raise InputError(f"reduce must be an integer in [0, {config.levels}], got {reduce!r}")
    return reduce


def weights_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """Hash of a state dict's names, dtypes, shapes and values (independent of file format)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@functools.cache
def synthesis_reach(levels: int) -> int:
    """Latent positions on either side whose bands reach a position's samples, per axis.

    That is how far ``levels`` inverse wavelet levels spread one latent position (4 for
    J = 3: CDF 9/7 synthesis filters span ~10 taps per level); 0 when ``levels`` is 0. It is
    measured on an impulse, so it follows the filters rather than a formula.
    """
    if levels == 0:
        return 0
    blocks = 32  # far more than any support, so the periodic transform does not wrap it
    impulse = torch.zeros(1, 1 << levels, blocks, dtype=torch.float64)
    impulse[..., blocks // 2] = 1.0
    signal = wpt_synthesis(impulse, levels, ndim=1)[0, 0].reshape(blocks, -1)
    touched = signal.abs().amax(dim=1).nonzero().flatten()
    return max(blocks // 2 - int(touched[0]), int(touched[-1]) - blocks // 2)


@functools.cache
def _lowpass_bands(config: CodecConfig, reduce: int) -> torch.Tensor:
    """Indices of the bands whose first ``reduce`` levels are lowpass, channel by channel."""
    per_channel = 1 << (config.ndim * config.levels)
    kept = per_channel >> (config.ndim * reduce)
    return torch.tensor([c * per_channel + b for c in range(config.channels) for b in range(kept)])


def _ceil_shift(n: int, shift: int) -> int:
    """``ceil(n / 2**shift)``."""
    return -(-n >> shift)


def _periodic_runs(start: int, stop: int, n: int) -> list[tuple[int, int]]:
    """Runs ``(lo, hi)`` within ``[0, n)`` that, concatenated, index ``[start, stop)`` mod n."""
    runs = []
    while start < stop:
        lo = start % n
        hi = min(n, lo + stop - start)
        runs.append((lo, hi))
        start += hi - lo
    return runs


def _finite(u: torch.Tensor) -> torch.Tensor:
    """NaN or inf anywhere in the input reaches the latent through the linear analysis."""
    if not torch.isfinite(u).all():
        raise InputError("input contains NaN or infinite values")
    return u


def _merge_batch(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """Fold all leading dims into one batch dim: ``[..., C, *grid] -> [B, C, *grid]``."""
    return x.reshape(-1, *x.shape[-ndim - 1 :])


def _pad_end(x: torch.Tensor, pad: list[int], ndim: int) -> torch.Tensor:
    """Replicate the last row/column/sample up to the stride (any size, even a single pixel)."""
    padded = F.pad(_merge_batch(x, ndim), pad, mode="replicate")
    return padded.reshape(*x.shape[: -ndim - 1], *padded.shape[1:])
