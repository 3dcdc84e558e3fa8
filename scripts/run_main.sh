#!/usr/bin/env bash
# Set everything up (see setup.sh), then train IQFEstimator on m4_hourly, backtest it
# beside seasonal naive and print the metrics table. Extra arguments go to `gluonts-qf train`.
# Datasets come from $GLUONTS_QF_DATA, else ../shared/data/gluonts (the CLI's own default).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh plots,files,stats
exec .venv/bin/python -m gluonts_qf train --dataset m4_hourly --config configs/main/m4_hourly-iqf_ensemble.yaml "$@"
