#!/usr/bin/env bash
# The GPU run: the stt, end-to-end and concurrent-stream (service) suites on CUDA in one go,
# then the table. Needs only what pip installs (faster-whisper's CUDA 12 libraries come from
# the nvidia-cublas-cu12 / nvidia-cudnn-cu12 wheels) and an NVIDIA driver.
#
#   benchmarks/gpu.sh [MODEL] [COMPUTE_TYPE]
#     MODEL         tiny.en (default, bundled) or a CTranslate2 Whisper model folder
#     COMPUTE_TYPE  float16 (default), int8_float16, int8, float32
#   VENV=path  use (or make) that venv instead of .venv-gpu;  LIMIT_S=480  the time cap;
#   INSTALL=0  use the venv as it is (no pip)
#
# Writes benchmarks/results/<date>-gpu.json and .md. Where the end-to-end suite cannot reach
# PulseAudio it drives the live listener in-process with the same real-time frames.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-tiny.en}
COMPUTE=${2:-float16}
VENV=${VENV:-.venv-gpu}
LIMIT_S=${LIMIT_S:-480}
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
if [ "${INSTALL:-1}" != "0" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e . nvidia-cublas-cu12 'nvidia-cudnn-cu12==9.*'
fi

# CTranslate2 loads libcublas and libcudnn by name: put the wheels' folders on the path.
LIBS=$("$VENV/bin/python" - <<'EOF'
import importlib, os
folders = []
for name in ("nvidia.cublas.lib", "nvidia.cudnn.lib"):
    try:
        module = importlib.import_module(name)
    except ImportError:
        continue
    folders += list(getattr(module, "__path__", []))
print(":".join(folders))
EOF
)
export LD_LIBRARY_PATH="${LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

"$VENV/bin/python" - <<'EOF' || exit 1
import platform, sys
import ctranslate2
from voicedesk.stt.models import no_cuda_message
if ctranslate2.get_cuda_device_count() == 0:
    sys.exit("gpu.sh: " + no_cuda_message(platform.machine()))
print(f"gpu.sh: CTranslate2 {ctranslate2.__version__} sees "
      f"{ctranslate2.get_cuda_device_count()} CUDA device(s)", file=sys.stderr)
EOF

timeout --signal=INT "$LIMIT_S" "$VENV/bin/python" -m benchmarks stt e2e service \
    --device cuda --model "$MODEL" --compute-type "$COMPUTE" --stem "$(date +%F)-gpu"
