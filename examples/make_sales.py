"""Write examples/sales.csv: three stores' daily sales, a weekly pattern and noise.

A long-format file (one row per store and day: ``item_id, timestamp, target``)
for trying ``gluonts-qf`` on data of one's own; store_c has two missing days
(empty cells) and starts later. Run from the repository root:
``python examples/make_sales.py``.
"""

from pathlib import Path

import numpy as np
import pandas as pd


def sales() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = []
    for i, (item, start, days) in enumerate(
        [
            ("store_a", "2024-01-01", 120),
            ("store_b", "2024-01-01", 120),
            ("store_c", "2024-02-01", 89),
        ]
    ):
        t = np.arange(days)
        level = 40 + 15 * i + 0.05 * t
        week = 8 * np.sin(2 * np.pi * t / 7) + 4 * (t % 7 == 5)
        y = np.maximum(level + week + rng.normal(0, 3, days), 0).round(1)
        frames.append(
            pd.DataFrame(
                {
                    "item_id": item,
                    "timestamp": pd.date_range(start, periods=days, freq="D"),
                    "target": y,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.loc[[300, 301], "target"] = np.nan  # two days store_c did not report
    return out


if __name__ == "__main__":
    path = Path(__file__).with_name("sales.csv")
    sales().to_csv(path, index=False, date_format="%Y-%m-%d")
    print(f"wrote {path}")
