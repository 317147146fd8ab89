#!/usr/bin/env bash
# The whole test suite, from a clean checkout: installs what it needs (pip, apt, a llama.cpp build), then runs
# ruff, mypy and pytest. `.ci/run` calls exactly this. Set LLM_LSP_VENV to reuse a virtualenv elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${LLM_LSP_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
echo "== install: python packages"
python -m pip install --quiet --disable-pip-version-check -e '.[test]'

if [ -f tests/editors/install.sh ] && [ "${LLM_LSP_SKIP_EDITORS:-0}" != 1 ]; then
  echo "== install: editors (Neovim, Emacs + eglot)"
  bash tests/editors/install.sh
fi
if [ "${LLM_LSP_SKIP_LLAMA:-0}" != 1 ]; then
  echo "== install: llama.cpp server (built once, cached in ~/.cache/llm-lsp)"
  start=$(date +%s)
  tests/realserver/build_llama_server.sh > /dev/null
  echo "   ready after $(( $(date +%s) - start )) s"
fi

echo "== lint: ruff, mypy"
ruff check llm_lsp tests bench
ruff format --check llm_lsp tests bench
mypy

echo "== tests: pytest"
set +e
python -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
