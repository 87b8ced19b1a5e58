"""The authors' published WaLLoC checkpoints (``RGB_4x``, ``RGB_16x``, ``stereo_5x``,
``stereo_20x`` and their training logs), rebuilt from our own modules.

``config`` (torch-free) reads their configuration and declares checkpoints found in
``$WALLOC_MODELS`` folders; ``checkpoint`` reads their ``.pth`` files without unpickling
anything but what those files hold; ``image_decoder`` and ``audio_decoder`` are their
synthesis networks; ``codec.ReferenceCodec`` puts it together behind the interface of
``WallocCodec``. Load one with ``walloc_plugins.load_codec("RGB_16x.pth")``; see
``docs/reference.md``.
"""

from __future__ import annotations

from .config import ReferenceConfig, folder_entry, is_reference_card

__all__ = ["ReferenceConfig", "folder_entry", "is_reference_card"]
