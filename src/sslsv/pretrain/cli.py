"""``sslsv pretrain``: one pre-training run from the command line.

Examples::

    sslsv pretrain --profile smoke --set pretrain.objective=masked --set pretrain.quantizer=kmeans_mfcc
    sslsv pretrain --profile cpu --set pretrain.objective=unmasked
    torchrun --nproc_per_node 2 -m sslsv.cli pretrain --profile smoke   # DDP (gloo on CPU)

It prints the run directory and its diagnostics as JSON; the upstream is in
``<run>/upstream`` (load it with ``sslsv.pretrain.Upstream.from_pretrained``).
"""

from __future__ import annotations

import argparse
import json


def pretrain_config(profile: str, sets: dict):
    """The resolved :class:`~sslsv.config.PretrainExperimentConfig` of a profile and overrides."""
    from ..config import PretrainExperimentConfig, resolve

    return resolve(profile, sets, base=PretrainExperimentConfig())


def cmd_pretrain(args: argparse.Namespace) -> int:
    """Handler of ``sslsv pretrain``."""
    from ..cli import parse_sets
    from ..training import distributed_info
    from .train import pretrain

    cfg = pretrain_config(args.profile, parse_sets(args.sets))
    run = pretrain(cfg, progress=not args.no_progress)
    if distributed_info()[0] == 0:
        print(run.path)
        print(json.dumps(run.metrics(), indent=2, sort_keys=True))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``pretrain`` sub-command to an ``argparse`` sub-parser set."""
    from ..cli import _common

    p = subparsers.add_parser("pretrain", help="pre-train an SSL upstream (objective x quantizer x size x hours)",
                              description=__doc__.split("\n\n")[0])
    _common(p)
    p.set_defaults(func=cmd_pretrain)
    return p
