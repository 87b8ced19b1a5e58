#!/usr/bin/env bash
# Installs what the compressed-learning tasks draw with: the fonts of the text task and the
# espeak-ng speech synthesiser of the speech task (Debian/Ubuntu packages; needs root or sudo).
set -euo pipefail
PACKAGES=(fonts-dejavu-core fonts-liberation2 fonts-freefont-ttf espeak-ng)
if dpkg -s "${PACKAGES[@]}" >/dev/null 2>&1; then
  exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
