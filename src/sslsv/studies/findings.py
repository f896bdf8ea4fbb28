"""The findings in words: verdicts on the paper's claims and the prose that reports them.

Each function takes numbers computed by :mod:`sslsv.studies.compare` and
returns text (MyST markdown) or a verdict; nothing here trains or reads runs.
The numbers name systems by their keys; the text names them by their display
labels (:func:`sslsv.systems.shown`).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..systems import FBANK, LONGER, RANDOM, SSL, shown, shown_row
from .compare import CONVERGED_POINTS, difference, learned_cells, trend

__all__ = ["describe_difference", "verdict", "scale_claim", "scale_finding", "learning_note", "detection_cost_note",
           "regime_finding", "regime_answer"]


def describe_difference(d: Mapping[str, Any], unit: str = " EER points") -> str:
    """A :func:`~sslsv.studies.compare.difference` in words, the systems by their labels.

    >>> describe_difference({"a": "ctc", "b": "random", "delta": -3.1, "ci95": 1.0, "clear": True})
    '**CTC (supervised)** is 3.10 ± 1.00 (95 %) EER points lower than **random init** (a clear difference)'
    """
    word = "lower" if d["delta"] < 0 else "higher"
    se = "" if np.isnan(d["ci95"]) else f" ± {d['ci95']:.2f} (95 %)"
    status = "a clear difference" if d["clear"] else "within the noise"
    return f"**{shown(d['a'])}** is {abs(d['delta']):.2f}{se}{unit} {word} than **{shown(d['b'])}** ({status})"


def verdict(reproduced: bool, contradicted: bool) -> str:
    """The three verdicts of the summary chapter."""
    if reproduced:
        return "reproduced"
    if contradicted:
        return "not reproduced"
    return "inconclusive"


def scale_claim(study: Any, values: Mapping[str, float], claim: str, mode: str | None = None) -> dict[str, Any]:
    """A "more X helps" claim over ordered conditions (smallest first) with numeric ``values``.

    Reproduced when the largest condition is clearly better than the
    smallest and the metric falls with the value (negative rank
    correlation); not reproduced when the largest is clearly worse.
    """
    mode = study.mode if mode is None else mode  # the deciding mode: fine-tuned where it was run
    keys = [c.system for c in study.conditions if not c.reference]
    d = difference(study.per_seed, keys[-1], keys[0], mode=mode)
    t = trend(study.per_seed, keys, [values[x] for x in keys], mode=mode)
    return {"claim": claim, "evidence": [d], "trend": t,
            "verdict": verdict(d["clear"] and d["delta"] < 0 and t["rho"] < 0, d["clear"] and d["delta"] > 0)}


def scale_finding(study: Any, c: Mapping[str, Any], quantity: str, largest: str, mode: str | None = None) -> str:
    """The finding of a :func:`scale_claim` on ``study`` (a :class:`~sslsv.studies.factors.FactorStudy`) in words."""
    mode = study.mode if mode is None else mode  # the deciding mode: fine-tuned where it was run
    t = c["trend"]
    keys = [x.system for x in study.conditions if not x.reference]
    lines = [f"**Verdict on the paper's claim** ({c['claim']}): **{c['verdict']}** at the `{study.profile}` scale, {mode}.",
             f"- {describe_difference(c['evidence'][0])}.",
             f"- Rank correlation between {quantity} and EER over all {t['n']} runs: ρ = {t['rho']:.2f} "
             f"(p = {t['p']:.2g}); negative means more {quantity}, lower EER."]
    for ref in (RANDOM, FBANK):
        lines.append(f"- {largest} against {shown(ref)}: "
                     f"{describe_difference(difference(study.per_seed, keys[-1], ref, mode=mode))}.")
    return "\n".join(lines)


def learning_note(upstreams: pd.DataFrame, chosen: Mapping[str, Any] | None) -> str:
    """How much of its pre-training task the chosen upstream had learned, against the most trained one:
    a benefit from an upstream that is near chance on its own task is not masked-prediction skill."""
    if upstreams.empty or chosen is None:
        return ""
    t = upstreams.set_index(["budget", "domain"])  # an upstream of the map is its budget and pool
    at = (chosen["budget"], chosen["domain"])
    if at not in t.index or t["masked_acc"].isna().all():
        return ""
    c, top = t.loc[at], t.loc[t["masked_acc"].idxmax()]
    text = (f"The upstream the rule picks, {shown_row(chosen)}, reaches a held-out masked accuracy of "
            f"{c['masked_acc']:.3f} against a majority-class chance of {c['chance']:.3f} (loss {c['loss_last']:.2f}, "
            f"uniform guess {c['loss_uniform']:.2f})")
    if top.name == at:
        return text + ": the most trained upstream of the map."
    ratio = (c["masked_acc"] - c["chance"]) / max(top["masked_acc"] - top["chance"], 1e-9)
    text += (f"; {shown(SSL, *top.name)} reaches {top['masked_acc']:.3f}, yet its best frozen margin over random "
             f"init is {top['best_vs_random']:+.2f} EER points against {c['best_vs_random']:+.2f}.")
    if ratio < 0.25:
        text += (" The clearest benefit thus comes from an upstream that has learned little of its task (under a "
                 f"quarter of the most trained one's gain over chance): what {int(at[0])} updates give a frozen "
                 "probe is not yet masked-prediction skill, and the factor chapters measure shifts in that regime.")
    return text


def detection_cost_note(costs: pd.DataFrame, saturated: float = 0.9) -> str:
    """Why minDCF(0.01) does (not) carry information here, from :func:`detection_costs`."""
    if costs.empty:
        return ""
    lo, hi = costs["min_dcf_0.01"].min(), costs["min_dcf_0.01"].max()
    miss_lo, miss_hi = costs["miss_at_1pct_fa"].min(), costs["miss_at_1pct_fa"].max()
    wide = costs["min_dcf_0.1"]
    if lo < saturated:
        return (f"minDCF(0.01) of the references spans {lo:.2f}-{hi:.2f}: below {saturated:g} in part of the map, "
                f"so it carries some information beside the EER.")
    return (f"minDCF(0.01) of the references is saturated: {lo:.2f}-{hi:.2f} everywhere. At P_target = 0.01 "
            "a false alarm weighs 99 times a miss, so a cost below 1 needs a threshold where "
            "P_miss + 99 P_fa < 1; at 1 % false alarms these references still miss "
            f"{miss_lo:.0f}-{miss_hi:.0f} % of targets (EER {costs['eer_percent'].min():.1f}-"
            f"{costs['eer_percent'].max():.1f} %). It cannot separate systems at this EER, and the book compares "
            "EERs; " + (f"minDCF(0.1), {wide.min():.2f}-{wide.max():.2f}, still moves with the EER."
                        if wide.min() < saturated else
                        f"even minDCF(0.1) is saturated ({wide.min():.2f}-{wide.max():.2f})."))


def regime_finding(m: Any) -> str:
    """Where, if anywhere, pre-training clearly helps (``m``: a :class:`~sslsv.studies.regime.RegimeMap`):
    computed from the cells, after the convergence check."""
    t = m.cells
    lines = []
    conv = m.convergence
    if len(conv):
        if conv["converged"].all():
            lines.append(f"The probe is converged: trained {LONGER}x as long, no reference clearly improves by "
                         f"more than {CONVERGED_POINTS:g} EER point (the 95 % intervals in the table above).")
        else:
            late = conv[~conv["converged"]]  # the evidence is the rows that moved, not the ones that held
            rows = sorted({int(n) for n in late["labelled_speakers"]})
            moved = ", ".join(f"{shown(r.system)}{' fine-tuned' if r.mode == 'fine-tuned' else ''} with "
                              f"{r.labelled_speakers} speakers {r.eer_percent:.2f} -> "
                              f"{r.eer_longer:.2f} % [{r.longer_ci_low:+.2f}, {r.longer_ci_high:+.2f}]"
                              for r in late.itertuples())
            lines.append(f"**The probe is not converged** with {', '.join(map(str, rows))} labelled speakers: "
                         f"trained {LONGER}x as long, a reference clearly improves by more than "
                         f"{CONVERGED_POINTS:g} EER point, its whole 95 % interval beyond it ({moved}), so those "
                         "cells compare probes that stopped early, the rule passes them over, and a missing "
                         "benefit there is not a finding.")
    for ref, words in (("random", "the same network from random weights"), ("fbank", "fbank")):
        col = f"vs_{ref}"
        clear = t[t[f"{col}_clear"] & (t[col] < 0)]
        if clear.empty:
            best = t.loc[t[col].idxmin()]
            lines.append(f"No cell shows pre-training clearly beating {words}: the best, {shown_row(best)} "
                         f"({best['mode']}) with {best['labelled_speakers']} labelled speakers, is "
                         f"{best[col]:+.2f} EER points [{best[col + '_low']:+.2f}, {best[col + '_high']:+.2f}].")
        else:
            rows = []
            for n, at in t.groupby("labelled_speakers", sort=True):
                hits = clear[clear["labelled_speakers"] == n]
                if hits.empty:
                    rows.append(f"with {n} labelled speakers in none of {len(at)}")
                    continue
                best = hits.loc[hits[col].idxmin()]
                rows.append(f"with {n} labelled speakers in {len(hits)} of {len(at)} (the largest margin "
                            f"{best[col]:+.2f}, {shown_row(best)}, {best['mode']})")
            lines.append(f"Pre-training clearly beats {words} in {len(clear)} of {len(t)} cells: {'; '.join(rows)}.")
    mode = m.mode
    chosen = m.chosen()
    converged = bool(len(conv)) and bool(conv["converged"].all())
    if chosen is None and not converged:
        lines.append(f"The rule (the clearest {mode} margin over random init) finds no regime where pre-training "
                     "helps, but with a probe that has not converged this map cannot say that there is none: "
                     "train the SV backend longer (the profile's study.sv.steps) and run it again.")
    elif chosen is None:
        lines.append(f"The rule (the clearest {mode} margin over random init) finds no regime where pre-training "
                     "helps; the factor studies then measure shifts in a regime without a benefit.")
    else:
        lines.append(f"The rule picks {chosen['labelled_speakers']} labelled speakers and the upstream "
                     f"{shown_row(chosen)} ({chosen['vs_random']:+.2f} EER points against random init).")
    return " ".join(lines)


def regime_answer(m: Any, upstreams: pd.DataFrame | None = None) -> str:
    """Chapter 01b's answer in at most three sentences: whether the learned upstream, in the mode the verdicts
    read (fine-tuned where the studies fine-tune), clearly beats both random init and fbank in a converged row,
    and where; the number that decides the book's regime; and the caveat (an unconverged probe, an upstream
    near chance on its task). The evidence is in the chapter's tables; :func:`regime_finding` says it at length."""
    t, conv, mode = m.cells, m.convergence, m.mode
    learned = learned_cells(t, m.grid.default_budget if m.grid else None)
    converged_rows = ({int(n) for n in conv.loc[conv["converged"], "labelled_speakers"]} if len(conv)
                      else {int(n) for n in t["labelled_speakers"]})
    own = learned[(learned["mode"] == mode) & learned["labelled_speakers"].isin(converged_rows)]
    both = own[own["vs_random_clear"] & (own["vs_random"] < 0) & own["vs_fbank_clear"] & (own["vs_fbank"] < 0)]
    budget = int(learned["budget"].max()) if len(learned) else 0
    if len(both):
        rows = sorted({int(n) for n in both["labelled_speakers"]})
        best = both.loc[both["vs_fbank"].idxmin()]
        first = (f"**Yes**: the learned upstream ({budget:,} updates), {mode}, clearly beats both random init and "
                 f"fbank with {', '.join(map(str, rows))} labelled speakers of the converged rows; its largest "
                 f"margin over fbank is {best['vs_fbank']:+.2f} EER points [{best['vs_fbank_low']:+.2f}, "
                 f"{best['vs_fbank_high']:+.2f}] with {int(best['labelled_speakers'])}.")
    elif len(own):
        best = own.loc[own["vs_fbank"].idxmin()]
        first = (f"**No**: in no converged row does the learned upstream ({budget:,} updates), {mode}, clearly beat "
                 f"both random init and fbank; closest to fbank, with {int(best['labelled_speakers'])} labelled "
                 f"speakers, it is {best['vs_fbank']:+.2f} EER points [{best['vs_fbank_low']:+.2f}, "
                 f"{best['vs_fbank_high']:+.2f}] from fbank and {best['vs_random']:+.2f} from random init.")
    else:
        first = f"**No converged row** has a {mode} cell of the learned upstream, so the map cannot answer."
    chosen = m.chosen()
    if chosen is None:
        second = (f"No converged row has a {mode} cell where the learned upstream clearly beats random init, so "
                  "the rule picks no regime and chapters 02-08 run where pre-training came closest.")
    else:
        second = (f"The rule picks {chosen['labelled_speakers']} labelled speakers and {shown_row(chosen)}, where "
                  f"the {mode} upstream is {chosen['vs_random']:+.2f} EER points from random init "
                  f"[{chosen['vs_random_low']:+.2f}, {chosen['vs_random_high']:+.2f}] and "
                  f"{chosen['vs_fbank']:+.2f} from fbank [{chosen['vs_fbank_low']:+.2f}, "
                  f"{chosen['vs_fbank_high']:+.2f}].")
    caveats = []
    worse = own[own["vs_fbank_clear"] & (own["vs_fbank"] > 0)].sort_values("labelled_speakers")
    if len(worse):  # where the benefit stops: fbank clearly better
        caveats.append(f"with {', '.join(str(int(n)) for n in worse['labelled_speakers'])} labelled speakers fbank is "
                       f"clearly better ({', '.join(f'{v:+.2f}' for v in worse['vs_fbank'])} EER points)")
    if len(conv) and not conv["converged"].all():
        rows = sorted({int(n) for n in conv.loc[~conv["converged"], "labelled_speakers"]})
        caveats.append(f"the probe is not converged with {', '.join(map(str, rows))} labelled speakers, so the rule "
                       "passes those rows over")
    if chosen is not None and upstreams is not None and len(upstreams):
        u = upstreams.set_index(["budget", "domain"])
        at = (chosen["budget"], chosen["domain"])
        if at in u.index and not pd.isna(u.loc[at, "masked_acc"]):
            c = u.loc[at]
            caveats.append(f"the picked upstream predicts masked targets with a held-out accuracy of "
                           f"{c['masked_acc']:.3f} against a chance of {c['chance']:.3f}")
    third = f"Caveat: {'; '.join(caveats)}." if caveats else ""
    return " ".join(filter(None, [first, second, third]))
