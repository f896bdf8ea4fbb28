"""Start-up time of the ``sslsv`` command: ``--help`` and a configuration error, against bare Python.

Run::

    .venv/bin/python benchmarks/bench_cli.py
    .venv/bin/python benchmarks/bench_cli.py --repeats 10

Each command runs in a fresh interpreter, ``--repeats`` times; the table shows
the median and the slowest wall time, side by side with the reference in the
same run: ``python -c pass`` (the interpreter alone) and ``python -c "import
torch"`` (what every command paid before the heavy imports were made lazy).
The target is under 2 s for ``--help`` and for a configuration error.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass (reference)": [sys.executable, "-c", "pass"],
    "python -c 'import torch' (reference)": [sys.executable, "-c", "import torch"],
    "sslsv --help": [sys.executable, "-m", "sslsv.cli", "--help"],
    "sslsv baseline --set train.steps=0": [sys.executable, "-m", "sslsv.cli", "baseline", "--profile", "smoke",
                                           "--set", "train.steps=0"],
    "sslsv study objective --set train.stpes=1": [sys.executable, "-m", "sslsv.cli", "study", "objective",
                                                  "--set", "train.stpes=1"],
    "sslsv pretrain --set device=gpu": [sys.executable, "-m", "sslsv.cli", "pretrain", "--set", "device=gpu"],
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    width = max(map(len, COMMANDS))
    print(f"{'command':<{width}}  {'median s':>9}  {'max s':>7}  {'< 2 s':>5}")
    for name, cmd in COMMANDS.items():
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        ok = "" if "reference" in name else ("yes" if max(times) < 2 else "NO")
        print(f"{name:<{width}}  {med:>9.2f}  {max(times):>7.2f}  {ok:>5}")


if __name__ == "__main__":
    main()
