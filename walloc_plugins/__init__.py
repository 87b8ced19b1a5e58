"""walloc-plugins: WaLLoC learned compression for images and audio, with doors into Pillow,
torchvision and ffmpeg.

Torch-free names (errors, config, container, registry) import eagerly; the torch-backed ones
(``WallocCodec``, ``compress`` …) are resolved on first use, so reading a header or listing
codecs never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from .config import CodecConfig
from .container import FORMAT_VERSION, WlcHeader, is_wlc
from .entropy import EntropyCoder
from .errors import (
    CodecMismatchError,
    ConfigError,
    ContainerError,
    InputError,
    MissingDependencyError,
    RegistryError,
    TruncatedError,
    UnknownCodecError,
    UnknownCoderError,
    UnsupportedVersionError,
    WallocError,
    WallocWarning,
)
from .hookspecs import hookimpl
from .registry import CodecEntry, codec_entries, entropy_coders, get_coder, load_codec, plugins
from .wlcinfo import read_header

__all__ = [
    "FORMAT_VERSION",
    "BatchDecoder",
    "BatchEncoder",
    "CodecConfig",
    "CodecEntry",
    "CodecMismatchError",
    "ConfigError",
    "ContainerError",
    "EntropyCoder",
    "InputError",
    "Latent",
    "MissingDependencyError",
    "RegistryError",
    "TruncatedError",
    "UnknownCodecError",
    "UnknownCoderError",
    "UnsupportedVersionError",
    "WallocCodec",
    "WallocError",
    "WallocWarning",
    "WlcHeader",
    "__version__",
    "codec_entries",
    "compress",
    "compress_to_file",
    "decompress",
    "decompress_from_file",
    "entropy_coders",
    "get_coder",
    "hookimpl",
    "is_wlc",
    "load",
    "load_codec",
    "plugins",
    "read_header",
    "read_image",
    "read_latent",
    "save",
]

_LAZY = {
    "BatchDecoder": "batch",
    "BatchEncoder": "batch",
    "WallocCodec": "codec",
    "Latent": "codec",
    "compress": "api",
    "compress_to_file": "api",
    "decompress": "api",
    "decompress_from_file": "api",
    "load": "api",
    "read_image": "api",
    "read_latent": "api",
    "save": "api",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("walloc-plugins")
        except PackageNotFoundError:
            return "0+unknown"
    if name in _LAZY:
        try:
            module = importlib.import_module(f".{_LAZY[name]}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name == "torch":
                raise MissingDependencyError("torch") from None
            raise
        return getattr(module, name)
    raise AttributeError(f"module 'walloc_plugins' has no attribute {name!r}")
