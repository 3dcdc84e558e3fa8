#!/usr/bin/env bash
# Set everything up (see setup.sh), then train IQFEstimator on m4_hourly, backtest it
# beside seasonal naive and print the metrics table. Extra arguments go to `gluonts-qf train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh plots
data="${GLUONTS_QF_DATA:-../shared/data/gluonts}"
args=()
[ -d "$data" ] && args+=(--data-dir "$data")
exec .venv/bin/python -m gluonts_qf train --dataset m4_hourly "${args[@]}" --config configs/main/m4_hourly-iqf.yaml "$@"
