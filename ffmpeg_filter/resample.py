"""Streaming sample-rate conversion: blocks in, blocks out, constant memory.

The output equals ``scipy.signal.resample_poly(x, up, down, window=("kaiser", BETA))`` on the
whole signal (up to float32 rounding): the same polyphase FIR, the same delay compensation,
the same zero padding at both ends and the same length, ``ceil(n * up / down)``. Each block is
filtered with ``scipy.signal.upfirdn`` together with the few input samples that the outputs
still to come need, so the cost per sample does not depend on the block size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from walloc_plugins.errors import InputError

__all__ = ["BETA", "ZERO_CROSSINGS", "Resampler", "resample_stream", "resampled_length"]

BETA = 8.6  # Kaiser window, ~90 dB stopband: 44.1 -> 48 -> 44.1 kHz keeps music at ~90 dB SNR
ZERO_CROSSINGS = 10  # per side of the sinc, at the lower rate (resample_poly's default length)
MAX_PHASES = 4096  # up or down: 48 kHz <-> 44.1 kHz is 160 / 147; odd rates would need millions of taps


def resampled_length(samples: int, rate_in: int, rate_out: int) -> int:
    """Samples per channel after resampling ``samples`` from ``rate_in`` to ``rate_out``."""
    up, down = _ratio(rate_in, rate_out)
    return -(-samples * up // down)


class Resampler:
    """Converts float32 ``[n, C]`` blocks from ``rate_in`` to ``rate_out``, one block at a time.

    ``process`` returns every output sample whose filter window the input so far covers, less
    ``reserve`` samples held back; ``flush(total)`` ends the stream with exactly ``total``
    output samples in all, padding the input with zeros. Holding back lets a caller end the
    output a little before ``resampled_length`` says (``decode`` restores a length recorded
    at the source rate). The algorithmic delay is ``ZERO_CROSSINGS`` samples at the lower rate.
    """

    def __init__(self, rate_in: int, rate_out: int, channels: int, reserve: int = 0) -> None:
        from scipy.signal import firwin

        self.up, self.down = _ratio(rate_in, rate_out)
        if max(self.up, self.down) > MAX_PHASES:
            raise InputError(
                f"resampling {rate_in} Hz to {rate_out} Hz needs a {self.up}/{self.down} filter; "
                "resample to a common rate first (ffmpeg's -ar 48000)"
            )
        half = ZERO_CROSSINGS * max(self.up, self.down)
        taps = (
            firwin(2 * half + 1, 1.0 / max(self.up, self.down), window=("kaiser", BETA)) * self.up
        )
        pad = self.down - half % self.down  # as resample_poly: the delay becomes whole outputs
        self._h = np.concatenate([np.zeros(pad), taps]).astype(np.float32)
        self._delay = (half + pad) // self.down  # leading outputs that are only filter delay
        self._reserve = reserve
        self._buffer = np.zeros((0, channels), np.float32)
        self._start = 0  # input index of _buffer[0]; a multiple of `down`, so outputs align
        self._emitted = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        """The output samples that ``block`` (float32 ``[n, C]``) completes."""
        self._buffer = np.concatenate([self._buffer, block]) if len(self._buffer) else block
        end = self._start + len(self._buffer)
        ready = (
            -(-end * self.up // self.down) - self._delay - self._reserve
        )  # outputs whose window ends before `end`
        return self._emit(ready)

    def flush(self, total: int) -> np.ndarray:
        """The last output samples, so that ``total`` have been returned in all."""
        if total < self._emitted:
            raise ValueError(f"{self._emitted} samples were already returned, more than {total}")
        inputs = -(
            -(total + self._delay) * self.down // self.up
        )  # input length whose outputs reach `total`
        missing = max(0, inputs - self._start - len(self._buffer))
        self._buffer = np.concatenate(
            [self._buffer, np.zeros((missing, self._buffer.shape[1]), np.float32)]
        )
        return self._emit(total)

    def _emit(self, ready: int) -> np.ndarray:
        from scipy.signal import upfirdn

        if ready <= self._emitted:
            return self._buffer[:0]
        first = self._start * self.up // self.down  # output index of the buffer's first input
        lo, hi = self._delay + self._emitted - first, self._delay + ready - first
        out = upfirdn(self._h, self._buffer, self.up, self.down, axis=0)[lo:hi]
        self._emitted = ready
        # Keep only the inputs that the next output's window reaches, from a multiple of `down`.
        oldest = ((self._delay + ready) * self.down - len(self._h) + 1) // self.up
        drop = max(0, (oldest // self.down) * self.down - self._start)
        self._buffer, self._start = self._buffer[drop:], self._start + drop
        return out.astype(np.float32, copy=False)


def resample_stream(
    blocks: Iterable[np.ndarray],
    rate_in: int,
    rate_out: int,
    channels: int,
    total: Callable[[], int],
    reserve: int = 0,
) -> Iterator[np.ndarray]:
    """Resample a stream of ``[n, C]`` blocks; ``total()``, asked once the input has ended,
    gives the output length. Equal rates pass the blocks through untouched."""
    if rate_in == rate_out:
        yield from blocks
        return
    resampler = Resampler(rate_in, rate_out, channels, reserve)
    for block in blocks:
        out = resampler.process(block)
        if len(out):
            yield out
    yield resampler.flush(total())


def _ratio(rate_in: int, rate_out: int) -> tuple[int, int]:
    """``(up, down)``: the rate ratio ``rate_out / rate_in`` in lowest terms."""
    common = math.gcd(rate_in, rate_out)
    return rate_out // common, rate_in // common
