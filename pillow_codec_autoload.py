"""Registers the WaLLoC Pillow plugin when PIL.Image is imported; run at start-up by a .pth file.

Pillow finds plugins only when they are imported, so walloc-plugins installs
``pillow_codec_autoload.pth`` into site-packages, whose one line imports this module. It
imports nothing but ``os`` and ``sys`` and puts a finder first on ``sys.meta_path`` that wraps
the loader of ``PIL.Image``: once that module has run, ``import pillow_codec`` registers the
WLC format, so ``Image.open("x.wlc")`` works with no import of ours. Setting
``WALLOC_PILLOW_AUTOLOAD=0`` (or ``false``, ``no``, ``off``) turns it off. Nothing here ever
raises: a failure leaves Pillow as it was.
"""

from __future__ import annotations

import os
import sys

__all__ = ["ENV_VAR", "install"]

ENV_VAR = "WALLOC_PILLOW_AUTOLOAD"
_TARGET = "PIL.Image"


class _PillowImageFinder:
    """A meta path finder that answers only for PIL.Image, with the next finder's spec."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> object:
        if name != _TARGET:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = None if finder is self or find is None else find(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RegisteringLoader(spec.loader)
                return spec
        return None


class _RegisteringLoader:
    """Runs PIL.Image with its own loader, then registers the plugin (reloads included)."""

    def __init__(self, loader: object) -> None:
        self._loader = loader

    def create_module(self, spec: object) -> object:
        return self._loader.create_module(spec)  # type: ignore[attr-defined]

    def exec_module(self, module: object) -> None:
        self._loader.exec_module(module)  # type: ignore[attr-defined]
        _register()

    def __getattr__(self, name: str) -> object:  # get_source, get_resource_reader ...
        return getattr(self._loader, name)


def _register() -> None:
    try:
        import pillow_codec

        pillow_codec.register()  # again after importlib.reload(PIL.Image) emptied the registry
    except Exception:  # a broken install must not break Pillow
        pass


def install() -> None:
    """Register now if PIL.Image is already imported, else when it is; idempotent."""
    if os.environ.get(ENV_VAR, "").strip().lower() in ("0", "false", "no", "off"):
        return
    if any(isinstance(finder, _PillowImageFinder) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _PillowImageFinder())
    if _TARGET in sys.modules:
        _register()


try:
    install()
except Exception:  # start-up must never fail because of us
    pass
