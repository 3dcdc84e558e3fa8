"""``gluonts-qf train`` and ``forecast`` end to end on a tiny budget, and bad input."""

from __future__ import annotations

import csv
import json
import math
import runpy
import sys

import pytest

from gluonts_qf.cli import build_parser, main
from gluonts_qf.runs import prepare
from gluonts_qf.runs.commands import spec_from_args

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(data_dir, tmp_path_factory):
    """One tiny training run (1 epoch x 2 batches, 20 series) shared by the tests."""
    out = tmp_path_factory.mktemp("run")
    argv = [
        "train",
        "--dataset",
        "m4_hourly",
        "--data-dir",
        str(data_dir),
        "--epochs",
        "1",
        "--batches-per-epoch",
        "2",
        "--max-series",
        "20",
        "--baselines",
        "seasonal_naive",
        "--model",
        "iqf",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    return out


def test_train_writes_everything(run_dir, capsys):
    for name in (
        "metrics.json",
        "metrics.csv",
        "metrics.md",
        "fan_chart.png",
        "quantile_function.png",
        "predictor/gluonts-config.json",
    ):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "fan_chart.png").read_bytes().startswith(PNG)
    report = json.loads((run_dir / "metrics.json").read_text())
    assert report["num_test_series"] == 20 and report["prediction_length"] == 48
    assert set(report["models"]) == {"iqf", "seasonal_naive"}
    for model, metrics in report["models"].items():
        for key in (
            "mean_wQuantileLoss",
            "wCRPS",
            "MASE",
            "ND",
            "NRMSE",
            "Coverage[0.1]",
            "Coverage[0.9]",
            "crossing_rate",
            "train_seconds",
            "predict_seconds",
        ):
            assert metrics[key] is not None and math.isfinite(metrics[key]), (
                model,
                key,
            )
    assert report["models"]["iqf"]["crossing_rate"] == 0.0
    with (run_dir / "metrics.csv").open() as fp:
        assert [r["model"] for r in csv.DictReader(fp)] == ["iqf", "seasonal_naive"]


def test_forecast_writes_non_crossing_quantiles(run_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "fc.csv"
    argv = [
        "forecast",
        "--predictor",
        str(run_dir / "predictor"),
        "--dataset",
        "m4_hourly",
        "--data-dir",
        str(data_dir),
        "--max-series",
        "3",
        "--levels",
        "0.95,0.05,0.5",
        "--output",
        str(out),
    ]
    assert main(argv) == 0
    assert "3 series x 48 steps" in capsys.readouterr().out
    with out.open() as fp:
        rows = list(csv.DictReader(fp))
    assert list(rows[0]) == [
        "item_id",
        "step",
        "timestamp",
        "mean",
        "q0.95",
        "q0.05",
        "q0.5",
        "target",
    ]
    assert len(rows) == 3 * 48 and {r["item_id"] for r in rows} == {"0", "1", "2"}
    for r in rows:
        assert float(r["q0.05"]) <= float(r["q0.5"]) <= float(r["q0.95"])
        assert math.isfinite(float(r["mean"])) and math.isfinite(float(r["target"]))


def test_forecast_future_to_stdout(run_dir, data_dir, capsys):
    argv = [
        "forecast",
        "--predictor",
        str(run_dir),
        "--dataset",
        "m4_hourly",
        "--data-dir",
        str(data_dir),
        "--max-series",
        "1",
        "--future",
    ]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert (
        lines[0] == "item_id,step,timestamp,mean,q0.05,q0.5,q0.95" and len(lines) == 49
    )


BAD = [
    (["train", "--dataset", "no_such_data"], "not found in"),
    (["train", "--dataset", "m4_hourly", "--data-dir", "{empty}"], "not found in"),
    (
        ["train", "--dataset", "m4_hourly", "--data-dir", "{empty}/missing"],
        "does not exist",
    ),
    (
        ["train", "--dataset", "m4_hourly", "--epochs", "0"],
        "--epochs: must be a positive",
    ),
    (
        ["train", "--dataset", "m4_hourly", "--epochs", "-3"],
        "--epochs: must be a positive",
    ),
    (["train", "--dataset", "m4_hourly", "--lr", "0"], "--lr: must be a positive"),
    (
        ["train", "--dataset", "m4_hourly", "--num-threads", "0"],
        "--num-threads: must be a positive",
    ),
    (
        ["train", "--dataset", "m4_hourly", "--set", "num_threads=2"],
        "comes from num_threads (--num-threads)",
    ),
    (["train", "--dataset", "m4_hourly", "--baselines", "arima"], "unknown baseline"),
    (
        ["train", "--dataset", "m4_hourly", "--set", "no_such_arg=1"],
        "unexpected keyword",
    ),
    (["train", "--dataset", "m4_hourly", "--set", "anchor=sideways"], "anchor must be"),
    (["train", "--dataset", "m4_hourly", "--set", "freq=D"], "comes from the dataset"),
    (
        [
            "forecast",
            "--predictor",
            "{empty}",
            "--dataset",
            "m4_hourly",
            "--levels",
            "0.5,1.5",
        ],
        "strictly between 0 and 1",
    ),
    (
        [
            "forecast",
            "--predictor",
            "{empty}",
            "--dataset",
            "m4_hourly",
            "--levels",
            "0,0.5",
        ],
        "strictly between 0 and 1",
    ),
    (
        ["forecast", "--predictor", "{empty}", "--dataset", "m4_hourly"],
        "no saved predictor",
    ),
]


@pytest.mark.parametrize("argv, message", BAD)
def test_bad_input_is_a_clean_error(
    argv, message, data_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("GLUONTS_QF_DATA", str(data_dir))
    argv = [a.replace("{empty}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unknown_dataset_without_data_dir(monkeypatch, capsys):
    monkeypatch.delenv("GLUONTS_QF_DATA", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dataset", "no_such_data"])
    assert (
        exc.value.code == 2
        and "unknown dataset 'no_such_data'" in capsys.readouterr().err
    )


def test_python_dash_m_help(monkeypatch, capsys):
    # what `python -m gluonts_qf train --help` runs, in-process (no re-import)
    monkeypatch.setattr(sys, "argv", ["gluonts_qf", "train", "--help"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("gluonts_qf", run_name="__main__")
    assert exc.value.code == 0 and "--batches-per-epoch" in capsys.readouterr().out


def spec_for(argv):
    return spec_from_args(build_parser().parse_args(["train", *argv]))


def test_config_file_and_flags(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "dataset: m4_hourly\nepochs: 3\nbatches-per-epoch: 7\nlr: 1e-3\n"
        "baselines: [seasonal_naive, deepar]\nestimator: {hidden_size: 16, anchor: last}\n"
        "trainer: {gradient_clip_val: 1.0}\n"
    )
    spec = spec_for(["--config", str(cfg), "--epochs", "5", "--set", "hidden_size=8"])
    assert (spec.dataset, spec.epochs, spec.batches_per_epoch, spec.lr) == (
        "m4_hourly",
        5,
        7,
        1e-3,
    )
    assert spec.baselines == ["seasonal_naive", "deepar"]
    assert spec.estimator == {"hidden_size": 8, "anchor": "last"}
    assert spec.trainer == {"gradient_clip_val": 1.0}
    assert spec_for(["--dataset", "m4_hourly"]).baselines == ["seasonal_naive"]


@pytest.mark.parametrize(
    "argv, config",
    [
        (["--baselines", "none"], "dataset: m4_hourly\n"),
        ([], "dataset: m4_hourly\nbaselines: none\n"),
        ([], "dataset: m4_hourly\nbaselines: []\n"),
    ],
    ids=["flag none", "config none", "config empty list"],
)
def test_no_baselines(argv, config, data_dir, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(config)
    spec = spec_for(["--config", str(cfg), "--data-dir", str(data_dir), *argv])
    assert spec.baselines == []
    run = prepare(spec)  # validates again
    assert run.spec.baselines == []


def test_train_without_baselines(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--dataset", "m4_hourly", "--data-dir", str(data_dir)]
    argv += ["--epochs", "1", "--batches-per-epoch", "1", "--max-series", "4"]
    assert main([*argv, "--baselines", "none", "--out", str(out), "--quiet"]) == 0
    table = capsys.readouterr().out.splitlines()
    # one model row: the default model, the ensemble
    assert [line.split()[0] for line in table[2:-1]] == ["iqf_ensemble"]
    report = json.loads((out / "metrics.json").read_text())
    assert report["baselines"] == [] and set(report["models"]) == {"iqf_ensemble"}
    assert (out / "predictor" / "ensemble.json").is_file()
    assert (out / "predictor" / "network-1" / "gluonts-config.json").is_file()
    err = _exit_2([*argv, "--out", str(tmp_path / "again"), "--resume"], capsys)
    assert "iqf_ensemble cannot resume" in err
    # a network of a saved ensemble cut short: the error names its file
    state = out / "predictor" / "network-1" / "prediction-net-state.pt"
    state.write_bytes(state.read_bytes()[:100])
    err = _exit_2(_forecast_argv(out, data_dir), capsys)
    assert str(state) in err and "corrupt or truncated" in err


@pytest.mark.parametrize(
    "text, message",
    [
        ("dataset: m4_hourly\nepoch: 3\n", "unknown run setting"),
        ("epochs: 3\n", "--dataset is required"),
        ("dataset: m4_hourly\nepochs: 0\n", "epochs must be a positive integer"),
        ("dataset: m4_hourly\nbaselines: arima\n", "unknown baseline"),
        ("dataset: m4_hourly\nestimator: {lr: 0.1}\n", "comes from lr"),
        ("- a\n- b\n", "must be a mapping"),
    ],
)
def test_bad_config_is_a_clean_error(text, message, tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(SystemExit) as exc:
        main(["train", "--config", str(cfg)])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_train_mqf2_from_config(data_dir, tmp_path):
    """``--model mqf2`` (here from the smoke config): sample forecasts, joint
    scores, a fan chart, and no quantile-function plot (IQF only)."""
    from pathlib import Path

    config = Path(__file__).resolve().parents[1] / "configs/smoke/m4_hourly-mqf2.yaml"
    out = tmp_path / "mqf2"
    argv = ["train", "--config", str(config), "--data-dir", str(data_dir)]
    assert main(argv + ["--out", str(out)]) == 0
    assert (out / "fan_chart.png").read_bytes().startswith(PNG)
    assert not (out / "quantile_function.png").exists()
    assert (out / "predictor" / "gluonts-config.json").is_file()
    report = json.loads((out / "metrics.json").read_text())
    assert report["model"] == "mqf2"
    assert set(report["models"]) == {"mqf2", "seasonal_naive"}
    for metrics in report["models"].values():
        for key in ("mean_wQuantileLoss", "wCRPS", "MASE", "ES", "VS"):
            assert metrics[key] is not None and math.isfinite(metrics[key]), key
    assert report["models"]["mqf2"]["crossing_rate"] == 0.0


# -- hardening (issue 8): each failed with a traceback, or silently, before --
def _exit_2(argv, capsys) -> str:
    """Run the CLI, expect exit status 2; the one-line message on stderr."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "argv, config",
    [
        (["--set", "trainer.max_epoch=3"], ""),
        ([], "trainer: {gradient_clip: 1.0}\n"),
    ],
    ids=["--set", "config"],
)
def test_unknown_trainer_key_stops_before_training(argv, config, tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("dataset: m4_hourly\n" + config)
    out = tmp_path / "out"
    err = _exit_2(["train", "--config", str(cfg), "--out", str(out), *argv], capsys)
    assert "unknown trainer setting" in err and "did you mean" in err
    assert not out.exists()


def test_out_that_is_a_file_stops_before_training(tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("not a folder")
    err = _exit_2(["train", "--dataset", "m4_hourly", "--out", str(out)], capsys)
    assert f"{out} exists and is not a folder" in err
    assert out.read_text() == "not a folder"


def _forecast_argv(predictor, data_dir, *extra, dataset="m4_hourly"):
    return [
        "forecast",
        "--predictor",
        str(predictor),
        "--dataset",
        dataset,
        "--data-dir",
        str(data_dir),
        "--max-series",
        "2",
        *extra,
    ]


def test_output_that_is_a_folder(run_dir, data_dir, tmp_path, capsys):
    argv = _forecast_argv(run_dir, data_dir, "--output", str(tmp_path))
    assert f"--output {tmp_path} is a folder" in _exit_2(argv, capsys)


@pytest.mark.parametrize("command", ["forecast", "decide"])
def test_predictor_of_another_frequency_and_horizon(
    command, run_dir, data_dir, tmp_path, capsys
):
    argv = _forecast_argv(run_dir, data_dir, dataset="m4_weekly")
    argv[0] = command
    if command == "decide":
        argv += ["--out", str(tmp_path)]
    err = _exit_2(argv, capsys)
    assert "horizon 48 (dataset: 13)" in err and "frequency 'H' (dataset: 'W')" in err


@pytest.mark.parametrize(
    "name, damage",
    [
        ("prediction-net-state.pt", lambda b: b""),
        ("prediction-net-state.pt", lambda b: b[: len(b) // 2]),
        ("predictor.json", lambda b: b[:-40]),
        ("gluonts-config.json", lambda b: b"{not json"),
    ],
    ids=["empty state", "truncated state", "truncated json", "corrupt config"],
)
@pytest.mark.parametrize("command", ["forecast", "decide"])
def test_corrupt_predictor_names_the_file(
    command, name, damage, run_dir, data_dir, tmp_path, capsys
):
    import shutil

    folder = tmp_path / "predictor"
    shutil.copytree(run_dir / "predictor", folder)
    (folder / name).write_bytes(damage((folder / name).read_bytes()))
    argv = _forecast_argv(folder, data_dir)
    argv[0] = command
    if command == "decide":
        argv += ["--out", str(tmp_path / "decide")]
    err = _exit_2(argv, capsys)
    assert str(folder / name) in err and "corrupt or truncated" in err
    # after argparse's usage lines, one error line
    assert err.strip().splitlines()[-1].startswith(f"gluonts-qf {command}: error:")
    assert err.count("error:") == 1


def test_num_threads_reaches_the_estimator(data_dir, tmp_path):
    from gluonts_qf.runs.run import make_estimator

    cfg = tmp_path / "run.yaml"
    cfg.write_text("dataset: m4_hourly\nnum_threads: 3\n")
    argv = ["--config", str(cfg), "--data-dir", str(data_dir), "--max-series", "2"]
    run = prepare(spec_for(argv))
    assert make_estimator("iqf", run, tmp_path).num_threads == 3
    run = prepare(spec_for([*argv, "--num-threads", "2"]))  # the flag wins
    assert make_estimator("iqf", run, tmp_path).num_threads == 2


def test_resume_continues_from_the_last_checkpoint(data_dir, tmp_path, capsys):
    import torch

    out = tmp_path / "run"
    argv = ["train", "--dataset", "m4_hourly", "--data-dir", str(data_dir)]
    argv += ["--batches-per-epoch", "2", "--max-series", "4", "--baselines", "none"]
    argv += ["--out", str(out), "--quiet", "--model", "iqf"]
    err = _exit_2([*argv, "--epochs", "1", "--resume"], capsys)
    assert "nothing to resume" in err
    assert main([*argv, "--epochs", "1"]) == 0
    last = out / "training" / "iqf" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 2
    assert main([*argv, "--epochs", "2", "--resume"]) == 0
    assert torch.load(last, weights_only=False)["global_step"] == 4  # one more epoch
