"""Reading the authors' ``.pth`` files without unpickling anything they do not hold.

The published ``NAME.pth`` is a dict with ``model_state_dict``; a training log adds the epoch,
lists of learning rates and losses (numpy floats) and the notebook's config object, pickled
as ``__main__.Config``. torch's weights-only unpickler reads tensors and plain data; the only
other globals allowed here are stand-ins of our own for that config and for numpy's scalar
and dtype, which accept numbers and plain values only and run no code from the file.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError

__all__ = ["Checkpoint", "read_checkpoint"]

_PLAIN = (type(None), bool, int, float, str)
_NUMPY_NUMBERS = {f"{kind}{size}" for kind in "iu" for size in (1, 2, 4, 8)} | {"f2", "f4", "f8", "b1"}


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint holds that a codec needs.

    Attributes:
        state: the ``model_state_dict``, names to tensors.
        config: a training log's pickled config as a dict of its attributes, or None.
    """

    state: dict[str, torch.Tensor]
    config: dict[str, Any] | None


def read_checkpoint(path: Path) -> Checkpoint:
    """Read a published checkpoint, a training log or a bare state dict of tensors.

    Raises:
        ConfigError: the file cannot be read, holds any object but tensors, plain data, the
            training notebooks' config and numpy numbers, or has no state dict of tensors.
    """
    try:
        with torch.serialization.safe_globals(_STAND_INS):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ConfigError(
            f"{path} is not a checkpoint this reader accepts ({_reason(exc)}): it reads tensors, "
            "numbers, strings, lists, dicts, the training notebooks' Config and numpy numbers, "
            "and unpickles nothing else"
        ) from None
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise ConfigError(f"cannot read the checkpoint {path}: {exc}") from None
    wrapped = isinstance(data, Mapping) and "model_state_dict" in data
    state = data["model_state_dict"] if wrapped else data
    if not (
        isinstance(state, Mapping)
        and state
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    ):
        raise ConfigError(f"{path} holds no state dict of tensors (model_state_dict)")
    config = data.get("config") if wrapped else None
    if config is not None and not isinstance(config, _PickledConfig):
        raise ConfigError(f"{path}: its config is a {type(config).__name__}, not the notebooks' Config")
    return Checkpoint(dict(state), None if config is None else dict(config.fields))


class _PickledConfig:
    """Stands in for the notebooks' ``class Config: pass``: plain attribute values only."""

    fields: dict[str, Any]

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not all(
            isinstance(key, str) and isinstance(value, _PLAIN) for key, value in state.items()
        ):
            raise pickle.UnpicklingError("a Config whose attributes are not plain values")
        self.fields = state


class _NumpyDType:
    """Stands in for ``numpy.dtype`` while unpickling numpy scalars: numeric types only."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = True) -> None:
        if spec not in _NUMPY_NUMBERS:
            raise pickle.UnpicklingError(f"numpy dtype {spec!r}")
        self.dtype = np.dtype(spec)

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "=")):
            raise pickle.UnpicklingError("a malformed numpy dtype")
        self.dtype = self.dtype.newbyteorder(state[1])


def _numpy_number(dtype: Any, data: Any) -> int | float | bool:
    """Stands in for numpy's scalar constructor: the value as a Python number."""
    if not (isinstance(dtype, _NumpyDType) and isinstance(data, bytes) and len(data) == dtype.dtype.itemsize):
        raise pickle.UnpicklingError("a numpy scalar that is not a number")
    return np.frombuffer(data, dtype.dtype)[0].item()


_STAND_INS = [
    (_PickledConfig, "__main__.Config"),
    (_NumpyDType, "numpy.dtype"),
    (_numpy_number, "numpy._core.multiarray.scalar"),  # numpy 2
    (_numpy_number, "numpy.core.multiarray.scalar"),  # numpy 1
]


def _reason(exc: pickle.UnpicklingError) -> str:
    """What torch's weights-only unpickler refused, without its advice to allow it."""
    message = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", message)
    if found:
        return f"it holds {found.group(1)}"
    detail = message.split("WeightsUnpickler error:")[-1].strip()
    return detail.splitlines()[0] if detail else "unpickling failed"
