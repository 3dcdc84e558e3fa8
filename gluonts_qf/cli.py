"""``gluonts-qf``: train, backtest, forecast, decide and reproduce from the command line.

The entry point of the command: it gathers the application's commands
(``train``, ``forecast``, ``decide``: :mod:`gluonts_qf.runs.commands`) and the
reproduction's (``reproduce``: :mod:`gluonts_qf.reproduce.command`). Run
``gluonts-qf -h``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator, Sequence

from .reproduce.command import add_reproduce_parser
from .runs.commands import add_decide_parser, add_forecast_parser, add_train_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gluonts-qf",
        description="Learned quantile function forecasters for GluonTS.",
    )
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        add_train_parser,
        add_forecast_parser,
        add_decide_parser,
        add_reproduce_parser,
    ):
        add(subs)
    return parser


@contextlib.contextmanager
def _cli_warnings(quiet: bool) -> Iterator[None]:
    """Hide library deprecation chatter (and, when quiet, library hints)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings(
            "ignore", message=".*json.*module", category=UserWarning
        )
        if quiet:
            warnings.filterwarnings("ignore", module=r"(lightning|gluonts)\..*")
            # a quantile forecast has no wCRPS, ES or VS: the table shows "-"
            warnings.filterwarnings("ignore", message=".* not computed: ")
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gluonts-qf`` and ``python -m gluonts_qf``; returns 0.

    Bad input exits with status 2 and a one-line message (no traceback).
    """
    args = build_parser().parse_args(argv)
    with _cli_warnings(getattr(args, "quiet", False)):
        args.func(args)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
