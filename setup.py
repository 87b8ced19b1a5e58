"""The one build step pyproject.toml cannot declare: ship the Pillow autoload .pth file.

Setuptools installs packages, but a ``.pth`` file must sit at the root of site-packages, so
``build_py`` writes it there: into ``build_lib`` for a wheel (``pip install .``) and into the
wheel being assembled for an editable install (``pip install -e .``; setuptools' editable
build puts ``install_lib`` files into that wheel as they are). See docs/pillow.md.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_NAME = "pillow_codec_autoload.pth"
# site.py runs lines that start with "import"; the guard keeps start-up quiet if the module
# has gone (pillow_codec_autoload itself never raises).
PTH_LINE = 'import sys; exec("try: import pillow_codec_autoload\\nexcept Exception: pass")\n'


class BuildPyWithPth(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            root = self.get_finalized_command("install").install_lib
        else:
            root = self.build_lib
        Path(root, PTH_NAME).write_text(PTH_LINE, encoding="utf-8")


setup(cmdclass={"build_py": BuildPyWithPth})
