"""Study 06: every factor in one table and one figure, and a verdict on each of the paper's claims.

It re-uses the four factor studies (their runs are all cached by then) and
the explanation chapters' question, and adds nothing but bookkeeping: the
verdicts are computed by each study's ``claim`` function from its numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd

from . import data_scale, language, model_size, objective, quantizer
from ..config import ConfigError
from ..settings import deciding_mode
from ..systems import FBANK, RANDOM, shown
from .factors import FactorStudy

# the paper's four factors (chapters 02-05), then the fifth, beyond the paper (issue 26): the pool's language
PAPER = {"objective": objective, "quantizer": quantizer, "data scale": data_scale, "model size": model_size}
BEYOND = {"linguistic structure": language}
STUDIES = {**PAPER, **BEYOND}


@dataclass
class Summary:
    studies: dict[str, FactorStudy]  # factor -> study
    claims: dict[str, dict[str, Any]]  # factor -> claim()

    def _stacked(self, attribute: str) -> pd.DataFrame:
        frames = []
        for factor, study in self.studies.items():
            t = getattr(study, attribute).copy()
            t.insert(0, "factor", factor)
            frames.append(t)
        return pd.concat(frames, ignore_index=True)

    def table(self) -> pd.DataFrame:
        """One row per (factor, system): mean and sd of EER and minDCF over seeds."""
        return self._stacked("summary")

    def per_seed(self) -> pd.DataFrame:
        """Every SV run of every study (shared runs appear once per study that uses them)."""
        return self._stacked("per_seed")

    def seed_spread(self) -> pd.DataFrame:
        """How far the pre-training seed moves EER, beside the SV seed, for every system pre-trained with
        several seeds (:func:`~sslsv.studies.compare.seed_spread`; a system shared by studies appears once)."""
        from .compare import seed_spread

        t = seed_spread(self.per_seed().drop_duplicates(["system", "mode", "pretrain_seed", "seed"]))
        return t

    def verdicts(self) -> pd.DataFrame:
        """Each claim (the paper's four, then the one beyond it), our verdict, and the deciding comparison(s)."""
        rows = []
        for factor, c in self.claims.items():
            ev = "; ".join(f"{shown(d['a'])} − {shown(d['b'])} = {d['delta']:+.2f}"
                           + ("" if d["ci95"] != d["ci95"] else f" ± {d['ci95']:.2f} (95 %)")
                           + (" (clear)" if d["clear"] else " (noise)") for d in c["evidence"])
            rows.append({"factor": factor, "claim": c["claim"], "source": "beyond the paper" if factor in BEYOND
                         else "the paper", "verdict": c["verdict"],
                         "evidence (EER points)": ev})
        return pd.DataFrame(rows)


def run(profile: str = "cpu", seeds: Sequence[int] | None = None, modes: Sequence[str] | None = None,
        overrides: Mapping[str, Any] | None = None, pretrain_overrides: Mapping[str, Any] | None = None,
        progress: bool = True) -> Summary:
    """Run (or load from the cache) the five factor studies (the paper's four and the pool's language) at their
    defaults and judge each claim."""
    chosen = {**PAPER, **{f: m for f, m in BEYOND.items() if m.applies(profile, overrides)}}  # synthetic corpus only
    studies = {f: m.run(profile, seeds, modes=modes, overrides=overrides, pretrain_overrides=pretrain_overrides,
                        progress=progress) for f, m in chosen.items()}
    claims = {f: STUDIES[f].claim(s) for f, s in studies.items()}
    return Summary(studies=studies, claims=claims)


def verdict_table(summary: Summary) -> str:
    """The verdicts as text, one claim per block (the evidence strings are long)."""
    lines = []
    for r in summary.verdicts().to_dict("records"):
        beyond = " (beyond the paper)" if r["source"] != "the paper" else ""
        lines.append(f"{r['factor']}{beyond}: {r['claim']}\n  verdict: {r['verdict']}\n  evidence: "
                     f"{r['evidence (EER points)']}")
    return "\n".join(lines)


def cost_table(summary: Summary) -> pd.DataFrame:
    """Every distinct pre-training run behind the studies: what it is and its wall time."""
    frames = []
    for factor, study in summary.studies.items():
        t = study.pretraining_table()
        t.insert(0, "run", [r.path.name for r in study.pretrain_runs.values()])
        t["timed"] = ["all steps" if r.metrics()["timing_complete"] else "last segment only"
                      for r in study.pretrain_runs.values()]
        t.insert(0, "first used in", factor)
        frames.append(t)
    cols = ["run", "first used in", "system", "pretrain_seed", "objective", "quantizer", "size", "hours", "parameters_M",
            "minutes", "timed"]
    return pd.concat(frames, ignore_index=True).drop_duplicates("run")[cols]


def compute_time(summary: Summary) -> pd.DataFrame:
    """Wall time of every distinct run behind the four studies, by stage (the cost of a build from nothing).

    ``partly_timed`` counts runs resumed from a checkpoint that did not record its time: their minutes
    cover the last segment only, so the stage total is a lower bound when it is non-zero.
    """
    pre = cost_table(summary)
    sv, sv_partial = {}, set()
    for study in summary.studies.values():
        for r in study.results.values():
            name, m = r.run.path.name, r.metrics
            if name in sv:  # shared between studies
                continue
            sv[name] = (m.get("train_seconds") or 0.0) + (m.get("embed_seconds") or 0.0)
            if not m["timing_complete"]:
                sv_partial.add(name)
    return pd.DataFrame([
        {"stage": "pre-training", "runs": len(pre), "minutes": round(float(pre["minutes"].sum()), 1),
         "partly_timed": int((pre["timed"] != "all steps").sum())},
        {"stage": "SV training + scoring", "runs": len(sv), "minutes": round(sum(sv.values()) / 60, 1),
         "partly_timed": len(sv_partial)},
    ])


def schedule_gap(summary: Summary) -> pd.DataFrame:
    """The fbank front-end under chapter 01's SV schedule and under the factor studies' (same seeds)."""
    from . import baseline

    study = next(iter(summary.studies.values()))
    fb = study.per_seed[study.per_seed["system"] == FBANK]
    seeds = [int(s) for s in fb["seed"]]
    base = baseline.run(study.profile, seeds, progress=False)
    rows = []
    for name, results in (("chapter 01 schedule", base.results),
                          ("factor-study schedule", [study.results[(FBANK, "fbank", None, s)] for s in seeds])):
        cfg = results[0].run.config
        eer = [r.metrics["eer_percent"] for r in results]
        rows.append({"schedule": name, "steps": cfg.train.steps, "batch": cfg.train.batch_size,
                     "crops_seen": cfg.train.steps * cfg.train.batch_size, "seeds": len(eer),
                     "eer_mean": float(pd.Series(eer).mean()),
                     "eer_sd": float(pd.Series(eer).std()) if len(eer) > 1 else float("nan")})
    return pd.DataFrame(rows)


def premise(summary: Summary, mode: str | None = None) -> dict[str, Any]:
    """The surest SSL upstream of all four studies against the references.

    Every claim presumes that pre-training helps SV in the first place; this is that check. The
    upstream checked is the non-reference system of ``mode`` whose benefit over random init is surest:
    the upper end of its 95 % interval against random init lies lowest (the difference itself where
    one seed gives no interval). The lowest mean EER alone would pick a system whose seeds disagree.
    """
    from .compare import difference

    t = summary.table()
    mode = deciding_mode(t["mode"].unique()) if mode is None else mode
    t = t[~t["reference"] & (t["mode"] == mode)]
    if t.empty:
        raise ConfigError(f"no SSL upstream was run in mode {mode!r}")
    vs_random = {(f, s): difference(summary.studies[f].per_seed, s, RANDOM, mode=mode)
                 for f, s in zip(t["factor"], t["system"])}
    factor, system = min(vs_random, key=lambda k: vs_random[k]["delta"] + (
        vs_random[k]["ci95"] if math.isfinite(vs_random[k]["ci95"]) else 0.0))
    return {"factor": factor, "system": system, "vs_random": vs_random[factor, system],
            "vs_fbank": difference(summary.studies[factor].per_seed, system, FBANK, mode=mode)}


def answer(summary: Summary) -> str:
    """The book's answer on the paper's claims in three sentences: the verdicts, the premise check that
    decides what they mean (the surest upstream against both references), and the caveat."""
    from .findings import describe_difference

    v = summary.verdicts()
    v = v[v["source"] == "the paper"]  # the fifth factor has its own finding
    profile = next(iter(summary.studies.values())).profile
    groups = {word: [str(f) for f in v.loc[v["verdict"] == word, "factor"]]
              for word in ("reproduced", "not reproduced", "inconclusive")}
    counts = ", ".join(f"{len(fs)} {word}" + (f" ({', '.join(fs)})" if fs else "") for word, fs in groups.items())
    mode = deciding_mode(m for s in summary.studies.values() for m in s.summary["mode"].unique())
    p = premise(summary, mode)
    helps = [d["clear"] and d["delta"] < 0 for d in (p["vs_random"], p["vs_fbank"])]
    first = f"Of the paper's {len(v)} claims, at the `{profile}` scale: {counts}."
    second = (f"The {mode} upstream of the studies surest to beat random init, *{shown(p['system'])}* "
              f"({p['factor']}): against random "
              f"init, {describe_difference(p['vs_random'])}; against fbank, {describe_difference(p['vs_fbank'])}.")
    if all(helps):
        third = "Caveat: none from the premise; it holds here, so the verdicts compare real benefits."
    elif any(helps):
        third = ("Caveat: pre-training beats only one of the two references here, so the verdicts say how "
                 "pre-training choices move SV, not which of them carries the benefit the paper explains.")
    else:
        third = ("Caveat: pre-training clearly beats neither reference here, so the verdicts say how pre-training "
                 "choices move SV, not which of them carries the benefit the paper explains.")
    return " ".join([first, second, third])
