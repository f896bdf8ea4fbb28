"""The book's plan: every run each chapter needs, which are cached, and what the rest will cost.

``sslsv book`` prints it before any compute.  The runs come from the same
functions the chapters compute with (:func:`sslsv.studies.runs.factor_plan`
and friends), so the plan cannot drift from the book.  A run counts as cached
when it finished with a manifest (the chapter may still recompute it if its
inputs changed since).  Estimates are seconds per training step, measured on
the runs already finished under the artifact root; with none of a kind
measured yet, a per-step default from ``benchmarks/`` (scaled by batch,
crop and width) stands in, and the plan says so.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from ..artifacts import MANIFEST, artifact_root
from ..config import profile_context
from ..systems import shown_frame
from ..upstreams import random_init
from .runs import PlannedRun, reads

# Seconds per step at C=128 and 32 x 2 s crops, on one core of a 2-core machine (measured 2026-12-03 with
# a training step of each kind; the backend's share scales with ECAPA's channels): used until a run of the
# kind is measured under the artifact root.
DEFAULT_STEP_SECONDS = {
    ("sv", "fbank"): 0.33,  # ECAPA C=128 (C=64: 0.15)
    ("sv", "cached"): 0.17,  # the same backend on cached hidden states of a frozen upstream (C=64: 0.09)
    ("sv", "frozen"): 0.50,  # a frozen upstream run on every crop
    # forward and backward through the tiny upstream (1.2 s) plus the backend: 1.40 at C=128, 1.34 at C=64
    ("sv", "fine-tuned"): 1.40,
    # only the top transformer layer trains (study.finetune_layers = 1): the lower ones run forward without
    # gradients; 1.78 single-core min per run of 150 steps at C=64 (0.71 s per step; every weight: 5.46 min),
    # benchmarks/bench_finetune_protocol.py, 4 labelled speakers, 3 seeds
    ("sv", "fine-tuned-top"): 0.76,
    # the same on the lower layers' states cached once per training utterance (frontend.cache_features): the top
    # layer and the backend only; 1.35 against 2.33 min of SV training per run (0.58x, the caching included) in
    # bench_finetune_protocol.py side by side (4 labelled speakers, 3 SV seeds, 2026-12-05)
    ("sv", "fine-tuned-top-cached"): 0.44,
    ("pretrain", ""): 0.66,  # tiny w2v-BERT conformer, 16 x 2 s crops (the k-means targets: the fixed cost)
}
UPSTREAM_SHARE = {"fine-tuned": 1.2, "fine-tuned-top": 0.66, "fine-tuned-top-cached": 0.35}  # seconds per step that do not scale with the backend's channels
DEFAULT_SV_OVERHEAD_SECONDS = 15.0  # corpus checks and test-set embeddings of one cpu SV run
CPU_UTTERANCES = (100 + 40) * 4 * 4  # the cpu corpus: training and test speakers x sessions x utterances


def _sv_class(cfg: Any) -> str:
    f = cfg.frontend
    if f.kind == "fbank":
        return "fbank"
    if f.finetune:
        if f.finetune_layers > 0:
            return "fine-tuned-top-cached" if f.cache_features else "fine-tuned-top"
        return "fine-tuned"
    return "cached" if f.cache_features else "frozen"


def _shape(kind: str, cfg: Any) -> tuple:
    """What makes two runs cost the same per step."""
    if kind == "sv":
        return (_sv_class(cfg), cfg.frontend.finetune_layers, cfg.ecapa.channels, cfg.train.batch_size, cfg.train.crop_seconds,
                init.size if (init := random_init(cfg.frontend.upstream)) is not None else "")
    p = cfg.pretrain
    return (p.backbone, p.size, p.objective, cfg.optim.batch_size, p.crop_seconds)


def _default_seconds(kind: str, cfg: Any) -> tuple[float, float]:
    """(seconds per step, fixed seconds) from the benchmark defaults, scaled to the run's shapes."""
    if kind == "sv":
        t = cfg.train
        data = (t.batch_size / 32) * (t.crop_seconds / 2.0)
        kind = _sv_class(cfg)
        fixed = UPSTREAM_SHARE.get(kind, 0.0)
        per = fixed * data + (DEFAULT_STEP_SECONDS[("sv", kind)] - fixed) * data * (cfg.ecapa.channels / 128)
        c = cfg.corpus
        utterances = (c.n_train_speakers + c.n_test_speakers) * c.sessions_per_speaker * c.utterances_per_session
        return per, DEFAULT_SV_OVERHEAD_SECONDS * utterances / CPU_UTTERANCES
    scale = (cfg.optim.batch_size / 16) * (cfg.pretrain.crop_seconds / 2.0)
    return DEFAULT_STEP_SECONDS[("pretrain", "")] * scale, 30.0


@dataclass
class Throughput:
    """Seconds per step of every finished run under the artifact root, by kind and shape."""

    step_seconds: dict[tuple, list[float]]
    fixed_seconds: dict[tuple, list[float]]

    @classmethod
    def measured(cls, root=None) -> "Throughput":
        from ..config import PretrainExperimentConfig, SVConfig, from_dict

        steps: dict[tuple, list[float]] = {}
        fixed: dict[tuple, list[float]] = {}
        runs = (root or artifact_root()) / "runs"
        for path in sorted(runs.glob("*-*")) if runs.is_dir() else []:
            kind = path.name.rsplit("-", 1)[0]
            if kind not in ("sv", "pretrain") or not (path / "DONE").exists() or not (path / MANIFEST).exists():
                continue
            try:
                cfg = from_dict(SVConfig if kind == "sv" else PretrainExperimentConfig,
                                json.loads((path / "config.json").read_text()))
                m = json.loads((path / "metrics.json").read_text())
            except Exception:  # a run of an older layout, or damaged: the chapter will say so
                continue
            if not m.get("timing_complete", False):
                continue
            key = (kind, *_shape(kind, cfg))
            if kind == "sv":
                n = cfg.train.steps
                steps.setdefault(key, []).append(float(m["train_seconds"]) / n)
                fixed.setdefault(key, []).append(float(m.get("embed_seconds") or 0.0))
            else:
                steps.setdefault(key, []).append(float(m["seconds"]) / cfg.optim.steps)
                fixed.setdefault(key, []).append(0.0)
        return cls(steps, fixed)

    def estimate(self, item: PlannedRun) -> tuple[float, str]:
        """Estimated seconds of ``item`` and where the figure comes from."""
        key = (item.kind, *_shape(item.kind, item.config))
        if key in self.step_seconds:
            per = statistics.median(self.step_seconds[key])
            return per * item.steps + statistics.median(self.fixed_seconds[key]), "measured"
        per, fixed = _default_seconds(item.kind, item.config)
        return per * item.steps + fixed, "default"


# The wave in which ``sslsv book`` computes a chapter's runs (:func:`sslsv.book.precompute`); the others: 3.
WAVES = {"01a_learning_curve": 1, "01b_regime_map": 2}


def chapter_runs(chapter: str, profile: str, parameters: Mapping[str, Any] | None = None,
                 where: Any = None) -> list[PlannedRun]:
    """The runs one chapter needs (:data:`sslsv.studies.chapters.CHAPTERS`), with its notebook's defaults
    (``parameters`` as papermill's ``-p``).

    A chapter run in the map's regime runs in ``where``, the book's :class:`~sslsv.studies.regime.Regime`
    (``None``: the map's choice if the map is computed, else the provisional regime, and then the map's
    runs lead the chapter's: it computes the map first).
    """
    from . import regime
    from .chapters import chapter as declared

    profile = profile_context(profile)  # read once for every run of the chapter
    ch = declared(chapter)
    if not ch.in_regime:
        return ch.runs(profile, parameters, None)
    where = where or regime.book_regime(profile, compute=False)
    first = regime.plan(profile) if where.how == "provisional" else []
    return first + ch.runs(profile, parameters, where)


def book_plan(profile: str, chapters: Iterable[str], parameters: Mapping[str, Any] | None = None,
              throughput: Throughput | None = None, cold: bool = False) -> pd.DataFrame:
    """One row per run of the book, in build order; a run shared by chapters counts in the first.

    ``cold``: price the book as built from an empty artifact root, every run at the pace measured under
    this one (none counts as cached); the regime is still the one the map chose, when it is computed.

    Columns: chapter, run, kind, system (its key), role, budget and domain (the regime map's upstreams),
    mode, seed, labelled (SV: the labelled training speakers), steps, cached, minutes (0 when cached or
    already counted), estimate ("measured", "default", "cached" or "shared with <chapter>"), wave (when
    ``sslsv book`` computes the run, :func:`sslsv.book.precompute`: 1 the learning curves, 2 the regime
    map, 3 the chapters' runs) and reads (the runs it reads, comma-separated: it starts after them).
    """
    from . import regime as regime_map
    from .chapters import before_regime
    from .regime import book_regime

    profile = profile_context(profile)  # read once for the whole book
    tp = throughput or Throughput.measured()
    rows, first = [], {}
    chapters = list(chapters)
    where = book_regime(profile, compute=False) if set(chapters) - set(before_regime(chapters)) else None
    # a chapter run in a provisional regime computes the map first, in the map's wave
    map_runs = ({i.run.path.name for i in regime_map.plan(profile)}
                if where is not None and where.how == "provisional" else set())
    for chapter in chapters:
        wave = WAVES.get(chapter, 3)
        here = set()  # a run a chapter needs twice (the map's and an analysis's) is one row
        for item in chapter_runs(chapter, profile, parameters, where):
            run = item.run
            name = run.path.name
            if name in here:
                continue
            here.add(name)
            order = {"wave": min(wave, 2) if name in map_runs else wave, "reads": ",".join(sorted(reads(item)))}
            if name in first:
                rows.append(_row(chapter, item, name, _finished(run) and not cold, 0.0, f"shared with {first[name]}")
                            | order)
                continue
            first[name] = chapter
            cached = _finished(run) and not cold
            seconds, source = (0.0, "cached") if cached else tp.estimate(item)
            rows.append(_row(chapter, item, name, cached, seconds / 60, source) | order)
    table = pd.DataFrame(rows, columns=["chapter", "run", "kind", "system", "role", "budget", "domain", "mode", "seed",
                                        "labelled", "steps", "cached", "minutes", "estimate", "wave", "reads"])
    table["budget"] = table["budget"].astype("Int64")
    table["seed"] = table["seed"].astype("Int64")
    table.attrs["regime"] = where.describe() if where is not None else ""
    table.attrs["cold"] = bool(cold)
    table.attrs["budget"] = _provisional_budget(profile, table, pinned=where is not None and where.how == "pinned")
    return table


def _provisional_budget(profile: Any, table: pd.DataFrame, pinned: bool = False) -> str:
    """What the plan says of its pre-training estimate while chapter 01a's learning curve, which sets the book's
    budget, is not computed ("" once it is, or when no run of the plan pre-trains): the upstreams are priced at
    the profile's typed updates, and the curve may choose more (up to its own). A pinned regime fixes the
    chapters' budget, so there only the map's upstreams wait for the curve."""
    from .learning_curve import book_budget, curve_run

    budget = book_budget(profile)
    if budget.how != "provisional" or not (table["kind"] == "pretrain").any():
        return ""
    longest = curve_run(profile).config.optim.steps
    if longest <= budget.updates:
        return ""
    which = "the regime map's upstreams are" if pinned else "every upstream is"
    return (f"pre-training: {which} priced at the profile's {budget.updates} updates until chapter 01a's learning "
            f"curve sets the book's budget (it may choose up to {longest}), so this is a lower bound")


def _finished(run) -> bool:
    """Finished with a manifest (cheap: the chapter verifies every file before it serves the run)."""
    return run.done_file.exists() and run.manifest_file.is_file()


def _row(chapter: str, item: PlannedRun, name: str, cached: bool, minutes: float, source: str) -> dict[str, Any]:
    return {"chapter": chapter, "run": name, "kind": item.kind, "system": item.system, "role": item.role,
            "budget": item.budget, "domain": item.domain, "mode": item.mode,
            "seed": item.seed, "labelled": (item.config.train.labelled_speakers or "all") if item.kind == "sv" else "",
            "steps": item.steps, "cached": bool(cached), "minutes": round(minutes, 2),
            "estimate": source}


def chapter_totals(plan: pd.DataFrame) -> pd.DataFrame:
    """Runs, cached runs and estimated minutes per chapter (a shared run counts in each chapter that
    uses it, and is computed in the first), with a total over distinct runs."""
    own = plan[~plan["estimate"].str.startswith("shared")]
    g = plan.groupby("chapter", sort=False)
    t = pd.DataFrame({"runs": g.size(), "cached": g["cached"].sum().astype(int),
                      "to compute": own.groupby("chapter", sort=False)["cached"].apply(lambda c: int((~c).sum())),
                      "minutes": g["minutes"].sum().round(1)}).fillna(0)
    t["to compute"] = t["to compute"].astype(int)
    t.loc["total (distinct runs)"] = [len(own), int(own["cached"].sum()), int((~own["cached"]).sum()),
                                      round(float(plan["minutes"].sum()), 1)]
    return t.reset_index(names="chapter")


def elapsed_minutes(plan: pd.DataFrame, workers: int) -> float:
    """Minutes until ``workers`` processes have computed the plan's runs as ``sslsv book`` does: wave after
    wave (column ``wave``; every worker waits for the last run of a wave), and within a wave the longest run
    that can start on the first free worker, a run starting once the runs it reads (column ``reads``) have
    finished.  Without those columns: one wave of independent runs.  It ignores that a worker keeps a run
    on the upstream it served last (:func:`sslsv.studies.workers.choose`)."""
    import heapq

    workers = max(1, int(workers))
    todo = plan[plan["minutes"] > 0]
    names = todo["run"].astype(str) if "run" in todo else todo.index.astype(str)
    waves = todo["wave"] if "wave" in todo else pd.Series(1, index=todo.index)
    needs = todo["reads"] if "reads" in todo else pd.Series("", index=todo.index)
    start = 0.0
    for wave in sorted(set(waves)):
        here = waves == wave
        minutes = dict(zip(names[here], todo.loc[here, "minutes"].astype(float)))
        pending = {n: {d for d in str(r).split(",") if d} & set(minutes) for n, r in zip(names[here], needs[here])}
        finish: dict[str, float] = {}
        free = [start] * workers
        while pending:
            t = heapq.heappop(free)
            while not (ready := [n for n, d in pending.items() if all(finish.get(x, float("inf")) <= t for x in d)]):
                t = min(f for f in finish.values() if f > t)  # wait for the next run to finish
            job = max(ready, key=lambda n: minutes[n])
            finish[job] = t + minutes.pop(job)
            del pending[job]
            heapq.heappush(free, finish[job])
        start = max([start, *finish.values()])
    return start


def format_plan(plan: pd.DataFrame, profile: str, workers: int = 1) -> str:
    """The plan as text for the terminal: the totals, then every run."""
    totals = chapter_totals(plan)
    n_default = int((plan["estimate"] == "default").sum())
    own = plan[~plan["estimate"].str.startswith("shared")]
    cold = " as a cold build (an empty artifact root), at the pace measured here" if plan.attrs.get("cold") else ""
    lines = [f"book plan at profile {profile!r}{cold}: {len(own)} distinct runs, {int(own['cached'].sum())} cached; "
             f"estimated {totals['minutes'].iloc[-1]:.0f} min of compute"
             + (f" ({n_default} run(s) estimated from benchmark defaults: no run of their kind measured here yet)"
                if n_default else ""),
             *([f"on {workers} worker processes: about {elapsed_minutes(plan, workers):.0f} min elapsed"]
               if workers > 1 else []),
             *([f"chapters 02-08 run in {plan.attrs['regime']}"] if plan.attrs.get("regime") else []),
             *([plan.attrs["budget"]] if plan.attrs.get("budget") else []),
             totals.to_string(index=False), "", "every run:",
             shown_frame(plan).drop(columns=["steps", "role", "budget", "domain", "wave", "reads"])
             .to_string(index=False)]
    return "\n".join(lines)


def chapter_seconds(plan: pd.DataFrame, chapters: Sequence[str]) -> list[float]:
    """Estimated seconds per chapter, in ``chapters`` order (0 for a chapter without runs)."""
    per = plan.groupby("chapter")["minutes"].sum() * 60
    return [float(per.get(c, 0.0)) for c in chapters]
