"""The ``sslsv`` command line: the studies, headless.

Examples::

    sslsv corpus --profile cpu                      # generate (or reuse) the synthetic corpus
    sslsv baseline --profile smoke --seeds 0 1      # fbank ECAPA-TDNN, one run per seed
    sslsv baseline --profile cpu --set train.steps=400 --set corpus.n_trials=3000
    sslsv sv --profile paper --upstream /models/wavlm-base-plus --mode fine-tuned --set corpus.voxceleb_root=/data/vox1
    sslsv sv --profile smoke --frontend fbank --seeds 0 1   # the baseline's runs, through the same command
    sslsv book --profile cpu                        # papermill-execute notebooks/ into book/
    sslsv pretrain --profile smoke --set pretrain.objective=unmasked
    torchrun --nproc_per_node 2 -m sslsv.cli pretrain --profile smoke   # DDP (gloo on CPU)

``--set KEY=VALUE`` takes a dotted config key; the value is read as JSON
when it parses (numbers, true/false, lists) and as a string otherwise.
A misspelled key, a value of the wrong type or out of its range fails
and says what is valid.

An error is one line, ``sslsv: error: ...``, naming the file, key or value;
``--debug`` shows its traceback.  The heavy modules (torch, pandas) are
imported only once the command line and the configuration have been
checked, so that ``--help`` and configuration errors answer at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from .config import PROFILES, ConfigError, PretrainExperimentConfig, resolve
from .systems import shown_frame


def parse_sets(items: Sequence[str] | None) -> dict[str, Any]:
    """``["a.b=3", "c=x"]`` -> ``{"a.b": 3, "c": "x"}``.

    >>> parse_sets(["train.steps=5", "corpus.source=synthetic", "eval.p_targets=[0.01]"])
    {'train.steps': 5, 'corpus.source': 'synthetic', 'eval.p_targets': [0.01]}
    """
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out


def _debug(p: argparse.ArgumentParser, top: bool = False) -> None:
    # accepted before and after the sub-command; a sub-parser must not reset the top-level value
    p.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                   help="show the full traceback of an error")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="cpu", choices=sorted(PROFILES), help="scale of the run (default: cpu)")
    p.add_argument("--set", dest="sets", action="append", metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _debug(p)


def _seeds(args: argparse.Namespace) -> None:
    """Check ``--seeds`` (distinct, non-negative) before anything is imported or computed."""
    from .config import check_seeds

    if getattr(args, "seeds", None) is not None:
        args.seeds = list(check_seeds(args.seeds))


def cmd_corpus(args: argparse.Namespace) -> int:
    from .data import corpus_root

    cfg = resolve(args.profile, parse_sets(args.sets))
    root = corpus_root(cfg.corpus, progress=not args.no_progress)
    print(root)
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from .config import refuse_controlled
    from .studies import controlled

    sets = parse_sets(args.sets)
    _seeds(args)
    refuse_controlled(sets, controlled.BASELINE, "the baseline")
    resolve(args.profile, sets)  # every key and value checked before torch is imported
    from .studies import baseline

    result = baseline.run(args.profile, args.seeds, sets, progress=not args.no_progress)
    cols = ["system", "seed", "eer_percent", "eer_percent_ci_low", "eer_percent_ci_high", "min_dcf_0.01",
            "min_dcf_0.05"]
    print(shown_frame(result.per_seed[cols]).round(3).to_string(index=False))
    print(shown_frame(result.summary).round(3).to_string(index=False))
    for r in result.results:
        print(r.run.path)
    return 0


def cmd_sv(args: argparse.Namespace) -> int:
    """Handler of ``sslsv sv``: score one upstream (or fbank), one cached run per seed."""
    from .sv.score_upstream import sv_command_config

    sets = parse_sets(args.sets)
    _seeds(args)
    frontend = args.frontend or ("ssl" if args.upstream else None)
    if frontend is None:
        raise ConfigError("sslsv sv needs --upstream <run:NAME | directory | checkpoint name>, or --frontend fbank")
    for seed in args.seeds:  # every key, value and choice checked before torch is imported
        sv_command_config(args.profile, frontend, args.upstream or "", args.mode, seed, sets)
    from .sv.score_upstream import format_report, score_upstream

    score = score_upstream(args.profile, args.upstream or "", args.mode, frontend, args.seeds, sets,
                           progress=not args.no_progress)
    print(format_report(score))
    return 0


STUDIES = ("objective", "quantizer", "data_scale", "model_size", "language", "summary")


def cmd_study(args: argparse.Namespace) -> int:
    """Run (or load) one factor study, or all five and their verdicts (``summary``)."""
    import importlib

    from .config import refuse_controlled
    from .studies import controlled

    sets, pretrain_sets = parse_sets(args.sets), parse_sets(args.pretrain_sets)
    _seeds(args)
    if args.study != "summary":
        refuse_controlled(sets, controlled.FACTOR_STUDY, "a factor study")
    resolve(args.profile, sets)  # every key and value checked before torch is imported
    resolve(args.profile, {**{k: v for k, v in sets.items() if k.startswith("corpus.")}, **pretrain_sets},
            base=PretrainExperimentConfig())
    module = importlib.import_module(f"sslsv.studies.{args.study}")
    kw = dict(seeds=args.seeds, modes=args.modes, overrides=sets, pretrain_overrides=pretrain_sets,
              progress=not args.no_progress)
    if args.study == "summary":
        result = module.run(args.profile, **kw)
        print(shown_frame(result.table()).round(3).to_string(index=False))
        print()
        print(module.verdict_table(result))
        return 0
    study = module.run(args.profile, **kw)
    print(shown_frame(study.pretraining_table()).round(3).to_string(index=False))
    print()
    print(shown_frame(study.summary).round(3).to_string(index=False))
    print()
    print(module.finding(study))
    return 0


def book_workers(asked: int | None) -> int:
    """The worker processes of ``--workers`` (``None``: one single-threaded worker per core on a CPU, one
    process on an accelerator); fewer than one is refused."""
    if asked is None:
        import torch

        from .studies.workers import available_cores

        return 1 if torch.cuda.is_available() else available_cores()
    if asked < 1:
        raise ConfigError(f"--workers {asked}: give 1 or more processes")
    return asked


def cmd_book(args: argparse.Namespace) -> int:
    from .book import execute_notebooks, notebook_names

    names = notebook_names() if args.all else args.notebooks
    workers = book_workers(args.workers)
    execute_notebooks(profile=args.profile, names=names, output_dir=args.output_dir,
                      parameters=parse_sets(args.sets), plan=not args.no_plan, progress=not args.no_plan,
                      workers=workers)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from .book import toc_notebooks
    from .studies.plan import book_plan, format_plan

    names = args.notebooks or toc_notebooks()
    print(format_plan(book_plan(args.profile, names, {"profile": args.profile, **parse_sets(args.sets)},
                                cold=args.cold), args.profile, book_workers(args.workers)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sslsv", description=__doc__.split("\n\n")[0])
    _debug(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("corpus", help="generate or locate the corpus of a profile")
    _common(p)
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser("baseline", help="the fbank ECAPA-TDNN baseline study")
    _common(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("sv", help="score one upstream (or fbank) for speaker verification, frozen or fine-tuned",
                       description="Train the ECAPA-TDNN on the layer-weighted hidden states of an upstream (or on "
                                   "fbank), score the trial list; prints EER and minDCF with their intervals, the "
                                   "learned layer weights and the run directories. Cached and resumable per seed.")
    p.add_argument("--upstream", default=None,
                   help="run:<pre-training run name>, a save_pretrained directory (HuBERT, WavLM, wav2vec 2.0, "
                        "w2v-BERT) or a checkpoint name")
    p.add_argument("--mode", default="frozen", choices=("frozen", "fine-tuned"), help="upstream frozen or fine-tuned")
    p.add_argument("--frontend", default=None, choices=("ssl", "fbank"),
                   help="ssl (the default with --upstream) or fbank (the baseline: the runs of `sslsv baseline`)")
    _common(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="SV seeds, one run each (default: 0)")
    p.set_defaults(func=cmd_sv)

    p = sub.add_parser("study", help="a factor study (chapters 02-05; language: the fifth, beyond the paper, chapter 06) or all five with verdicts (summary)")
    p.add_argument("study", choices=STUDIES)
    _common(p)
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="SV seeds (default: the profile's)")
    p.add_argument("--modes", nargs="+", default=None, choices=("frozen", "fine-tuned"),
                   help="upstream modes (default: the profile's)")
    p.add_argument("--pretrain-set", dest="pretrain_sets", action="append", metavar="KEY=VALUE",
                   help="override a pre-training config key for every upstream of the study")
    p.set_defaults(func=cmd_study)

    p = sub.add_parser("book", help="execute the study notebooks with papermill into book/")
    p.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    p.add_argument("--notebooks", nargs="*", default=None,
                   help="names like 01_baseline (default: the chapters in _toc.yml)")
    p.add_argument("--all", action="store_true", help="every notebook under notebooks/, in the toc or not")
    p.add_argument("--output-dir", default="book")
    p.add_argument("--set", dest="sets", action="append", metavar="NAME=VALUE",
                   help="extra notebook parameter")
    p.add_argument("--no-plan", action="store_true",
                   help="do not print the plan (every run, cached or not, with estimates) nor the book's progress bar")
    p.add_argument("--workers", type=int, default=None,
                   help="compute the book's runs first on this many single-threaded processes (default: one per "
                        "core on a CPU, 1 with a GPU); 1: each chapter computes its own runs")
    _debug(p)
    p.set_defaults(func=cmd_book)

    p = sub.add_parser("plan", help="print every run the book needs, which are cached, and the estimated compute")
    p.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    p.add_argument("--notebooks", nargs="*", default=None,
                   help="names like 01_baseline (default: the chapters in _toc.yml)")
    p.add_argument("--set", dest="sets", action="append", metavar="NAME=VALUE", help="notebook parameter")
    p.add_argument("--workers", type=int, default=None,
                   help="processes to estimate the elapsed time for (default: as `sslsv book`, one per core)")
    p.add_argument("--cold", action="store_true",
                   help="price every run, cached or not, as a build from an empty artifact root would compute it")
    _debug(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("pretrain", help="pre-train an SSL upstream (objective x quantizer x size x hours)",
                       description="One pre-training run; prints the run directory and its diagnostics as JSON. "
                                   "The upstream is in <run>/upstream (sslsv.pretrain.Upstream.from_pretrained).")
    _common(p)
    p.set_defaults(func=cmd_pretrain)
    return parser


def cmd_pretrain(args: argparse.Namespace) -> int:
    """Handler of ``sslsv pretrain``."""
    cfg = resolve(args.profile, parse_sets(args.sets), base=PretrainExperimentConfig())  # before torch is imported
    if cfg.pretrain.init:  # a missing, incomplete or NaN-holding checkpoint: one line, before any run directory
        from .upstreams import check_upstream

        check_upstream(cfg.pretrain.init, "pretrain.init")
    from .pretrain.train import pretrain
    from .training import distributed_info

    if os.environ.get("RANK", "0") == "0":  # under torchrun, the first process says it
        _warn_pool(cfg, progress=not args.no_progress)
    run = pretrain(cfg, progress=not args.no_progress)
    if distributed_info()[0] == 0:
        print(run.path)
        print(json.dumps(run.metrics(), indent=2, sort_keys=True))
    return 0


def _warn_pool(cfg: PretrainExperimentConfig, progress: bool) -> None:
    """Crops longer than every pool file, a batch larger than the pool: a warning each, before pre-training.

    Said by the command only (the studies' data-scale conditions use tiny pools on purpose)."""
    from .data.corpus import pool_problems
    from .errors import warn_data
    from .pretrain.data import load_pool

    for message in pool_problems(load_pool(cfg, progress=progress), cfg.pretrain.crop_seconds, cfg.optim.batch_size):
        warn_data(message)


def user_error(e: BaseException) -> str | None:
    """The one-line message of an error the user can act on, or ``None`` for anything else (a bug)."""
    from .errors import UserError

    known: tuple[type, ...] = (UserError, OSError)
    cls = getattr(sys.modules.get("papermill.exceptions"), "PapermillExecutionError", None)
    if isinstance(cls, type):  # a notebook cell failed (only an imported papermill can have raised it)
        known += (cls,)
    if not isinstance(e, known):
        return None
    if type(e).__name__ == "PapermillExecutionError":
        return f"a notebook cell failed: {getattr(e, 'ename', '')}: {getattr(e, 'evalue', e)}"
    if isinstance(e, OSError) and not isinstance(e, UserError) and e.filename:
        import errno

        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC):
            from .artifacts import write_problem

            return str(write_problem(e.filename, e))
        return f"{e.filename}: {e.strerror or e}"
    return str(e).strip() or type(e).__name__


def _show_data_warnings() -> None:
    """Print a :class:`~sslsv.errors.DataWarning` as one line, ``sslsv: warning: ...``; others as Python does."""
    import warnings

    from .errors import DataWarning

    if getattr(warnings.showwarning, "_sslsv", False):
        return
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            print(f"sslsv: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    show._sslsv = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _show_data_warnings()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("sslsv: interrupted; finished work is kept, an unfinished run resumes from its last checkpoint",
              file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        message = user_error(e)
        if message is None:
            print(f"sslsv: internal error (a bug, please report it): {type(e).__name__}: {e} "
                  "(--debug shows the traceback)", file=sys.stderr)
            return 1
        print(f"sslsv: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
