"""Import rules: the core never imports a door, and its torch-free tier imports without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "walloc_plugins"
DOORS = {"pillow_codec", "torchvision_ext", "ffmpeg_filter"}
TORCH_FREE = ["errors", "config", "container", "entropy", "hookspecs", "registry", "builtin", "files", "wlcinfo", "wav", "cli"]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_never_imports_a_door(path):
    assert not imported_modules(path) & DOORS


BLOCK_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by this test)", name=name)
sys.meta_path.insert(0, Block())
"""


def test_torch_free_tier_imports_without_torch(tmp_path):
    code = BLOCK_TORCH + "".join(f"import walloc_plugins.{m}\n" for m in TORCH_FREE) + """
import walloc_plugins
from walloc_plugins import registry
assert registry.codec_entries()
try:
    walloc_plugins.compress
except walloc_plugins.MissingDependencyError as exc:
    assert "pip install torch" in str(exc)
else:
    raise AssertionError("compress resolved without torch")
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_info_runs_without_torch(tmp_path):
    import numpy as np

    import walloc_plugins

    path = tmp_path / "x.wlc"
    walloc_plugins.save(path, np.zeros((16, 16, 3), np.uint8))
    code = BLOCK_TORCH + f"from walloc_plugins.cli import main\nraise SystemExit(main(['info', {str(path)!r}]))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "rgb-16x-linear" in out
