"""Where does pre-training help?  The regime map, before the factor studies.

The literature finds SSL's benefit for speaker verification largest when
labelled data are scarce (Vaessen & van Leeuwen, 2022), and when the
pre-training audio comes from the SV domain (Peng et al., 2023).  This study
maps both levers at the profile's scale, on a grid of

* labelled data: the backend learns the first N training speakers
  (``train.labelled_speakers``; ``study.regime.speakers``, spanning >= 8x);
* pre-training budget: updates of the default upstream (``optim.steps``;
  ``study.regime.budgets``, spanning >= 6x), pool audio out of the SV domain,
  and the same with the SV training speakers' audio added, unlabelled
  (``pretrain.in_domain``);

and, for each amount of labelled data, the fbank front-end and the same
architecture from random weights as references.  Every upstream is probed
frozen; the profile's default upstream and random init are also fine-tuned.
Each cell is the difference of mean EERs over SV seeds, SSL minus reference,
with its 95 % Welch interval (negative: pre-training helps).

:func:`choose_regime` is the rule that picks the book's regime from the map:
among the cells where the frozen upstream beats random init *clearly* (the
95 % interval of the difference excludes zero), the one with the largest margin, the
cheapest on a tie; with no such cell, none, and the book says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import (ConfigError, PretrainExperimentConfig, Profile, check_domains, check_seeds, override,
                      profile_context, resolve)
from ..settings import IN_DOMAIN, OUT_OF_DOMAIN, deciding_mode
from ..systems import FBANK, LONGER, RANDOM, SSL
from .compare import COST_PRIORS, choose_regime, cells, convergence, learned_cells, miss_at_false_alarms
from .learning_curve import book_budget, map_budgets
from .runs import Condition, PlannedRun, pretrain_config, sv_config

OUT, IN = OUT_OF_DOMAIN, IN_DOMAIN  # the pools of the map's rows (sslsv.settings.DOMAINS)


def _check_span(what: str, values: Sequence[float], span: float) -> None:
    if len(values) < 3 or len(set(values)) != len(values):
        raise ConfigError(f"the regime map needs at least 3 distinct {what}, got {list(values)}")
    if max(values) / min(values) < span:
        raise ConfigError(f"the {what} {list(values)} span {max(values) / min(values):.1f}x; the map needs >= {span:g}x")


@dataclass(frozen=True)
class Grid:
    """The levers of the map at one profile."""

    speakers: tuple[int, ...]
    budgets: tuple[int, ...]
    domains: tuple[str, ...]
    seeds: tuple[int, ...]
    default_budget: int  # the learned budget of chapter 01a's curve (learning_curve.book_budget; without
    # study.regime.budget_fractions the profile's optim.steps): the default upstream, also fine-tuned
    finetune_speakers: tuple[int, ...] = ()  # where the fine-tuned systems run (a subset of speakers)


def grid(profile: str | Profile, speakers: Sequence[int] | None = None, budgets: Sequence[int] | None = None,
         seeds: Sequence[int] | None = None, domains: Sequence[str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> Grid:
    """The grid of ``profile`` (its ``study.regime`` settings unless given), checked."""
    profile = profile_context(profile)
    s = profile.study.regime
    speakers = tuple(int(v) for v in (s.speakers if speakers is None else speakers))
    # the learned budget of chapter 01a's curve (read once), or the typed optim.steps without budget_fractions
    default = (book_budget(profile, overrides).updates if s.budget_fractions
               else resolve(profile, None, base=PretrainExperimentConfig()).optim.steps)
    budgets = tuple(int(v) for v in (map_budgets(profile, default) if budgets is None else budgets))
    seeds = tuple(check_seeds(s.seeds if seeds is None else seeds))
    domains = check_domains(s.domains if domains is None else domains)
    _check_span("amounts of labelled speakers", speakers, 8)
    _check_span("pre-training budgets", budgets, 6)
    corpus = resolve(profile, overrides).corpus
    n_train = corpus.n_train_speakers
    if corpus.source == "synthetic" and max(speakers) > n_train:  # real data: checked when the SV run reads it
        raise ConfigError(f"the regime map asks for {max(speakers)} labelled speakers, but the corpus has "
                          f"{n_train} (corpus.n_train_speakers)")
    tuned = tuple(n for n in speakers if n in s.finetune_speakers) or (speakers if not s.finetune_speakers
                                                                       else (min(speakers),))
    return Grid(speakers, budgets, tuple(domains), seeds, default, tuned)


def protocol(profile: str | Profile, speakers: int, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The SV overrides of the map's protocol for ``speakers`` labelled speakers: the amount, and the
    steps of ``study.regime.sv_steps`` (a warm-up of at most a fifth of them); ``overrides`` win."""
    profile = profile_context(profile)
    s, train = profile.study, profile.sv.train
    steps = s.regime.steps_for(int(speakers), s.sv.steps or train.steps)
    warmup = min(s.sv.warmup_steps or train.warmup_steps, max(1, steps // 5))
    every = max(1, min(s.sv.checkpoint_every or steps, steps))
    return {"train.labelled_speakers": int(speakers), "train.steps": steps, "train.warmup_steps": warmup,
            "train.checkpoint_every": every, **dict(overrides or {})}


def _pretrain(profile: str | Profile, budget: int, domain: str, overrides) -> PretrainExperimentConfig:
    sets = {"optim.steps": int(budget), "pretrain.in_domain": domain == IN}
    return pretrain_config(profile, Condition("regime", pretrain=sets), overrides)


def plan(profile: str = "cpu", speakers: Sequence[int] | None = None, budgets: Sequence[int] | None = None,
         seeds: Sequence[int] | None = None, domains: Sequence[str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> list[PlannedRun]:
    """Every run of the map, in the order :func:`run` computes them (nothing is computed).

    ``PlannedRun.system`` is the system's key (every upstream is :data:`~sslsv.systems.SSL`, its
    ``budget`` and ``domain`` say which), ``mode`` its upstream mode, ``role`` ``"convergence"`` for the
    references trained :data:`LONGER` times as long, and the SV config carries the amount of labelled
    data (``train.labelled_speakers``).
    """
    profile = profile_context(profile)  # read once, passed down
    g = grid(profile, speakers, budgets, seeds, domains, overrides)
    out: list[PlannedRun] = []
    upstreams: list[tuple[int, str, str]] = []  # (budget, domain, run reference)
    for budget in sorted(set(g.budgets) | {g.default_budget}):
        for domain in g.domains:
            if budget not in g.budgets and domain != OUT:
                continue
            pre = PlannedRun("pretrain", SSL, "upstream", None, _pretrain(profile, budget, domain, overrides),
                             budget=int(budget), domain=domain)
            out.append(pre)
            upstreams.append((int(budget), domain, f"run:{pre.run.path.name}"))
    # (key, kind, upstream reference, mode, budget, domain)
    systems = [(FBANK, "fbank", None, "fbank", None, None), (RANDOM, "random", None, "frozen", None, None),
               (RANDOM, "random", None, "fine-tuned", None, None)]
    for budget, domain, ref in upstreams:
        systems.append((SSL, "ssl", ref, "frozen", budget, domain))
        if (budget, domain) == (g.default_budget, OUT):
            systems.append((SSL, "ssl", ref, "fine-tuned", budget, domain))
    # system by system: every amount of labelled data reads the same upstream states (computed once)
    for key, kind, ref, mode, budget, domain in systems:
        for n in (g.finetune_speakers if mode == "fine-tuned" else g.speakers):
            sets = protocol(profile, n, overrides)
            for s in g.seeds:
                cfg = sv_config(profile, Condition(key, kind=kind), s, "frozen" if mode == "fbank" else mode,
                                sets, upstream=ref or "")
                out.append(PlannedRun("sv", key, mode, int(s), cfg, budget=budget, domain=domain))
    # the convergence check: the three references (fbank, random init frozen and fine-tuned), at every
    # amount of labelled speakers where they run, trained twice as long (a warm-up twice as long too: the
    # same schedule stretched)
    for key, kind, _, mode, _, _ in systems[:3]:
        for n in (g.finetune_speakers if mode == "fine-tuned" else g.speakers):
            for s in g.seeds:
                cfg = sv_config(profile, Condition(key, kind=kind), s, "frozen" if mode == "fbank" else mode,
                                protocol(profile, n, overrides))
                longer = override(cfg, {"train.steps": LONGER * cfg.train.steps,
                                        "train.warmup_steps": LONGER * cfg.train.warmup_steps})
                out.append(PlannedRun("sv", key, mode, int(s), longer, role="convergence"))
    return out


def detection_costs(per_seed: pd.DataFrame, runs: Mapping[str, Any]) -> pd.DataFrame:
    """The frozen references' detection costs at every amount of labelled speakers, means over seeds.

    minDCF at each prior of ``COST_PRIORS`` and the miss rate at 1 % false alarms, from each run's
    trial scores as stored (``runs``: run name -> :class:`~sslsv.artifacts.Run`, read by
    :func:`~sslsv.sv.pipeline.load_result`).  Normalised minDCF(P_target) < 1 needs a threshold where
    ``P_miss + (1 - P_target) / P_target * P_fa < 1``: at P_target = 0.01 the false alarms weigh 99
    times, so a system that misses most targets at 1 % false alarms cannot score much below 1.
    """
    from ..metrics import min_dcf
    from ..sv.pipeline import load_result

    rows = []
    refs = per_seed[per_seed["system"].isin([FBANK, RANDOM]) & per_seed["mode"].isin(["fbank", "frozen"])]
    for (n, system), at in refs.groupby(["labelled_speakers", "system"], sort=True):
        costs = []
        for name in at["run"]:
            if name not in runs:
                raise ConfigError(f"run {name} is not a run of the map: its trial scores cannot be read")
            t = load_result(runs[name]).scores
            s, y = t["score"].to_numpy(), t["label"].to_numpy()
            costs.append([min_dcf(s, y, p) for p in COST_PRIORS] + [100 * miss_at_false_alarms(s, y)])
        mean = np.mean(costs, axis=0)
        rows.append({"system": system, "labelled_speakers": int(n), "eer_percent": float(at["eer_percent"].mean()),
                     **{f"min_dcf_{p:g}": float(v) for p, v in zip(COST_PRIORS, mean)},
                     "miss_at_1pct_fa": float(mean[-1])})
    return pd.DataFrame(rows)


@dataclass
class RegimeMap:
    """The outcome: one row per SV run, and the cells of the map."""

    profile: str
    grid: Grid
    per_seed: pd.DataFrame  # system, role, mode, labelled_speakers, budget, domain, seed, eer_percent, intervals
    pretrain_runs: dict[tuple[int, str], Any]  # (budget, domain) -> the upstream's pre-training Run
    runs: dict[str, Any] = field(default_factory=dict)  # SV run name -> its Run (sslsv.artifacts)

    @property
    def cells(self) -> pd.DataFrame:
        return cells(self.per_seed)

    @property
    def convergence(self) -> pd.DataFrame:
        return convergence(self.per_seed)

    @property
    def mode(self) -> str:
        """The mode whose cells the rule reads (:func:`sslsv.settings.deciding_mode` of the profile's
        ``study.modes``, where the map has cells of it): fine-tuned where the factor studies fine-tune."""
        mode = deciding_mode(profile_context(self.profile).study.modes)
        return mode if mode in set(self.per_seed["mode"]) else "frozen"

    def chosen(self) -> dict[str, Any] | None:
        """The rule's cell (:func:`~sslsv.studies.compare.choose_regime` on :attr:`mode` at the learned budget)."""
        return choose_regime(self.cells, self.mode, self.grid.default_budget if self.grid else None)

    def upstreams(self) -> pd.DataFrame:
        """Each pre-trained upstream of the map: its budget and pool, how far it learned its task
        (held-out masked accuracy against the majority-class chance, loss against the uniform
        guess), and its best frozen margin over random init (at any amount of labelled speakers)."""
        cells_ = self.cells
        rows = []
        for (budget, domain), run in self.pretrain_runs.items():
            m = run.metrics()
            frozen = cells_[(cells_["budget"] == budget) & (cells_["domain"] == domain) & (cells_["mode"] == "frozen")]
            best = frozen.loc[frozen["vs_random"].idxmin()] if len(frozen) else None
            rows.append({"system": SSL, "budget": int(budget), "domain": domain,
                         "masked_acc": m.get("eval", {}).get("masked_acc"), "chance": m.get("chance_majority"),
                         "loss_last": m.get("loss_last"), "loss_uniform": m.get("loss_uniform"),
                         "best_vs_random": None if best is None else float(best["vs_random"])})
        return pd.DataFrame(rows).sort_values(["budget", "domain"], ignore_index=True)

    def detection_costs(self) -> pd.DataFrame:
        """The protocol's frozen references: minDCF at several priors, miss rate at 1 % false alarms."""
        return detection_costs(self.per_seed[self.per_seed["role"] != "convergence"], self.runs)


def run(profile: str = "cpu", speakers: Sequence[int] | None = None, budgets: Sequence[int] | None = None,
        seeds: Sequence[int] | None = None, domains: Sequence[str] | None = None,
        overrides: Mapping[str, Any] | None = None, progress: bool = True) -> RegimeMap:
    """Pre-train (or reuse) every upstream of the grid and train (or reuse) every SV system."""
    from ..pretrain.train import pretrain
    from ..sv.pipeline import run_sv

    profile = profile_context(profile)
    if profile.study.regime.budget_fractions and budgets is None:  # the budgets come from chapter 01a's curve
        book_budget(profile, overrides, compute=True, progress=progress)
    g = grid(profile, speakers, budgets, seeds, domains, overrides)
    items = plan(profile, speakers, budgets, seeds, domains, overrides)
    pre_runs, rows, runs = {}, [], {}
    for item in items:
        if item.kind == "pretrain":
            pre_runs[(item.budget, item.domain)] = pretrain(item.config, progress=progress)
            continue
        r = run_sv(item.config, progress=progress)
        m = r.metrics
        budget, domain = (item.budget, item.domain) if item.system == SSL else (0, "")
        rows.append({"system": item.system, "role": item.role, "mode": item.mode,
                     "labelled_speakers": item.config.train.labelled_speakers,
                     "steps": item.config.train.steps,
                     "budget": budget, "domain": domain, "seed": item.seed, "eer_percent": m["eer_percent"],
                     "eer_ci_low": m["eer_ci_low"], "eer_ci_high": m["eer_ci_high"],
                     "min_dcf_0.01": m["min_dcf_0.01"], "min_dcf_0.05": m["min_dcf_0.05"],
                     "run": r.run.path.name})
        runs[r.run.path.name] = r.run
    return RegimeMap(profile=profile.name, grid=g, per_seed=pd.DataFrame(rows), pretrain_runs=pre_runs, runs=runs)


@dataclass(frozen=True)
class Regime:
    """Where the factor studies and the analyses run: one cell of the map, and how it was chosen."""

    labelled_speakers: int
    budget: int  # pre-training updates of every upstream
    domain: str  # OUT or IN: the pre-training pool, with or without the SV training speakers' audio
    how: str  # "rule": a clear benefit; "closest": no clear cell, the best margin; "provisional": map not run;
    # "pinned": the profile fixes it (study.regime.pinned, smoke only)
    margin: float | None = None  # EER(SSL) - EER(random init) of the cell, frozen (None: provisional)

    def sv_overrides(self, profile: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The SV keys of the regime (labelled speakers and the protocol's steps); ``overrides`` win."""
        return protocol(profile, self.labelled_speakers, overrides)

    def pretrain_overrides(self, pretrain_overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The pre-training keys of the regime (updates and pool); ``pretrain_overrides`` win."""
        return {"optim.steps": int(self.budget), "pretrain.in_domain": self.domain == IN,
                **dict(pretrain_overrides or {})}

    def describe(self) -> str:
        """The regime in one sentence, for the chapters."""
        where = (f"{self.labelled_speakers} labelled speakers, upstreams pre-trained for {self.budget} updates "
                 f"on the {'pool plus the SV training audio' if self.domain == IN else 'out-of-domain pool'}")
        if self.how == "rule":
            return (f"the regime the map's rule picked ({where}), where pre-training clearly beats random init "
                    f"by {-self.margin:.2f} EER points")
        if self.how == "closest":
            return (f"the map's closest cell to a benefit ({where}; SSL - random init = {self.margin:+.2f} EER "
                    "points, not a clear difference): no cell of the map shows a clear benefit, so this chapter "
                    "measures shifts in a regime without one")
        if self.how == "pinned":
            return (f"the profile's pinned regime ({where}): at this profile the map is noise, and the "
                    "regression references need a regime that does not move with a machine's rounding")
        return f"a provisional regime ({where}): the regime map has not been computed yet"


def regime_of(cells_table: pd.DataFrame, mode: str = "frozen", budget: int | None = None) -> Regime:
    """The book's regime from the map's cells: the rule's cell (:func:`choose_regime`); with none, the
    ``mode`` cell of the learned budget where SSL comes closest to beating random init (fewer speakers on
    a tie), marked as such."""
    chosen = choose_regime(cells_table, mode, budget)
    how = "rule"
    if chosen is None:
        t = learned_cells(cells_table, budget)
        t = t[t["mode"] == mode].dropna(subset=["vs_random"])
        if t.empty:
            raise ConfigError(f"the regime map has no {mode} cell to choose from")
        chosen, how = t.sort_values(["vs_random", "labelled_speakers", "budget"]).iloc[0].to_dict(), "closest"
    return Regime(int(chosen["labelled_speakers"]), int(chosen["budget"]), str(chosen["domain"]), how,
                  float(chosen["vs_random"]))


def provisional_regime(profile: str | Profile) -> Regime:
    """The regime assumed before the map is computed (the plan's estimate): the fewest labelled speakers,
    the profile's default upstream, out of domain, where the literature expects the benefit."""
    g = grid(profile)
    return Regime(min(g.speakers), g.default_budget, OUT, "provisional")


def map_is_complete(profile: str | Profile, overrides: Mapping[str, Any] | None = None) -> bool:
    """Whether every run of the map has finished (cheap: the manifests are verified when served)."""
    return all(item.run.done_file.exists() and item.run.manifest_file.is_file()
               for item in plan(profile, overrides=overrides))


REGIME_VERSION = 4  # bump when the rule (choose_regime, regime_of) changes what it picks


def book_regime(profile: str = "cpu", overrides: Mapping[str, Any] | None = None, progress: bool = True,
                compute: bool = True) -> Regime:
    """The regime chapters 02-08 run in: the map (computed, or served from the cache) and its rule.

    The choice is kept as a run of its own (``regime-<hash>``), served again while every run of the map
    still has the manifest it had when the rule read it (a re-build does not verify the map's ~100 runs
    once per chapter; chapter 01b does).  ``compute=False`` (the plan) never computes: without a
    finished map the regime is provisional.
    """
    import dataclasses
    import json

    from ..artifacts import Run, atomic_write_json

    profile = profile_context(profile)
    pinned = profile.study.regime.pinned
    if pinned:  # checked when the profile is read (sslsv.config.study_settings)
        return Regime(pinned.speakers, pinned.budget, pinned.domain, "pinned")
    items = plan(profile, overrides=overrides)
    if not compute and not map_is_complete(profile, overrides):
        return provisional_regime(profile)
    key = Run("regime", {"profile": profile.name, "map": [i.run.path.name for i in items], "version": REGIME_VERSION})

    def inputs() -> dict[str, Any] | None:
        if not map_is_complete(profile, overrides):
            return None
        return {"map": {i.run.path.name: i.run.digest() for i in items}}

    def load() -> Regime:
        return Regime(**json.loads(key.file("regime.json").read_text()))

    def choose() -> Regime:
        m = run(profile, overrides=overrides, progress=progress)
        # the cells of the mode the verdicts read (fine-tuned where the factor studies fine-tune)
        chosen = regime_of(m.cells, m.mode, budget=m.grid.default_budget if m.grid else None)
        key.start()
        atomic_write_json(key.file("regime.json"), dataclasses.asdict(chosen))
        key.finish({"regime": dataclasses.asdict(chosen)}, inputs=inputs())
        return chosen

    now = inputs()
    if now is None:  # the map is not complete: compute it (its runs are served or computed), then choose
        return choose()
    return key.serve(now, load, choose)
