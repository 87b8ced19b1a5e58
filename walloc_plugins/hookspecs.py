"""Hook specifications: what a walloc plugin can contribute (codecs and entropy coders)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .entropy import EntropyCoder
    from .registry import CodecEntry

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "walloc"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def walloc_codec_entries() -> list[CodecEntry]:
    """Declare codecs by name.

    Called once per process when the registry is first used; every plugin's list is merged.
    Declaring must be cheap and must not import torch: a ``CodecEntry`` holds the config,
    the path of a weights file and its SHA-256, and the model is built only on
    ``load_codec(name)``.

    Returns:
        A list of ``walloc_plugins.CodecEntry``; names must be unique across all plugins.
    """


@hookspec
def walloc_entropy_coders() -> list[EntropyCoder]:
    """Declare lossless entropy coders for int8 latents.

    Returns:
        A list of ``walloc_plugins.EntropyCoder`` instances; ``coder.name`` is the id written
        into .wlc headers and must be unique across all plugins.
    """
