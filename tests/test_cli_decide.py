"""``gluonts-qf decide`` end to end on a tiny trained predictor, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gluonts_qf import decisions as dec
from gluonts_qf.cli import main
from gluonts_qf.runs import predictors
from gluonts_qf.runs.data import load_data

PNG = b"\x89PNG\r\n\x1a\n"


def train_tiny(data_dir, out, *extra) -> None:
    """1 epoch x 2 batches on 20 m4_hourly series, saved under ``out``."""
    argv = ["train", "--dataset", "m4_hourly", "--data-dir", str(data_dir)]
    argv += ["--epochs", "1", "--batches-per-epoch", "2", "--max-series", "20"]
    argv += ["--baselines", "seasonal_naive", "--out", str(out), "--quiet", *extra]
    assert main(argv) == 0


@pytest.fixture(scope="module")
def iqf_dir(offline_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("iqf")
    train_tiny(offline_data, out)
    return out


def decide_argv(predictor, data_dir, out, *extra) -> list[str]:
    return [
        "decide",
        "--predictor",
        str(predictor),
        "--dataset",
        "m4_hourly",
        "--data-dir",
        str(data_dir),
        "--max-series",
        "5",
        "--out",
        str(out),
        *extra,
    ]


def test_decide_next_step(iqf_dir, offline_data, tmp_path, capsys):
    extra = ["--levels", "0.94,0.95", "--costs", "4,1"]
    assert main(decide_argv(iqf_dir, offline_data, tmp_path, *extra)) == 0
    out = capsys.readouterr().out
    assert "m4_hourly: 5 series, the next step; exact (IQF closed form)" in out
    assert "cost-optimal level c_u / (c_u + c_o) = 0.8" in out
    header = next(
        line for line in out.splitlines() if line.lstrip().startswith("level")
    )
    for column in ("quantity", "extra_per_point", "fill_rate", "expected_cost"):
        assert column in header
    table = pd.read_csv(tmp_path / "tradeoff.csv", keep_default_na=False)
    assert list(table["level"]) == [0.8, 0.94, 0.95]
    assert list(table["optimal"]) == ["*", "", ""]
    # the same numbers as the Python API on the same forecasts
    test = load_data("m4_hourly", offline_data, 5).test
    forecasts = list(predictors.load_predictor(iqf_dir).predict(test))
    tr = dec.service_tradeoff(forecasts, [0.8, 0.94, 0.95], costs=(4.0, 1.0))
    np.testing.assert_allclose(table["quantity"], tr.quantity.sum(0), rtol=1e-12)
    np.testing.assert_allclose(table["fill_rate"], tr.total()["fill_rate"])
    assert np.all(np.diff(table["quantity"]) > 0)
    assert len(pd.read_csv(tmp_path / "tradeoff_per_series.csv")) == 5 * 3
    assert (tmp_path / "service_levels.png").read_bytes().startswith(PNG)
    assert not (tmp_path / "lead_time_total.png").exists()


def test_decide_lead_time_of_iqf(iqf_dir, offline_data, tmp_path, capsys):
    argv = decide_argv(iqf_dir, offline_data, tmp_path, "--lead-time", "24")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "the total of the next 24 steps, assumption: independent steps" in out
    assert (tmp_path / "lead_time_total.png").read_bytes().startswith(PNG)


BAD = [
    (["--costs", "0,1"], "under_cost must be a positive number, got 0.0"),
    (["--costs", "4"], "costs must be two numbers 'under,over'"),
    (["--levels", "0.5,1.2"], "strictly between 0 and 1"),
    (["--lead-time", "49"], "lead time k=49 exceeds the forecast horizon 48"),
    (["--lead-time", "0"], "--lead-time: must be a positive integer"),
]


@pytest.mark.parametrize("extra, message", BAD)
def test_bad_input_exits_2(extra, message, iqf_dir, offline_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(decide_argv(iqf_dir, offline_data, tmp_path, *extra))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_predictor_exits_2(offline_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(decide_argv(tmp_path, offline_data, tmp_path / "out"))
    assert exc.value.code == 2 and "no saved predictor" in capsys.readouterr().err


def test_decide_lead_time_of_mqf2(offline_data, tmp_path, capsys):
    """MQF2's joint samples: the total keeps their dependence and the report
    compares it with independent steps."""
    train_tiny(offline_data, tmp_path / "mqf2", "--model", "mqf2")
    argv = decide_argv(tmp_path / "mqf2", offline_data, tmp_path, "--lead-time", "12")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "assumption: joint samples" in out
    assert "independent steps vs joint samples (same draws)" in out
    assert (tmp_path / "lead_time_total.png").read_bytes().startswith(PNG)
