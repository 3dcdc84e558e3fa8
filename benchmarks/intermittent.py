"""Write a synthetic daily retail file with many zeros, to try the default
model where demand is intermittent (no offline dataset is).

300 SKUs' daily sales over two years, long format (``item_id, timestamp,
target``): negative-binomial counts around a weekly pattern, a yearly wave, a
slow drift and rare promotions (2.5 times the rate on 3% of days), rates
spread over two orders of magnitude, so 29% of the days sell nothing;
the series start on different days. Then, for instance:

    python benchmarks/intermittent.py /work/retail.csv
    OMP_NUM_THREADS=1 gluonts-qf train --dataset /work/retail.csv --prediction-length 28 \\
        --baselines naive_intervals,auto_ets,auto_theta,deepar,feedforward
"""

import sys

import numpy as np
import pandas as pd


def retail(series: int = 300, days: int = 730, seed: int = 7) -> pd.DataFrame:
    """The long frame, one row per SKU and day from that SKU's first day."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-01", periods=days, freq="D")
    t = np.arange(days)
    frames = []
    for i in range(series):
        rate = np.exp(rng.normal(0.6, 1.0))
        week = np.exp(rng.normal(0, 0.25, 7))
        week /= week.mean()
        amplitude, phase = rng.uniform(0, 0.3), rng.integers(365)
        year = 1 + amplitude * np.sin(2 * np.pi * (t + phase) / 365.25)
        drift = np.exp(np.cumsum(rng.normal(0, 0.01, days)))
        promo = 1 + 1.5 * (rng.random(days) < 0.03)
        mu = rate * week[t % 7] * year * drift * promo
        k = rng.uniform(1, 5)  # the negative binomial's dispersion
        y = rng.negative_binomial(k, k / (k + mu))
        start = rng.integers(0, 200)
        frames.append(
            pd.DataFrame(
                {
                    "item_id": f"sku{i:03d}",
                    "timestamp": dates[start:],
                    "target": y[start:],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/intermittent.py OUT.csv")
    frame = retail()
    frame.to_csv(sys.argv[1], index=False)
    print(f"{len(frame)} rows, {(frame.target == 0).mean():.1%} zeros -> {sys.argv[1]}")
