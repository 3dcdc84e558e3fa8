#!/usr/bin/env bash
# Set everything up (see setup.sh) and run the default test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest -m "not slow" -q "$@"
