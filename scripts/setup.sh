#!/usr/bin/env bash
# Create .venv (if missing) and install gluonts-qf into it with the given extras.
# A CPU build of torch is installed first, so that no CUDA wheels are pulled in.
# Override with TORCH_VERSION=... and TORCH_INDEX_URL=... (e.g. PyTorch's CPU wheel index).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
spec="."
[ -n "$extras" ] && spec=".[$extras]"
# (this machine's pip warns about missing local package folders: hide only those lines)
.venv/bin/python -m pip install -q -e "$spec" 2>&1 | { grep -v "^WARNING: Location" || true; }
.venv/bin/python -c "import gluonts_qf" # fail loudly if the install did not work
