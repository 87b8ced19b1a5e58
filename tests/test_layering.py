"""Import rules: the core never imports a door, and the torch-free tier (core and Pillow door)
imports without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "walloc_plugins"
DOORS = {"pillow_codec", "torchvision_ext", "ffmpeg_filter"}
TORCH_FREE = ["errors", "config", "container", "entropy", "hookspecs", "registry", "builtin", "files", "wlcinfo", "wav", "cli"]
PILLOW_DOOR = sorted(REPO.glob("pillow_codec/*.py"))
# What each may import at module level: Image.open must not wait for the core (~80 ms) or torch.
PILLOW_DOOR_IMPORTS = {"__future__", "typing", "PIL"}
AUTOLOAD_IMPORTS = {"__future__", "os", "sys"}  # runs at every interpreter start


def imported_modules(path: Path, module_level: bool = False) -> set[str]:
    """Top-level packages a module imports (with ``module_level``, only those it imports when run)."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body if module_level else ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_never_imports_a_door(path):
    assert not imported_modules(path) & DOORS


@pytest.mark.parametrize("path", PILLOW_DOOR, ids=lambda p: p.name)
def test_pillow_door_imports_only_pillow_at_module_level(path):
    assert imported_modules(path, module_level=True) <= PILLOW_DOOR_IMPORTS


def test_autoload_imports_only_the_standard_library():
    assert imported_modules(REPO / "pillow_codec_autoload.py") <= AUTOLOAD_IMPORTS | {"pillow_codec"}
    assert imported_modules(REPO / "pillow_codec_autoload.py", module_level=True) <= AUTOLOAD_IMPORTS


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


def test_pillow_door_opens_files_without_torch(tmp_path):
    """Image.open parses the header and metadata with the torch-free tier; load needs torch."""
    import numpy as np

    import walloc_plugins

    path = tmp_path / "x.wlc"
    walloc_plugins.save(path, np.zeros((16, 24, 3), np.uint8), metadata={"xmp": b"<x/>"})
    modules = "".join(f"import pillow_codec.{p.stem}\n" for p in PILLOW_DOOR if p.stem != "__init__")
    code = BLOCK_TORCH + modules + f"""
import pillow_codec_autoload
from PIL import Image
image = Image.open({str(path)!r})
print(image.format, image.mode, image.size, image.info["codec"], image.info["xmp"], "torch" in sys.modules)
try:
    image.load()
except OSError as exc:
    print(type(exc.__cause__).__name__)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["WLC", "RGB", "(24,", "16)", "rgb-16x-linear", "b'<x/>'", "False", "ModuleNotFoundError"]
