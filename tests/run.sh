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

run_pytest() {  # pytest's exit code 5 (nothing collected) is a failure here
  set +e
  "$@"
  local status=$?
  set -e
  if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    return 1
  fi
  return "$status"
}

# The oldest Python we support, where the machine has it: the library and protocol tests once more.
PY310=""
for candidate in "$(command -v python3.10 || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python; do
  if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' > /dev/null 2>&1; then
    PY310="$candidate"
    break
  fi
done
if [ -n "$PY310" ] && [ "${LLM_LSP_SKIP_PY310:-0}" != 1 ] && [ $# -eq 0 ]; then
  echo "== tests: pytest on $("$PY310" --version) (unit, end to end)"
  VENV310="${LLM_LSP_VENV310:-.venv310}"
  [ -x "$VENV310/bin/python" ] || "$PY310" -m venv "$VENV310"
  "$VENV310/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
  run_pytest "$VENV310/bin/python" -m pytest -q -p no:cacheprovider tests/unit tests/e2e
fi

echo "== tests: pytest"
run_pytest python -m pytest -q -p no:cacheprovider "$@"
