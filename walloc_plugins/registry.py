"""The plugin registry: codecs and entropy coders declared through pluggy hooks and entry points."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .config import CodecConfig
from .errors import (
    CodecMismatchError,
    ConfigError,
    RegistryError,
    UnknownCodecError,
    UnknownCoderError,
    WallocWarning,
)

if TYPE_CHECKING:
    from .codec import WallocCodec
    from .entropy import EntropyCoder
    from .reference.codec import ReferenceCodec

__all__ = [
    "ENTRY_POINT_GROUP",
    "CodecEntry",
    "PluginInfo",
    "codec_entries",
    "entropy_coders",
    "find_entry",
    "get_coder",
    "get_entry",
    "get_plugin_manager",
    "load_codec",
    "plugins",
]

ENTRY_POINT_GROUP = "walloc"
_lock = threading.RLock()


@dataclass(frozen=True, kw_only=True)
class CodecEntry:
    """A codec as a plugin declares it: name, config and weights (built only when loaded).

    Attributes:
        name: stable kebab-case id written into every .wlc header, e.g. ``"rgb-16x"``.
        config: the codec's shape.
        weights: path of the weights file (a ``torch.save`` state dict of tensors only).
        sha256: hash of the weights (``walloc_plugins.codec.weights_sha256``); files record
            it so they decode only with the same weights. Empty when not declared (the
            authors' checkpoints in ``$WALLOC_MODELS`` folders): checked once loaded.
        description: one line for ``walloc codecs``.
        meta: informative figures (bpp, PSNR, training data); never used for decoding.
        plugin: name of the plugin that declared it (filled in by the registry).
    """

    name: str
    config: CodecConfig
    weights: Path
    sha256: str
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    plugin: str = ""


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin came from, and the error if it failed to load."""

    name: str
    source: str
    error: str | None = None


@functools.cache
def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager: built-ins plus the ``walloc`` entry-point group."""
    from . import builtin

    with _lock:
        manager = pluggy.PluginManager(hookspecs.PROJECT)
        manager.add_hookspecs(hookspecs)
        manager.register(builtin, name="walloc_plugins.builtin")
        _infos.append(PluginInfo("walloc_plugins.builtin", "walloc-plugins (built in)"))
        manager.register(builtin.UserModels(), name=builtin.MODELS_ENV)
        _infos.append(PluginInfo(builtin.MODELS_ENV, "folders in $WALLOC_MODELS"))
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            _load_entry_point(manager, entry_point)
        return manager


_infos: list[PluginInfo] = []


def _load_entry_point(manager: pluggy.PluginManager, entry_point: Any) -> None:
    dist = getattr(entry_point, "dist", None)
    source = f"{dist.name} {dist.version}" if dist is not None else entry_point.value
    if manager.has_plugin(entry_point.name):
        return
    try:
        plugin = entry_point.load()
        manager.register(plugin, name=entry_point.name)
    except Exception as exc:  # a broken plugin must not break the library
        message = f"{type(exc).__name__}: {exc}"
        warnings.warn(
            f"walloc plugin {entry_point.name!r} ({source}) failed to load and is skipped: "
            f"{message}",
            WallocWarning,
            stacklevel=3,
        )
        _infos.append(PluginInfo(entry_point.name, source, message))
        return
    _infos.append(PluginInfo(entry_point.name, source))


def plugins() -> list[PluginInfo]:
    """Every plugin the registry tried to load, with its source and any load error."""
    get_plugin_manager()
    return list(_infos)


@functools.cache
def codec_entries() -> dict[str, CodecEntry]:
    """All declared codecs by name; a name declared twice raises RegistryError."""
    entries: dict[str, CodecEntry] = {}
    for plugin, results in _call_each("walloc_codec_entries"):
        for entry in results:
            if not isinstance(entry, CodecEntry):
                raise RegistryError(f"plugin {plugin!r} declared {entry!r}, not a CodecEntry")
            if entry.name in entries:
                raise RegistryError(
                    f"codec {entry.name!r} is declared by both {entries[entry.name].plugin!r} "
                    f"and {plugin!r}"
                )
            entries[entry.name] = _with_plugin(entry, plugin)
    return entries


@functools.cache
def entropy_coders() -> dict[str, EntropyCoder]:
    """All declared entropy coders by name; a name declared twice raises RegistryError."""
    from .entropy import EntropyCoder

    coders: dict[str, EntropyCoder] = {}
    for plugin, results in _call_each("walloc_entropy_coders"):
        for coder in results:
            if not isinstance(coder, EntropyCoder) or not coder.name:
                raise RegistryError(f"plugin {plugin!r} declared {coder!r}, not a named EntropyCoder")
            if coder.name in coders:
                raise RegistryError(f"entropy coder {coder.name!r} is declared twice")
            coders[coder.name] = coder
    return coders


def get_entry(name: str) -> CodecEntry:
    """The codec entry called ``name``, or UnknownCodecError listing what is available."""
    entries = codec_entries()
    if name not in entries:
        raise UnknownCodecError(name, list(entries))
    return entries[name]


def find_entry(name: str, sha256: str) -> CodecEntry:
    """The entry a .wlc file names: same weights hash first, then the same name.

    An entry of that name that declares no hash is loaded to hash its weights.

    Raises:
        UnknownCodecError: no codec of that name or hash is installed.
        CodecMismatchError: a codec of that name is installed, but with other weights.
    """
    entries = codec_entries()
    for entry in entries.values():
        if entry.sha256 == sha256:
            return entry
    if name in entries:
        installed = entries[name].sha256 or load_codec(name).weights_sha256()
        if installed == sha256:
            return entries[name]
        raise CodecMismatchError(
            f"this file was written by codec {name!r} with weights {sha256[:12]}, but the "
            f"installed {name!r} has weights {installed[:12]}; install the "
            "walloc-plugins version (or plugin) that wrote the file"
        )
    raise UnknownCodecError(
        name, list(entries), hint="Install the plugin that provides it (see `walloc codecs`)"
    )


def get_coder(name: str) -> EntropyCoder:
    coders = entropy_coders()
    if name not in coders:
        raise UnknownCoderError(name, list(coders))
    return coders[name]


def load_codec(
    name_or_path: str | Path, *, config: Any = None, device: Any = "cpu"
) -> WallocCodec | ReferenceCodec:
    """Build a codec by registered name or from a weights file.

    A path ``x.pt`` needs ``x.json`` holding ``{"config": {...}}`` beside it (what ``walloc
    train`` writes); so does ``x.pth`` when that card is there. Any other ``x.pth`` is one
    of the authors' published checkpoints or training logs (``docs/reference.md``),
    configured by ``config`` (their JSON, as a path or a mapping), else by their ``x.json``
    beside it, else by the config a training log holds. Registered codecs are cached per
    name and device, so repeated calls are cheap.
    """
    path = Path(name_or_path)
    if isinstance(name_or_path, Path) or path.suffix in (".pt", ".pth"):
        return _codec_from_file(path, config).to(device)
    if config is not None:
        raise ConfigError(f"config= is for a checkpoint file, not the registered codec {name_or_path!r}")
    return _cached_codec(get_entry(str(name_or_path)), str(device))


def _codec_from_file(path: Path, config: Any) -> WallocCodec | ReferenceCodec:
    from .codec import WallocCodec
    from .reference.codec import ReferenceCodec

    if path.suffix != ".pth" or config is None and _is_card(path.with_suffix(".json")):
        return WallocCodec.from_file(path)
    return ReferenceCodec.from_checkpoint(path, config)


def _is_card(path: Path) -> bool:
    """Whether ``path`` is our model card (the authors' JSON is a flat config instead)."""
    try:
        return "config" in json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


@functools.lru_cache(maxsize=16)
def _cached_codec(entry: CodecEntry, device: str) -> WallocCodec | ReferenceCodec:
    from .codec import WallocCodec
    from .reference.codec import ReferenceCodec

    builder = ReferenceCodec if entry.config.architecture == "reference" else WallocCodec
    with _lock:
        return builder.from_entry(entry).to(device)


def _call_each(hook: str) -> list[tuple[str, list[Any]]]:
    manager = get_plugin_manager()
    results = []
    for impl in getattr(manager.hook, hook).get_hookimpls():
        try:
            value = impl.function()
        except Exception as exc:
            warnings.warn(
                f"walloc plugin {impl.plugin_name!r} raised in {hook}: {exc}",
                WallocWarning,
                stacklevel=3,
            )
            continue
        results.append((impl.plugin_name, list(value or [])))
    return results


def _with_plugin(entry: CodecEntry, plugin: str) -> CodecEntry:
    if entry.plugin:
        return entry
    return CodecEntry(
        name=entry.name,
        config=entry.config,
        weights=entry.weights,
        sha256=entry.sha256,
        description=entry.description,
        meta=entry.meta,
        plugin=plugin,
    )


def clear_caches() -> None:
    """Forget loaded plugins and models (for tests and after installing a plugin at run time)."""
    for cached in (get_plugin_manager, codec_entries, entropy_coders, _cached_codec):
        cached.cache_clear()
    _infos.clear()
