"""The plugin registry, with a real plugin package installed through an entry point."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import walloc_plugins
from walloc_plugins import (
    CodecMismatchError,
    UnknownCodecError,
    UnknownCoderError,
    WallocWarning,
    registry,
)

PLUGIN = '''
"""A third-party walloc plugin: one codec and one entropy coder."""
import zlib
from pathlib import Path

import numpy as np

import walloc_plugins
from walloc_plugins.entropy import ZlibCoder

HERE = Path(__file__).parent
CONFIG = walloc_plugins.CodecConfig(modality="image", channels=1, levels=2, latent_dim=4)


class ReversedZlib(ZlibCoder):
    """zlib on the planes in reverse order: a coder no built-in can decode."""

    def encode(self, q):
        return super().encode(np.ascontiguousarray(q[::-1]))

    def decode(self, data, shape):
        return np.ascontiguousarray(super().decode(data, shape)[::-1])


@walloc_plugins.hookimpl
def walloc_codec_entries():
    card = (HERE / "sha256.txt").read_text()
    return [walloc_plugins.CodecEntry(name="sample-gray", config=CONFIG, weights=HERE / "w.pt", sha256=card)]


@walloc_plugins.hookimpl
def walloc_entropy_coders():
    return [ReversedZlib(name="sample-zlib")]
'''


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """Install `sample_walloc_plugin` and a broken plugin through a fake dist-info."""
    import torch

    from walloc_plugins.codec import WallocCodec

    package = tmp_path / "sample_walloc_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(PLUGIN)
    torch.manual_seed(0)
    codec = WallocCodec(walloc_plugins.CodecConfig(modality="image", channels=1, levels=2, latent_dim=4))
    (package / "sha256.txt").write_text(codec.save_weights(package / "w.pt"))
    info = tmp_path / "sample_walloc_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sample-walloc-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [walloc]
            sample = sample_walloc_plugin
            broken = sample_walloc_plugin_that_does_not_exist
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.clear_caches()
    yield package
    registry.clear_caches()


def test_plugin_codec_and_coder_work_end_to_end(plugin_dir):
    with pytest.warns(WallocWarning, match="broken"):
        entries = registry.codec_entries()
    assert entries["sample-gray"].plugin == "sample"
    assert "sample-zlib" in registry.entropy_coders()
    image = np.tile(np.arange(37, dtype=np.uint8)[:, None], (1, 29))
    data = walloc_plugins.compress(image, "sample-gray", coder="sample-zlib")
    header = walloc_plugins.read_header(data)
    assert (header.codec, header.coder, header.weights) == ("sample-gray", "sample-zlib", entries["sample-gray"].sha256)
    decoded = walloc_plugins.decompress(data)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert np.array_equal(decoded, walloc_plugins.decompress(data))  # deterministic


def test_failed_plugin_is_reported_not_fatal(plugin_dir):
    with pytest.warns(WallocWarning, match="sample_walloc_plugin_that_does_not_exist"):
        infos = {p.name: p for p in registry.plugins()}
    assert infos["broken"].error and "ModuleNotFoundError" in infos["broken"].error
    assert infos["sample"].error is None and infos["sample"].source == "sample-walloc-plugin 1.0"
    assert "rgb-16x-linear" in registry.codec_entries()  # built-ins still there


def test_unknown_names_list_what_is_available():
    with pytest.raises(UnknownCodecError, match="available: .*rgb-16x-linear") as info:
        registry.get_entry("rgb-1000x")
    assert info.value.name == "rgb-1000x" and "gray-16x-linear" in info.value.available
    with pytest.raises(UnknownCoderError, match="webp"):
        registry.get_coder("lzma9")


def test_find_entry_by_hash_then_name():
    entry = registry.get_entry("rgb-16x-linear")
    assert registry.find_entry("renamed-codec", entry.sha256) is entry
    with pytest.raises(CodecMismatchError, match="rgb-16x-linear.*weights 000000000000"):
        registry.find_entry("rgb-16x-linear", "0" * 64)
    with pytest.raises(UnknownCodecError, match="plugin"):
        registry.find_entry("from-elsewhere", "1" * 64)


def test_builtin_weights_match_their_declared_hash():
    from walloc_plugins.codec import weights_sha256

    for name, entry in registry.codec_entries().items():
        codec = registry.load_codec(name)
        assert weights_sha256(codec.state_dict()) == entry.sha256  # rehashed, not the cached value
        assert codec.config == entry.config
        assert entry.weights.stat().st_size < 15 << 20


def test_lookup_never_imports_torch():
    import subprocess
    import sys

    code = (
        "import sys, walloc_plugins\n"
        "from walloc_plugins import registry\n"
        "assert registry.codec_entries() and registry.entropy_coders()\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_user_model_folder_from_the_environment(tmp_path, monkeypatch):
    import json
    import shutil

    source = registry.get_entry("gray-16x-linear")
    shutil.copy(source.weights, tmp_path / "my-gray.pt")
    card = {"config": source.config.to_dict(), "sha256": source.sha256, "name": "my-gray"}
    (tmp_path / "my-gray.json").write_text(json.dumps(card))
    (tmp_path / "orphan.json").write_text("{}")  # no weights beside it: ignored
    monkeypatch.setenv("WALLOC_MODELS", str(tmp_path))
    registry.clear_caches()
    try:
        entry = registry.get_entry("my-gray")
        assert entry.plugin == "WALLOC_MODELS" and registry.load_codec("my-gray").config == source.config
    finally:
        monkeypatch.delenv("WALLOC_MODELS")
        registry.clear_caches()
