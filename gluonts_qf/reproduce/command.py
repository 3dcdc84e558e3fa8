"""``gluonts-qf reproduce``: the reproduction's command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..runs.arguments import (
    add_command,
    name_list,
    positive_float,
    positive_int,
    usage_errors,
)
from ..runs.run import quiet_lightning


def add_reproduce_parser(subs) -> None:
    p = add_command(
        subs,
        "reproduce",
        "re-run a paper's experiment: every dataset x model cell, cached",
        "Train and backtest every cell (configs/<experiment>.yaml: a "
        "datasets x models matrix) of a paper experiment, one progress line per cell, "
        "and write per-cell JSON, <experiment>.csv/.md and figures to --out. Finished "
        "cells are cached: run the same command again to resume.",
        run_reproduce,
        quiet=True,
    )
    add = p.add_argument
    add("--experiment", required=True, metavar="NAME", help="iqf, mqf2 or figures")
    add("--smoke", action="store_true", help="tiny budgets (the file's smoke settings)")
    add("--datasets", type=name_list, metavar="LIST", help="default: all offline")
    add("--models", type=name_list, metavar="LIST", help="row labels; default all")
    add("--seeds", type=positive_int, default=1, metavar="N", help="default 1")
    add("--budget", type=positive_float, default=1.0, help="scale of the epochs")
    add("--out", type=Path, metavar="DIR", help="default runs/reproduce/<experiment>")
    add("--published", type=Path, metavar="CSV", help="published numbers to add")
    add(
        "--configs",
        type=Path,
        metavar="DIR",
        help="folder of <experiment>.yaml (default configs/)",
    )
    add("--data-dir", type=Path, metavar="DIR", help="folder of GluonTS datasets")
    add("--no-figures", action="store_true", help="skip the PNG figures")


def run_reproduce(args: argparse.Namespace) -> Any:
    """The ``reproduce`` command; returns the :class:`~.reproduce.Reproduction`."""
    from ..evaluation.tables import format_table
    from .reproduce import reproduce

    options = {
        "smoke": args.smoke,
        "datasets": args.datasets,
        "models": args.models,
        "seeds": args.seeds,
        "out": args.out,
        "published": args.published,
        "data_dir": args.data_dir,
        "config_dir": args.configs,
        "budget": args.budget,
        "figures": not args.no_figures,
    }
    with usage_errors(args), quiet_lightning(True):
        result = reproduce(
            args.experiment, **options, log=lambda m: print(m, flush=True)
        )
    columns = ["dataset", *result.experiment.columns, "error"]
    print(format_table(result.rows, columns))
    print(f"wrote {', '.join(str(f) for f in result.files)}")
    return result
