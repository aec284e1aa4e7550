#!/usr/bin/env python3
"""How long ``dss simulate`` takes to simulate a year (the pure core, in process).

    .venv/bin/python bench/bench_simulate.py [--rounds N] [--days N]

Cases: dyadic with the defaults (a snapshot every 6 h), dyadic with
``unit-interval = 8h``, ``num-intervals = 4`` (hourly), and gfs with ``keep-hourly =
24, keep-daily = 7, keep-weekly = 4`` (hourly, when the gfs plugin is installed). Per
case: creations, removals, decisions and the median wall time of ``--rounds`` runs of
:func:`dssframe.core.simulate.simulate` (150 samples, as the command takes them).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from dssframe.builtin.dyadic_retention import DyadicRetention
from dssframe.core import schedule
from dssframe.core.config import Config
from dssframe.core.retention import RetentionPolicy
from dssframe.core.simulate import simulate

DAY = 86400
START = 1_700_000_000


def cases() -> list[tuple[str, Callable[[], RetentionPolicy], Config]]:
    found: list[tuple[str, Callable[[], RetentionPolicy], Config]] = []
    for label, config in (
        ("dyadic 4d x 5 (6h)", Config()),
        ("dyadic 8h x 4 (1h)", Config(unit_interval=8 * 3600, num_intervals=4)),
    ):
        found.append((label, lambda c=config: DyadicRetention(c), config))
    try:
        from dssframe_gfs import GfsRetention
    except ImportError:
        return found
    rules = {"keep-hourly": 24, "keep-daily": 7, "keep-weekly": 4}
    config = Config(retention="gfs", plugins={"gfs": rules})
    found.append(("gfs 24h/7d/4w (1h)", lambda: GfsRetention(config), config))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--days", type=float, default=365)
    args = parser.parse_args()
    end = START + int(args.days * DAY)
    for label, make, config in cases():
        settings = schedule.Settings.from_config(config)
        times = []
        for _ in range(args.rounds):
            policy = make()
            began = time.perf_counter()
            result = simulate(policy, settings, START, end)
            times.append(time.perf_counter() - began)
        print(
            f"{label:<22} {len(result.created):>6} created {sum(result.removed.values()):>6} "
            f"removed {result.decisions:>6} decisions  median {statistics.median(times):.3f} s"
        )


if __name__ == "__main__":
    main()
