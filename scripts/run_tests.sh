#!/usr/bin/env bash
# Set everything up (see setup.sh) and run the default test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/python -m ruff check gluonts_qf tests benchmarks
exec .venv/bin/python -m pytest -m "not slow" -q "$@"
