"""``reproduce``: smoke tables and figures, resume, atomic cells, published rows."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from gluonts_qf.cli import main
from gluonts_qf.reproduce import cache
from gluonts_qf.reproduce.experiments import EXPERIMENTS
from gluonts_qf.reproduce.reproduce import reproduce
from gluonts_qf.reproduce.tables import summarise

IQF_COLUMNS = [
    "mean_wQuantileLoss",
    "wQL_untrained",
    "wCRPS",
    "MSIS",
    "Coverage80",
    "Coverage98",
    "crossing_rate",
]


@pytest.fixture(scope="module")
def iqf_run(data_dir, tmp_path_factory):
    """The smoke ``iqf`` experiment on tourism_yearly (horizon 4): ~10 s."""
    out = tmp_path_factory.mktemp("iqf")
    lines: list[str] = []
    result = reproduce(
        "iqf",
        smoke=True,
        datasets=["tourism_yearly"],
        out=out,
        data_dir=data_dir,
        log=lines.append,
    )
    return result, lines


def _rows(path):
    with open(path, newline="") as fp:
        return list(csv.DictReader(fp))


def test_iqf_smoke_writes_cells_tables_and_figures(iqf_run):
    result, lines = iqf_run
    out = result.out
    rows = {r["model"]: r for r in _rows(out / "iqf.csv")}
    assert set(rows) >= {"iqf", "isqf", "deepar_iqf", "quantile_head", "gluonts_isqf"}
    assert set(IQF_COLUMNS) <= set(next(iter(rows.values())))
    assert float(rows["iqf"]["crossing_rate"]) == 0.0  # no crossing, by construction
    assert float(rows["quantile_head"]["crossing_rate"]) > 0.0  # a free head crosses
    assert rows["gluonts_isqf"]["error"].startswith("TypeError")  # shown, not hidden
    assert rows["gluonts_isqf"]["mean_wQuantileLoss"] == "nan"
    assert 0 <= float(rows["iqf"]["Coverage80"]) <= float(rows["iqf"]["Coverage98"])
    assert "| model " in (out / "iqf.md").read_text()
    assert len(lines) == len(rows) and all("tourism_yearly" in ln for ln in lines)
    assert any("FAILED TypeError" in ln for ln in lines)
    figures = out / "figures" / "tourism_yearly"
    assert (figures / "iqf-fan.png").stat().st_size > 0
    assert (figures / "iqf-quantile_function.png").stat().st_size > 0
    assert len(list((out / "cells" / "tourism_yearly").glob("*.json"))) == len(rows) - 2


def test_rerun_resumes_and_recomputes_a_partial_cell(iqf_run, data_dir):
    result, _ = iqf_run
    cell = result.out / "cells" / "tourism_yearly" / "iqf-seed0.json"
    before = json.loads(cell.read_text())
    text = cell.read_text()
    cell.write_text(text[: len(text) // 2])  # as if a write had been cut short
    lines: list[str] = []
    again = reproduce(
        "iqf",
        smoke=True,
        datasets=["tourism_yearly"],
        models=["iqf", "isqf", "gluonts_isqf"],
        out=result.out,
        data_dir=data_dir,
        figures=False,
        log=lines.append,
    )
    cached = {r["label"]: r["cached"] for r in again.records}
    assert cached == {"iqf": False, "isqf": True, "gluonts_isqf": False}
    after = json.loads(cell.read_text())  # complete again, same seed: same numbers
    for metrics in (before["metrics"], after["metrics"]):
        metrics.pop("train_seconds")
    assert after["metrics"] == pytest.approx(before["metrics"], rel=1e-6)
    assert sum("(cached)" in ln for ln in lines) == 1


def test_published_rows_and_differences(iqf_run, data_dir, tmp_path):
    result, _ = iqf_run
    published = tmp_path / "published.csv"
    published.write_text(
        "dataset,model,metric,value,source\n"
        "tourism_yearly,A,mean_wQuantileLoss,0.5,paper 1\n"
        "tourism_yearly,B,mean_wQuantileLoss,0.25,paper 2\n"
        "m4_hourly,C,mean_wQuantileLoss,0.01,paper 3\n"
    )
    again = reproduce(
        "iqf",
        smoke=True,
        datasets=["tourism_yearly"],
        models=["iqf"],
        out=tmp_path / "pub",
        data_dir=data_dir,
        published=published,
        figures=False,
        log=lambda _: None,
    )
    rows = {r["model"]: r for r in _rows(tmp_path / "pub" / "iqf.csv")}
    assert set(rows) == {"iqf", "A [published]", "B [published]"}
    gap = float(rows["iqf"]["mean_wQuantileLoss - best published"])
    assert gap == pytest.approx(float(rows["iqf"]["mean_wQuantileLoss"]) - 0.25)
    assert rows["B [published]"]["source"] == "paper 2"
    assert "B [published]" in (again.out / "iqf.md").read_text()
    published.write_text("dataset,model,metric,value,source\nx,y,z,high,s\n")
    with pytest.raises(ValueError, match="line 2: value must be a number"):
        reproduce("iqf", smoke=True, published=published, out=tmp_path / "x")


def test_mqf2_smoke_two_seeds(data_dir, tmp_path):
    """MQF2 vs independent IQF: joint scores, spread over 2 seeds, the heatmap."""
    result = reproduce(
        "mqf2",
        smoke=True,
        datasets=["tourism_yearly"],
        models=["mqf2", "iqf", "seasonal_naive"],
        seeds=2,
        out=tmp_path,
        data_dir=data_dir,
        log=lambda _: None,
    )
    rows = {r["model"]: r for r in _rows(tmp_path / "mqf2.csv")}
    for column in EXPERIMENTS["mqf2"].columns:
        assert np.isfinite(float(rows["mqf2"][column])), column
        assert f"{column}_std" in rows["mqf2"]
    assert rows["mqf2"]["seeds"] == "2" and "±" in (tmp_path / "mqf2.md").read_text()
    corr = [r for r in result.records if r["label"] == "mqf2"][0]["horizon_correlation"]
    np.testing.assert_allclose(np.diag(corr), 1.0, atol=1e-3)  # 4 x 4 (horizon 4)
    assert (
        tmp_path / "figures" / "tourism_yearly" / "horizon_correlation.png"
    ).exists()


def test_summarise_mean_spread_and_errors():
    ok = {"dataset": "d", "label": "m", "status": "ok"}
    records = [
        {**ok, "seed": 0, "metrics": {"ES": 1.0}},
        {**ok, "seed": 1, "metrics": {"ES": 3.0}},
        {**ok, "seed": 2, "status": "error", "error": "TypeError: x"},
    ]
    [(label, row)] = summarise(records, ["ES"], seeds=3)
    assert (label, row["ES"], row["seeds"]) == ("m", 2.0, 2)
    assert row["ES_std"] == pytest.approx(np.sqrt(2.0))
    assert row["error"] == "TypeError: x"


def test_write_atomic_never_leaves_a_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "cell.json"
    cache.write_atomic(path, '{"status": "ok"}')

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.write_atomic(path, '{"status": "ok", "metrics": {}}')
    assert path.read_text() == '{"status": "ok"}'  # the old file, untouched
    assert [p.name for p in tmp_path.iterdir()] == ["cell.json"]  # no temp file
    assert cache.read_cell(path, "key") is None  # no fingerprint: not finished


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"experiment": "nope"}, "unknown experiment 'nope'; choose from iqf"),
        ({"seeds": 0}, "seeds must be a positive integer"),
        ({"datasets": ["m5"]}, r"no cell config for dataset\(s\) \['m5'\]"),
        ({"models": ["arima"]}, r"no cell config for model\(s\) \['arima'\]"),
        ({"datasets": ["traffic"]}, r"\['traffic'\] are not in"),
    ],
)
def test_bad_input_is_a_value_error(kwargs, match, data_dir, tmp_path):
    options = {"experiment": "iqf", "smoke": True, "data_dir": data_dir}
    with pytest.raises(ValueError, match=match):
        reproduce(**{**options, **kwargs, "out": tmp_path})


def test_cli_reproduce_prints_the_table(iqf_run, data_dir, capsys):
    out = iqf_run[0].out
    argv = ["reproduce", "--experiment", "quantile-functions", "--smoke"]
    argv += ["--datasets", "tourism_yearly", "--models", "isqf", "--out", str(out)]
    main([*argv, "--data-dir", str(data_dir), "--no-figures"])
    text = capsys.readouterr().out
    assert "isqf" in text and "(cached)" in text and "iqf.csv" in text
    with pytest.raises(SystemExit) as err:
        main(["reproduce", "--experiment", "iqf", "--seeds", "0"])
    assert err.value.code == 2
