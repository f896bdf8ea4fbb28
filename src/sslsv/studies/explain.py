"""Studies 07 and 08: why does SSL initialisation help? Attributions and loss landscapes.

Both chapters analyse the same four speaker-verification systems (:data:`SYSTEMS`): fbank, the default upstream
frozen and fine-tuned, and the same architecture from random weights trained exactly like the fine-tuned one; the
same corpus, the same ECAPA-TDNN backend, at the SV seeds of :func:`analysis_seeds`. The upstream is the profile's
default pre-training run (masked prediction on k-means-of-MFCC targets), shared through the run cache with the
factor studies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..analysis.attribution import AttributionStudy
from ..analysis.landscape import LandscapeStudy
from ..artifacts import Run, file_sha256
from ..config import (ConfigError, Profile, SVConfig, check_seeds, override, profile_context,
                      refuse_controlled, resolve)
from . import controlled
from ..data.fingerprint import sv_fingerprint
from ..statistics import Difference, compare
from ..systems import FBANK, RANDOM_FINE_TUNED, SSL_FINE_TUNED, SSL_FROZEN, check_system, shown
from ..sv.pipeline import SVResult, load_speaker_model, run_sv
from ..upstreams import RandomInit

# The four analysed systems, each one front-end in one mode, by their keys (sslsv.systems; the labels "SSL frozen",
# ... are made when drawn). The keys are also the keys inside the cached analyses (analysis_run's key, the "model"
# column of the attribution and landscape tables).
SYSTEMS = (FBANK, SSL_FROZEN, SSL_FINE_TUNED, RANDOM_FINE_TUNED)


@dataclass
class AnalysisSystems:
    pretrain_run: Any  # the upstream's pre-training Run
    results: dict[str, SVResult]  # system name -> finished SV run

    def metrics_table(self):
        """EER and minDCF of each analysed system, with the EER's bootstrap interval."""
        import pandas as pd

        rows = []
        for name, r in self.results.items():
            m = r.metrics
            rows.append({"system": name, "eer_percent": m["eer_percent"], "eer_ci_low": m["eer_ci_low"],
                         "eer_ci_high": m["eer_ci_high"], "min_dcf_0.01": m["min_dcf_0.01"],
                         "min_dcf_0.05": m["min_dcf_0.05"]})
        return pd.DataFrame(rows)


@dataclass
class SeededAnalysis:
    """The four systems trained at several SV seeds (``study.analysis_seeds``): each seed's systems, and the
    EERs of all of them, so that a comparison of two systems carries the seed-to-seed spread."""

    seeds: tuple[int, ...]
    by_seed: dict[int, AnalysisSystems]

    def metrics_table(self):
        """EER and minDCF of each analysed system at each SV seed (a ``seed`` column), with the EER's bootstrap
        interval."""
        import pandas as pd

        return pd.concat([self.by_seed[s].metrics_table().assign(seed=s) for s in self.seeds], ignore_index=True)

    def eer_table(self):
        """Mean EER of each system over the SV seeds, with its spread and the EERs' bootstrap span."""
        t = self.metrics_table()
        return (t.groupby("system", sort=False)
                .agg(eer_percent=("eer_percent", "mean"), eer_sd=("eer_percent", "std"),
                     seeds=("seed", "nunique"), eer_ci_low=("eer_ci_low", "min"), eer_ci_high=("eer_ci_high", "max"))
                .reset_index())


def sv_configs(profile: str | Profile, seed: int = 0, overrides: Mapping[str, Any] | None = None,
               upstream: str = "") -> dict[str, SVConfig]:
    """The SV configuration of each analysed system (``upstream`` as a front-end reference)."""
    profile = profile_context(profile)
    base = resolve(profile, overrides)
    steps = profile.study.analysis_steps
    common: dict[str, Any] = {"train.seed": seed}
    if steps is not None and not (overrides and "train.steps" in overrides):
        common["train.steps"] = steps
    pre = profile.pretrain.pretrain
    random_ref = RandomInit(pre.backbone, pre.size).reference
    layers = profile.study.finetune_layers  # the studies' fine-tuning recipe (0: every weight)
    tuned = {"frontend.finetune": True, **({"frontend.finetune_layers": layers,  # as the studies' (runs.sv_config)
                                            "frontend.cache_features": profile.study.cache_features} if layers else {})}
    return {
        FBANK: override(base, {**common, "frontend.kind": "fbank"}),
        SSL_FROZEN: override(base, {**common, "frontend.kind": "ssl", "frontend.upstream": upstream,
                                      "frontend.finetune": False}),
        SSL_FINE_TUNED: override(base, {**common, "frontend.kind": "ssl", "frontend.upstream": upstream, **tuned}),
        RANDOM_FINE_TUNED: override(base, {**common, "frontend.kind": "ssl", "frontend.upstream": random_ref,
                                           **tuned}),
    }


def analysis_systems(profile: str | Profile = "cpu", seed: int = 0, overrides: Mapping[str, Any] | None = None,
                     pretrain_overrides: Mapping[str, Any] | None = None, progress: bool = True) -> AnalysisSystems:
    """Pre-train (or reuse) the default upstream and train (or reuse) the four SV systems."""
    from ..pretrain.train import pretrain

    first, *systems = plan(profile, seed, overrides, pretrain_overrides)
    pre_run = pretrain(first.config, progress=progress)
    results = {item.system: run_sv(item.config, progress=progress) for item in systems}
    return AnalysisSystems(pretrain_run=pre_run, results=results)


def plan(profile: str | Profile = "cpu", seed: int = 0, overrides: Mapping[str, Any] | None = None,
         pretrain_overrides: Mapping[str, Any] | None = None) -> list:
    """The analysed systems' runs: the default upstream's pre-training, then the four SV systems."""
    from .runs import Condition, PlannedRun, pretrain_config

    refuse_controlled(overrides, controlled.ANALYSIS, "the analysis chapters (07, 08)")
    check_seeds([seed], "seed")
    profile = profile_context(profile)  # read once, passed down
    pre_cfg = pretrain_config(profile, Condition("default"), None, pretrain_overrides)  # the studies' (its schedule)
    sv_base = resolve(profile, overrides)
    if pre_cfg.corpus != sv_base.corpus:
        raise ConfigError("the pre-training and SV corpus configurations differ; override both alike")
    pre = PlannedRun("pretrain", "default upstream", "upstream", None, pre_cfg)
    cfgs = sv_configs(profile, seed, overrides, upstream=f"run:{pre.run.path.name}")
    mode = {FBANK: "fbank", SSL_FROZEN: "frozen"}
    return [pre] + [PlannedRun("sv", name, mode.get(name, "fine-tuned"), int(seed), cfg) for name, cfg in cfgs.items()]


# Bump when a change to sslsv.analysis changes what an analysis computes: cached analysis runs
# are keyed by this, the analysed SV runs and the settings.
ANALYSIS_VERSION = 1


def analysis_run(kind: str, systems: AnalysisSystems, seed: int, settings: Mapping[str, Any]) -> Run:
    """The cache entry of an analysis (``attribution-<hash>`` or ``landscape-<hash>``) of these systems.

    Re-building a chapter with nothing changed loads the saved tables instead of recomputing them.
    """
    import numpy as np

    def plain(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return [round(float(x), 10) for x in v]
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    key = {"version": ANALYSIS_VERSION, "seed": int(seed),
           "systems": {name: r.run.path.name for name, r in systems.results.items()},
           "settings": {k: plain(v) for k, v in sorted(settings.items())}}
    return Run(kind, key)


def analysis_inputs(systems: AnalysisSystems) -> dict[str, str]:
    """The manifest digest of each analysed SV run: an analysis is served only for the very same models."""
    return {name: r.run.digest() for name, r in systems.results.items()}


def speaker_models(systems: AnalysisSystems) -> dict:
    """The trained speaker model (waveform -> embedding) of each system, in eval mode."""
    return {name: load_speaker_model(r.run) for name, r in systems.results.items()}


# ---------------------------------------------------------------------------
# Chapter 07: Integrated Gradients
# ---------------------------------------------------------------------------

def attribution(profile: str | Profile = "cpu", seed: int = 0, overrides: Mapping[str, Any] | None = None,
                progress: bool = True, pretrain_overrides: Mapping[str, Any] | None = None, **settings: Any):
    """Train/reuse the four systems and attribute the same trials with each.

    Returns ``(systems, study)`` with ``study`` an
    :class:`~sslsv.analysis.attribution.AttributionStudy`.
    """
    from ..analysis.attribution import attribution_study
    from ..data import load_sv_corpus

    profile = profile_context(profile)
    systems = analysis_systems(profile, seed, overrides, pretrain_overrides, progress=progress)
    cfg = resolve(profile, overrides)
    corpus = load_sv_corpus(cfg.corpus, progress=progress)
    if not corpus.alignments:
        raise ConfigError("the corpus has no phone alignments (only the synthetic corpus has them): "
                         "the per-phone-class analysis needs them")
    kw = {**vars(profile.study.attribution), **settings}
    run = analysis_run("attribution", systems, seed, kw)
    inputs = {**analysis_inputs(systems), "corpus": sv_fingerprint(cfg.corpus, progress)}
    alignments = corpus.root / "meta" / "alignments.jsonl"
    if alignments.is_file():
        inputs["alignments"] = file_sha256(alignments)

    def compute():
        run.start()
        study = attribution_study(speaker_models(systems), corpus, seed=seed, progress=progress, **kw)
        study.save(run.path / "study")
        run.finish({"trials": int(study.trials["trial"].nunique()),
                    "median_relative_delta": float(study.trials["relative_delta"].median()),
                    "seconds": float(study.trials["seconds"].sum())}, inputs=inputs)
        return study

    return systems, run.serve(inputs, lambda: AttributionStudy.load(run.path / "study"), compute)


def analysis_seeds(profile: str | Profile, seeds: Any = None) -> tuple[int, ...]:
    """The SV seeds the analysed systems are trained at: ``seeds``, else the profile's ``study.analysis_seeds``."""
    seeds = tuple(int(s) for s in (profile_context(profile).study.analysis_seeds if seeds is None else seeds))
    check_seeds(seeds, "seeds")
    return seeds


def attribution_seeds(profile: str | Profile = "cpu", seeds: Any = None, overrides: Mapping[str, Any] | None = None,
                      progress: bool = True, pretrain_overrides: Mapping[str, Any] | None = None, **settings: Any):
    """:func:`attribution` at every SV seed (``seeds``; ``None``: the profile's ``study.analysis_seeds``), pooled.

    Returns ``(analysis, study)``: a :class:`SeededAnalysis` and the pooled
    :class:`~sslsv.analysis.attribution.AttributionStudy` (:func:`sslsv.analysis.attribution.pool_studies`).
    """
    from ..analysis.attribution import pool_studies

    profile = profile_context(profile)
    seeds = analysis_seeds(profile, seeds)
    each = {s: attribution(profile, s, overrides, progress, pretrain_overrides, **settings) for s in seeds}
    n_resamples = {**vars(profile.study.attribution), **settings}["n_resamples"]
    return (SeededAnalysis(seeds, {s: each[s][0] for s in seeds}),
            pool_studies({s: each[s][1] for s in seeds}, n_resamples=n_resamples))


def landscape_seeds(profile: str | Profile = "cpu", seeds: Any = None, overrides: Mapping[str, Any] | None = None,
                    progress: bool = True, pretrain_overrides: Mapping[str, Any] | None = None, **settings: Any):
    """:func:`landscape` at every SV seed, pooled (:func:`sslsv.analysis.landscape.pool_studies`).

    Returns ``(analysis, study)``: a :class:`SeededAnalysis` and the pooled landscape study (its figures'
    slices are the first seed's).
    """
    from ..analysis.landscape import pool_studies

    profile = profile_context(profile)
    seeds = analysis_seeds(profile, seeds)
    each = {s: landscape(profile, s, overrides, progress, pretrain_overrides, **settings) for s in seeds}
    return SeededAnalysis(seeds, {s: each[s][0] for s in seeds}), pool_studies({s: each[s][1] for s in seeds})


def eer_comparison(systems: "AnalysisSystems | SeededAnalysis", a: str, b: str) -> Difference:
    """System ``a`` against ``b`` on EER (:func:`sslsv.statistics.compare`): with several SV seeds, the 95 %
    Welch interval over seeds; with one seed each, clear when the bootstrap intervals do not overlap."""
    t = systems.metrics_table()
    for key in (a, b):
        check_system(key, list(t["system"].unique()))
    x, y = t[t["system"] == a], t[t["system"] == b]
    return compare(x["eer_percent"].to_numpy(), y["eer_percent"].to_numpy(),
                   (x["eer_ci_low"].min(), x["eer_ci_high"].max()), (y["eer_ci_low"].min(), y["eer_ci_high"].max()))


def ssl_helps(systems: "AnalysisSystems | SeededAnalysis") -> bool:
    """The paper's premise at this scale: SSL fine-tuned has a clearly lower EER than fbank."""
    d = eer_comparison(systems, SSL_FINE_TUNED, FBANK)
    return d.clear and d.delta < 0


def premise_words(systems: "AnalysisSystems | SeededAnalysis") -> str:
    """The paper's premise (SSL initialisation beats fbank) in words, and whether SSL at least beats
    the same network from random weights (both by the EERs' bootstrap intervals)."""
    d = eer_comparison(systems, SSL_FINE_TUNED, RANDOM_FINE_TUNED)
    over_random = d.clear and d.delta < 0
    if ssl_helps(systems):
        return "The paper's premise, that SSL initialisation helps SV beyond fbank, is reproduced here."
    return ("The paper's premise, that SSL initialisation helps SV beyond fbank, is not reproduced here"
            + (", although SSL initialisation does beat random initialisation." if over_random else "."))


def benefit_statement(systems: "AnalysisSystems | SeededAnalysis") -> str:
    """Does SSL initialisation beat fbank and random initialisation here? (the 95 % Welch interval over SV
    seeds; with one seed, the EERs' bootstrap intervals)"""
    t = systems.metrics_table()
    eer = t.groupby("system", sort=False)["eer_percent"].mean()
    n_seeds = int(t["seed"].nunique()) if "seed" in t else 1

    def in_words(a: str, b: str) -> str:
        d = eer_comparison(systems, a, b)
        numbers = f"({eer[a]:.2f} vs {eer[b]:.2f} % EER, {d.delta:+.2f} [{d.low:+.2f}, {d.high:+.2f}])"
        if not d.clear:
            return f"{shown(a)} and {shown(b)} are indistinguishable {numbers}"
        return f"{shown(a)} is {'better' if d.delta < 0 else 'worse'} than {shown(b)} {numbers}"

    how = (f"means over {n_seeds} SV seeds; a difference counts when its 95 % Welch interval excludes zero"
           if n_seeds > 1 else "one SV seed; non-overlapping 95 % bootstrap intervals count as a difference")
    return (f"At this scale {in_words(SSL_FINE_TUNED, FBANK)}, and "
            f"{in_words(SSL_FINE_TUNED, RANDOM_FINE_TUNED)} ({how}). ")


def completeness(study) -> "pd.DataFrame":
    """Per system, the median over attributed trials of |score - baseline score| and of |convergence delta|.

    Integrated Gradients' attributions sum to the score difference up to the delta: a delta much smaller
    than the difference is an integral that converged.
    """
    t = study.trials.assign(abs_delta=study.trials["delta"].abs(),
                            abs_score_difference=(study.trials["score"] - study.trials["baseline_score"]).abs())
    return t.groupby("model", sort=False)[["abs_score_difference", "abs_delta"]].median().reset_index()


def attribution_finding(study, systems: "AnalysisSystems | SeededAnalysis | None" = None) -> str:
    """The chapter's finding, computed from the per-class summary (and the systems' EERs)."""
    s = study.phone_summary
    s = s[s["trial_type"] == "all"]
    lines = []
    if systems is not None:
        lines.append(benefit_statement(systems) + premise_words(systems) + " The attributions below "
                     + ("compare the systems:" if ssl_helps(systems) else
                        "therefore describe *different* systems rather than explain a benefit over fbank:"))
    for model, d in s.groupby("model", sort=False):
        top = d.sort_values("mass_share", ascending=False).iloc[0]
        vowel = d[d["phone_class"] == "vowel"].iloc[0]
        lines.append(f"- **{shown(model)}**: the largest share goes to {top['phone_class']}s "
                     f"({top['mass_share']:.2f}, 95% CI {top['mass_share_ci_low']:.2f}-{top['mass_share_ci_high']:.2f}); "
                     f"vowels take {vowel['mass_share']:.2f} of the attribution for "
                     f"{vowel['duration_share']:.2f} of the time.")
    vowels = s[s["phone_class"] == "vowel"].set_index("model")
    if {FBANK, SSL_FINE_TUNED} <= set(vowels.index):
        a, b = vowels.loc[FBANK], vowels.loc[SSL_FINE_TUNED]
        d = compare([b["mass_share"]], [a["mass_share"]], (b["mass_share_ci_low"], b["mass_share_ci_high"]),
                    (a["mass_share_ci_low"], a["mass_share_ci_high"]))
        verdict = (f"the difference is outside both intervals: the SSL fine-tuned system puts "
                   f"{'more' if d.delta > 0 else 'less'} weight on vowels than fbank" if d.clear else
                   "the intervals overlap, so at this number of trials we cannot say the SSL system attends to "
                   "vowels differently from fbank")
        lines.append(f"\nVowel share, fbank {a['mass_share']:.2f} vs SSL fine-tuned {b['mass_share']:.2f}: {verdict}.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Chapter 08: loss landscapes
# ---------------------------------------------------------------------------

def landscape(profile: str | Profile = "cpu", seed: int = 0, overrides: Mapping[str, Any] | None = None,
              progress: bool = True, pretrain_overrides: Mapping[str, Any] | None = None, **settings: Any):
    """Train/reuse the four systems and measure their loss landscapes on one fixed batch set.

    Returns ``(systems, study)`` with ``study`` a
    :class:`~sslsv.analysis.landscape.LandscapeStudy`.
    """
    import numpy as np

    from ..analysis.landscape import runs_landscape_study

    profile = profile_context(profile)
    systems = analysis_systems(profile, seed, overrides, pretrain_overrides, progress=progress)
    kw = {**profile.study.landscape.kwargs(), **settings}
    kw.setdefault("path_ts", np.linspace(-0.25, 1.25, 7))
    run = analysis_run("landscape", systems, seed, kw)
    inputs = analysis_inputs(systems)

    def compute():
        run.start()
        study = runs_landscape_study({name: r.run for name, r in systems.results.items()}, progress=progress, **kw)
        study.save(run.path / "study")
        run.finish({"seconds": {k: float(v) for k, v in study.seconds.items()}}, inputs=inputs)
        return study

    return systems, run.serve(inputs, lambda: LandscapeStudy.load(run.path / "study"), compute)


def landscape_finding(study, systems: "AnalysisSystems | SeededAnalysis") -> str:
    """Does the flatter basin go with the better system? Computed from the numbers."""
    import pandas as pd

    hess = study.hessian.groupby("model", sort=False)["eigenvalue"].agg(["mean", "std", "count"])
    sharp = study.sharpness.groupby("model", sort=False)["loss_increase"].mean()
    eer = systems.metrics_table().groupby("system", sort=False)["eer_percent"].mean()  # over the SV seeds
    table = pd.DataFrame({"top_hessian_eigenvalue": hess["mean"], "loss_increase_at_radius": sharp,
                          "eer_percent": eer}).dropna()
    flattest = table["top_hessian_eigenvalue"].idxmin()
    best = table["eer_percent"].idxmin()
    rank = table[["top_hessian_eigenvalue", "eer_percent"]].rank()
    agree = bool((rank["top_hessian_eigenvalue"] == rank["eer_percent"]).all())
    text = benefit_statement(systems)
    text += (f"The flattest minimum by the top Hessian eigenvalue is **{shown(flattest)}** "
            f"({table.loc[flattest, 'top_hessian_eigenvalue']:.1f}); the lowest EER belongs to **{shown(best)}** "
            f"({table.loc[best, 'eer_percent']:.2f} %). ")
    text += ("The ordering by sharpness matches the ordering by EER exactly. " if agree else
             "The ordering by sharpness does not match the ordering by EER, so flatness alone does not "
             "explain which system verifies best here. ")
    n_seeds = int(study.hessian["sv_seed"].nunique()) if "sv_seed" in study.hessian else 1
    if n_seeds > 1 and "top_eigenvalue_ci_low" in study.summary:
        s = study.summary.set_index("model")
        text += ("Over the SV seeds, each system's mean top eigenvalue with its 95 % interval: " + "; ".join(
            f"{shown(m)} {r['top_eigenvalue']:.1f} [{r['top_eigenvalue_ci_low']:.1f}, {r['top_eigenvalue_ci_high']:.1f}]"
            for m, r in s.iterrows()) + ". ")
    seeds = (f"{n_seeds} SV seeds" + (" (two seeds give wide intervals)" if n_seeds == 2 else "") if n_seeds > 1
             else "one seed")
    text += ("Caveats: the eigenvalues are computed over each system's *trainable* parameters (a frozen "
             f"upstream is not part of the landscape), on one batch set and few directions, at {seeds}.")
    worst = float(study.summary["loss"].max()) if "loss" in study.summary else 1.0
    if worst < 0.01:  # every system fits its batches (few labelled speakers): the minimum is flat for any of them
        text += (f" Every system fits its training batches (loss {worst:.3f} at most): at a minimum of zero loss "
                 "most directions are flat, so a small eigenvalue says that a system has fit its few labelled "
                 "speakers, not that it generalises.")
    return text
