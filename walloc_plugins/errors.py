"""The exception hierarchy of walloc-plugins: every error we raise on purpose is a WallocError."""

from __future__ import annotations

__all__ = [
    "CodecMismatchError",
    "ConfigError",
    "ContainerError",
    "InputError",
    "MissingDependencyError",
    "RegistryError",
    "TruncatedError",
    "UnknownCodecError",
    "UnknownCoderError",
    "UnsupportedVersionError",
    "WallocError",
    "WallocWarning",
]


class WallocError(Exception):
    """Base class of every error walloc-plugins raises deliberately."""


class ConfigError(WallocError, ValueError):
    """A codec configuration holds an invalid value or an unknown key."""


class InputError(WallocError, ValueError):
    """An array or tensor handed to a codec has the wrong shape, dtype or values (NaN, inf)."""


class RegistryError(WallocError, ValueError):
    """A plugin declared something malformed or a name twice."""


class UnknownCodecError(RegistryError):
    """No registered codec has the requested name (or weight hash)."""

    def __init__(self, name: str, available: list[str], hint: str = "") -> None:
        self.name = name
        self.available = sorted(available)
        message = f"unknown codec {name!r}; available: {', '.join(self.available) or 'none'}"
        super().__init__(message + (f". {hint}" if hint else ""))


class UnknownCoderError(RegistryError):
    """No registered entropy coder has the requested name."""

    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = sorted(available)
        super().__init__(
            f"unknown entropy coder {name!r}; available: {', '.join(self.available) or 'none'}"
        )


class CodecMismatchError(RegistryError):
    """A file was written by weights other than those installed under its codec name."""


class ContainerError(WallocError, ValueError):
    """A .wlc stream is malformed: bad magic, bad header, failed checksum, impossible sizes."""


class UnsupportedVersionError(ContainerError):
    """The .wlc stream was written by a newer format version than this reader knows."""

    def __init__(self, version: int, supported: int) -> None:
        self.version = version
        super().__init__(
            f".wlc format version {version} is newer than this reader (reads up to {supported}); "
            "upgrade walloc-plugins"
        )


class TruncatedError(ContainerError, EOFError):
    """The .wlc stream ended before its end marker."""


class MissingDependencyError(WallocError, ImportError):
    """An optional package needed for this call is not installed."""

    def __init__(self, package: str, extra: str | None = None) -> None:
        self.package = package
        hint = f"pip install 'walloc-plugins[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{package} is required for this; install it with: {hint}")


class WallocWarning(UserWarning):
    """Something worked, but not as well as it could (e.g. a plugin failed to load)."""


for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, (WallocError, WallocWarning)):
        _cls.__module__ = "walloc_plugins"
