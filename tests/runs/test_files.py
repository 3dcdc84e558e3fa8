"""A user's own data through the command line: long CSV and parquet, JSON lines,
GluonTS folders by path, and every bad input as one line and exit status 2."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gluonts_qf.cli import main
from gluonts_qf.runs.data import load_data
from gluonts_qf.runs.files import Columns

T = 5
TINY = [
    "--epochs",
    "1",
    "--batches-per-epoch",
    "2",
    "--batch-size",
    "4",
    "--quiet",
    "--set",
    "hidden_size=4",
    "--set",
    "decoder_hidden=4",
]


def _frame(lengths=(40, 30, 35), freq="D", start="2024-01-01") -> pd.DataFrame:
    """Long rows of ``len(lengths)`` series, each starting one period later."""
    rng = np.random.default_rng(0)
    frames = []
    for i, n in enumerate(lengths):
        stamps = pd.date_range(start, periods=n + i, freq=freq)[i:]
        y = 10 + i + np.sin(np.arange(n)) + rng.normal(0, 0.1, n)
        frames.append(
            pd.DataFrame({"item_id": f"s{i}", "timestamp": stamps, "target": y})
        )
    return pd.concat(frames, ignore_index=True)


def _train(data, tmp_path, *extra) -> Path:
    out = tmp_path / "run"
    argv = ["train", "--dataset", str(data), "--out", str(out), "--baselines", "none"]
    assert main(argv + ["--prediction-length", str(T), *TINY, *extra]) == 0
    return out


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_file_round_trip_train_forecast_future(suffix, tmp_path):
    frame = _frame()
    data = tmp_path / f"sales{suffix}"
    if suffix == ".csv":
        frame.to_csv(data, index=False)
    else:
        frame.to_parquet(data, index=False)
    out = _train(data, tmp_path)
    report = json.loads((out / "metrics.json").read_text())
    assert report["data_source"]["kind"] == "file" and report["freq"] == "D"
    assert report["data_source"]["freq_inferred"] is True
    for kind in (".csv", ".parquet"):
        fc = tmp_path / f"forecasts{kind}"
        argv = ["forecast", "--predictor", str(out), "--dataset", str(data), "--future"]
        assert main(argv + ["--output", str(fc), "--levels", "0.1,0.5,0.9"]) == 0
        got = pd.read_csv(fc) if kind == ".csv" else pd.read_parquet(fc)
        assert len(got) == 3 * T
        assert sorted(got.item_id.unique()) == ["s0", "s1", "s2"]
        ends = frame.groupby("item_id").timestamp.max()
        for item, rows in got.groupby("item_id"):
            want = pd.date_range(ends[item], periods=T + 1, freq="D")[1:]
            assert list(pd.to_datetime(rows.timestamp)) == list(want)
            assert list(rows.step) == list(range(1, T + 1))
        q = got[["q0.1", "q0.5", "q0.9"]].to_numpy()
        assert np.all(np.diff(q, axis=1) >= 0)
    # decide reads the same file (and the predictor's horizon)
    assert main(["decide", "--predictor", str(out), "--dataset", str(data),
                 "--out", str(tmp_path / "decide")]) == 0  # fmt: skip
    assert (tmp_path / "decide" / "tradeoff.csv").is_file()


def test_gaps_and_empty_cells_are_missing_values_and_columns_are_named(tmp_path):
    frame = _frame((20,), freq="MS").rename(
        columns={"item_id": "store", "timestamp": "month", "target": "units"}
    )
    frame = frame.drop(index=[4, 5])  # two months missing
    frame.loc[8, "units"] = np.nan  # and one empty cell
    path = tmp_path / "monthly.csv"
    frame.to_csv(path, index=False)
    data = load_data(
        str(path), prediction_length=3, columns=Columns("store", "month", "units")
    )
    assert data.freq == "M" and data.prediction_length == 3  # MS: as a period
    (series,) = data.test
    assert len(series["target"]) == 20 and series["start"] == pd.Period("2024-01", "M")
    assert np.isnan(series["target"][[4, 5, 8]]).all()
    assert np.isfinite(np.delete(series["target"], [4, 5, 8])).all()
    np.testing.assert_array_equal(data.train[0]["target"], series["target"][:-3])


def test_json_lines_and_gluonts_folders_by_path(tmp_path):
    rng = np.random.default_rng(1)
    entries = [
        {
            "start": "2024-01-01 00:00",
            "target": list(10 + rng.normal(size=60)),
            "item_id": f"x{i}",
        }
        for i in range(3)
    ]
    jsonl = tmp_path / "series.json.gz"
    with gzip.open(jsonl, "wt") as fp:
        fp.writelines(json.dumps(e) + "\n" for e in entries)
    data = load_data(str(jsonl), prediction_length=T, freq="h")
    assert [len(e["target"]) for e in data.test] == [60] * 3
    assert [len(e["target"]) for e in data.train] == [60 - T] * 3
    # a GluonTS folder of any name, by absolute path: metadata gives freq and horizon
    folder = tmp_path / "my_sales"
    (folder / "train").mkdir(parents=True)
    (folder / "test").mkdir()
    (folder / "metadata.json").write_text(
        json.dumps({"freq": "h", "prediction_length": T})
    )
    with open(folder / "test" / "data.json", "w") as fp:
        fp.writelines(json.dumps(e) + "\n" for e in entries)
    with open(folder / "train" / "data.json", "w") as fp:
        fp.writelines(
            json.dumps({**e, "target": e["target"][:-T]}) + "\n" for e in entries
        )
    data = load_data(str(folder.resolve()))
    assert (data.freq, data.prediction_length, data.source["kind"]) == (
        "h",
        T,
        "folder",
    )
    assert len(data.train[0]["target"]) == 60 - T and len(data.test[0]["target"]) == 60
    # the same folder under --data-dir with a name GluonTS does not know
    assert load_data("my_sales", tmp_path).name == "my_sales"
    out = _train(folder.resolve(), tmp_path)
    assert (out / "predictor" / "gluonts-config.json").is_file()


def test_python_long_frame_through_gluonts_pandas_dataset(tmp_path):
    """The documented Python way: GluonTS's PandasDataset of a long frame."""
    from gluonts.dataset.pandas import PandasDataset

    from gluonts_qf import IQFEstimator

    frame = _frame()
    ds = PandasDataset.from_long_dataframe(
        frame, target="target", item_id="item_id", timestamp="timestamp", freq="D"
    )
    predictor = IQFEstimator(
        freq="D",
        prediction_length=T,
        hidden_size=4,
        decoder_hidden=4,
        batch_size=4,
        num_batches_per_epoch=2,
        trainer_kwargs={
            "max_epochs": 1,
            "logger": False,
            "enable_progress_bar": False,
            "default_root_dir": str(tmp_path),
        },  # fmt: skip
    ).train(ds)
    forecasts = list(predictor.predict(ds))
    assert [fc.item_id for fc in forecasts] == ["s0", "s1", "s2"]
    ends = frame.groupby("item_id").timestamp.max()
    for fc in forecasts:
        assert fc.start_date.to_timestamp() == ends[fc.item_id] + pd.Timedelta(days=1)
        q = fc.distribution.quantile([0.1, 0.5, 0.9]).detach().numpy()
        assert np.all(np.diff(q, axis=-1) > 0)


def _bad(tmp_path, capsys, text: str | bytes, *extra, name="data.csv") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    argv = ["train", "--dataset", str(path), "--baselines", "none", "--quiet"]
    with pytest.raises(SystemExit) as exc:
        main(argv + list(extra or ["--prediction-length", "2"]))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    return err[-1]


HEAD = "item_id,timestamp,target\n"
DAYS = "".join(f"a,2024-01-{d:02d},{d}\n" for d in range(1, 11))


@pytest.mark.parametrize(
    ("text", "extra", "match"),
    [
        (
            "id,ts,y\na,2024-01-01,1\n",
            (),
            r"no column 'item_id', 'timestamp', "
            r"'target'; the file has 'id', 'ts', 'y': name yours with --id-column",
        ),
        (
            HEAD + DAYS.replace(",3\n", ",three\n"),
            (),
            r"line 4: target 'target' is "
            r"'three', not a number",
        ),
        (
            HEAD + DAYS + "a,2024-01-05,7\n",
            (),
            r"series 'a' has two rows for "
            r"2024-01-05 \(lines 6 and 12\)",
        ),
        (
            HEAD + "a,2024-01-01,1\na,2024-01-03,2\na,2024-01-08,3\n",
            (),
            "cannot infer the frequency",
        ),
        (
            HEAD + DAYS,
            ("--prediction-length", "2", "--freq", "h"),
            r"24 x h apart, so they disagree with the frequency h",
        ),
        (HEAD + DAYS, ("--prediction-length", "2", "--freq", "W"), "two rows for"),
        (
            HEAD + DAYS,
            ("--prediction-length", "10"),
            r"series 'a' has 10 steps; the "
            "backtest holds out the last 10",
        ),
        ("", (), "is empty"),
        (HEAD, (), "has no rows"),
        (HEAD + DAYS[:-8], (), r"line 11: .*is the file truncated\?"),
        (HEAD + "a,yesterday,1\n", (), r"timestamp 'timestamp' is 'yesterday'"),
        (HEAD + DAYS, ("--freq", "D"), "pass --prediction-length N"),
    ],  # fmt: skip
    ids=[
        "columns",
        "number",
        "duplicate",
        "infer",
        "freq-h",
        "freq-W",
        "short",
        "empty",
        "header-only",
        "truncated",
        "date",
        "horizon",
    ],  # fmt: skip
)
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, text, extra, match):
    import re

    line = _bad(tmp_path, capsys, text, *extra)
    assert re.search(match, line), line
    assert "data.csv" in line


def test_unreadable_files_and_folders(tmp_path, capsys):
    garbage = b"PAR1\x00\x01\x02not really parquet"
    assert "cannot read" in _bad(tmp_path, capsys, garbage, name="x.parquet")
    cut = gzip.compress(b'{"start": "2024-01-01", "target": [1, 2, 3]}\n')[:12]
    line = _bad(tmp_path, capsys, cut, "--prediction-length", "1", "--freq", "D",
                name="x.json.gz")  # fmt: skip
    assert "cannot read" in line and "x.json.gz" in line
    line = _bad(tmp_path, capsys, b'{"start": "2024-01-01", "target": [1, 2]}\n',
                "--prediction-length", "1", name="y.jsonl")  # fmt: skip
    assert "pass --freq" in line
    assert "not a data file" in _bad(tmp_path, capsys, "x", name="notes.txt")
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(SystemExit):
        main(["train", "--dataset", str(folder), "--quiet"])
    assert "has no metadata.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--dataset", str(tmp_path / "missing.csv"), "--quiet"])
    assert "no such file or folder" in capsys.readouterr().err


def test_a_predictor_for_another_frequency_or_horizon(tmp_path, capsys):
    daily = tmp_path / "daily.csv"
    _frame().to_csv(daily, index=False)
    out = _train(daily, tmp_path)
    hourly = tmp_path / "hourly.csv"
    _frame(freq="h").to_csv(hourly, index=False)
    for data, extra, want in [
        (hourly, [], "frequency 'D' (dataset: 'h')"),
        (daily, ["--prediction-length", "3"], "horizon 5 (dataset: 3)"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main(["forecast", "--predictor", str(out), "--dataset", str(data), *extra])
        assert exc.value.code == 2
        assert want in capsys.readouterr().err
