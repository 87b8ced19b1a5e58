"""Fresh interpreters: plain ``from PIL import Image`` reads .wlc files via the autoload .pth."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DEV_IMAGES
from PIL import Image

import pillow_codec_autoload
import walloc_plugins as wp

REPO = Path(__file__).resolve().parents[1]
PTH_NAME = "pillow_codec_autoload.pth"


def installed_pth() -> Path:
    """The .pth file of the installed walloc-plugins (``pip install -e .`` puts it there)."""
    for folder in [*site.getsitepackages(), site.getusersitepackages()]:
        if (Path(folder) / PTH_NAME).is_file():
            return Path(folder) / PTH_NAME
    pytest.fail(f"{PTH_NAME} is not installed in this environment: run `pip install -e .`")


def run_python(code: str, cwd: Path, python: str = sys.executable, **env: str) -> str:
    """Run ``code`` in a fresh interpreter outside the repository; returns its stdout."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in (pillow_codec_autoload.ENV_VAR, "PYTHONPATH")
    }
    environ.update(env)
    done = subprocess.run(
        [python, "-c", code], cwd=cwd, env=environ, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert not done.stderr, done.stderr  # start-up stays quiet
    return done.stdout


@pytest.fixture(scope="module")
def wlc_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("autoload") / "photo.wlc"
    with Image.open(DEV_IMAGES / "lomiri-bridge.png") as image:
        image.save(path)
    return path


def assert_decodes_like_this_process(out: str, wlc_path: Path) -> None:
    """The fresh interpreter printed "WLC" and saved the pixels to PNG: they match ours within
    one level (float convolutions may round differently between processes)."""
    fmt, png = out.split()[:2]
    assert fmt == "WLC"
    theirs = np.asarray(Image.open(png)).astype(int)
    ours = wp.decompress(wlc_path).astype(int)
    assert theirs.shape == ours.shape
    assert np.abs(theirs - ours).max() <= 1 and np.mean(theirs == ours) > 0.999


OPEN_AND_SAVE = """
import os, tempfile
from PIL import Image
image = Image.open({path!r})
image.load()
png = os.path.join(tempfile.mkdtemp(), "decoded.png")
image.save(png)
print(image.format, png)
"""


def test_plain_pillow_opens_wlc_in_a_fresh_interpreter(wlc_path, tmp_path):
    installed_pth()
    out = run_python(OPEN_AND_SAVE.format(path=str(wlc_path)), tmp_path)
    assert_decodes_like_this_process(out, wlc_path)


def test_start_up_imports_neither_pillow_nor_torch(tmp_path):
    installed_pth()
    code = """
import sys
heavy = ("PIL", "torch", "numpy", "walloc_plugins", "pillow_codec")
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy), type(sys.meta_path[0]).__name__)
"""
    assert run_python(code, tmp_path).split() == ["[]", "_PillowImageFinder"]


@pytest.mark.parametrize("value", ["0", "false", "OFF"])
def test_environment_variable_turns_it_off(wlc_path, tmp_path, value):
    installed_pth()
    code = f"""
import sys
from PIL import Image, UnidentifiedImageError
try:
    Image.open({str(wlc_path)!r})
except UnidentifiedImageError:
    print("off", "pillow_codec" in sys.modules)
"""
    assert run_python(code, tmp_path, WALLOC_PILLOW_AUTOLOAD=value).split() == ["off", "False"]


@pytest.mark.parametrize(
    "first_import",
    [
        "from PIL import ImageFile",
        "from PIL import PngImagePlugin",
        "import PIL.Image",
        "from PIL import ImageOps",
    ],
)
def test_whichever_pillow_module_comes_first(wlc_path, tmp_path, first_import):
    """PIL.ImageFile is half imported when PIL.Image finishes under it: registration must cope."""
    installed_pth()
    code = first_import + OPEN_AND_SAVE.format(path=str(wlc_path))
    assert_decodes_like_this_process(run_python(code, tmp_path), wlc_path)


def test_later_init_and_reload_cannot_drop_it(wlc_path, tmp_path):
    installed_pth()
    code = f"""
import importlib
from PIL import Image
Image.preinit()
Image.init()
from PIL import WebPImagePlugin, TiffImagePlugin  # plugins imported after ours
assert Image.ID.count("WLC") == 1 and Image.registered_extensions()[".wlc"] == "WLC"
assert Image.MIME["WLC"] == "image/x-wlc" and "WLC" in Image.SAVE
print(Image.open({str(wlc_path)!r}).format)
Image = importlib.reload(Image)  # empties Pillow's registries: the hook registers again
print(Image.open({str(wlc_path)!r}).format)
"""
    assert run_python(code, tmp_path).split() == ["WLC", "WLC"]


def test_a_broken_plugin_never_breaks_pillow(tmp_path):
    """pillow_codec failing to import, or the autoload module gone: Pillow works, quietly."""
    line = installed_pth().read_text().strip()
    code = f"""
import sys
class Broken:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("pillow_codec"):
            raise ImportError("broken on purpose")
sys.meta_path.insert(0, Broken())
from PIL import Image
print("WLC" in Image.ID, Image.new("L", (2, 2)).size)
sys.modules.pop("pillow_codec_autoload")
exec({line!r})  # the .pth line itself, with its module unimportable
print("quiet")
"""
    assert run_python(code, tmp_path).split() == ["False", "(2,", "2)", "quiet"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["wheel", "editable"])
def test_pip_installs_ship_the_hook(kind, wlc_path, tmp_path):
    """Build the project as pip would, install it into a bare venv, open a .wlc with plain Pillow.

    The venv sees the system site-packages through a path line, which adds its folder but runs
    none of its .pth files, so only the hook this install shipped can register the plugin.
    """
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "pillow_codec_autoload.py"):
        shutil.copy(REPO / name, source)
    for package in (init.parent.name for init in REPO.glob("*/__init__.py")):  # every door
        shutil.copytree(
            REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    hook = "build_wheel" if kind == "wheel" else "build_editable"
    build = f"import sys; from setuptools import build_meta; print(build_meta.{hook}(sys.argv[1]))"
    built = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path / "dist")],
        cwd=source,
        capture_output=True,
        text=True,
        check=True,
    )
    wheel = tmp_path / "dist" / built.stdout.split()[-1]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            wheel,
        ],
        check=True,
        capture_output=True,
    )
    purelib = Path(
        run_python(
            "import sysconfig; print(sysconfig.get_paths()['purelib'])", tmp_path, python
        ).strip()
    )
    assert (purelib / PTH_NAME).is_file()
    record = next(purelib.glob("walloc_plugins-*.dist-info")) / "RECORD"
    assert PTH_NAME in record.read_text()  # so that pip uninstall removes it
    # Every site folder of this interpreter (a venv's and, with system site-packages, the base's).
    (purelib / "zz_system_site.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    code = (
        OPEN_AND_SAVE.format(path=str(wlc_path))
        + "import pillow_codec; print(pillow_codec.__file__)"
    )
    out = run_python(code, tmp_path, python)
    assert_decodes_like_this_process(out, wlc_path)
    module = out.split()[2]
    assert Path(module).is_relative_to(purelib if kind == "wheel" else source)
