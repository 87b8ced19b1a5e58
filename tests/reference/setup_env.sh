#!/usr/bin/env bash
# The environment in which tests/test_reference_equality.py runs the authors' implementation.
#
# A virtualenv that reuses the installed torch and torchvision (--system-site-packages, so
# nothing large is downloaded) and adds PyPI walloc 1.2.1 with dependency versions it works
# with: diffusers (0.31.0 to 0.42.1 checked), pytorch-wavelets 1.3.0, einops, and
# setuptools < 81 (pytorch-wavelets imports pkg_resources). Made once and reused while the
# requirements are unchanged; prints the venv's python. Needs PyPI the first time.
#
#   WALLOC_REFERENCE_VENV  where the venv lives (default /tmp/walloc-reference-venv; the
#                          equality tests look there too)
#   PYTHON                 the interpreter whose torch is reused (default python3)
set -euo pipefail

venv="${WALLOC_REFERENCE_VENV:-/tmp/walloc-reference-venv}"
requirements=(walloc==1.2.1 diffusers==0.42.1 pytorch-wavelets==1.3.0 einops==0.8.2 "setuptools<81")
stamp="$venv/walloc-reference-requirements.txt"

if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "${requirements[*]}" ]]; then
    echo "creating $venv (walloc 1.2.1 and its dependencies from PyPI)" >&2
    "${PYTHON:-python3}" -m venv --clear --system-site-packages "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
    "$venv/bin/python" -W ignore -c "from walloc import walloc"  # the reference imports
    echo "${requirements[*]}" > "$stamp"
fi
echo "$venv/bin/python"
