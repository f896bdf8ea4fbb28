"""Comparing systems: tables of runs in, tables of differences out.

Every comparison of two systems goes through one interval function,
:func:`sslsv.statistics.compare` (the 95 % Welch interval over seeds, or
non-overlapping bootstrap intervals with one seed). Nothing here trains,
reads a run or writes prose (:mod:`sslsv.studies.findings` does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from ..statistics import compare
from ..systems import FBANK, RANDOM, check_system
from ..tables import METRIC_COLUMNS

if TYPE_CHECKING:
    from ..sv.pipeline import SVResult

__all__ = ["per_seed_table", "summarise", "seed_spread", "difference", "trend", "comparison_table", "convergence",
           "cells", "learned_cells", "choose_regime", "miss_at_false_alarms"]


def per_seed_table(results: Sequence[SVResult], system: str) -> pd.DataFrame:
    """One row per run: system (its key, :mod:`sslsv.systems`), seed, EER and minDCF with bootstrap intervals."""
    rows = []
    for r in results:
        m = r.metrics
        row: dict[str, Any] = {"system": system, "seed": r.run.config.train.seed}
        for col in METRIC_COLUMNS:
            ci = "eer" if col == "eer_percent" else col  # metrics.json names the EER interval eer_ci_*
            row[col] = m[col]
            row[f"{col}_ci_low"] = m[f"{ci}_ci_low"]
            row[f"{col}_ci_high"] = m[f"{ci}_ci_high"]
        row["train_seconds"] = m["train_seconds"]
        rows.append(row)
    return pd.DataFrame(rows)


def summarise(per_seed: pd.DataFrame, by: Sequence[str] = ("system",)) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each metric."""
    agg = per_seed.groupby(list(by), sort=False)[list(METRIC_COLUMNS)].agg(["mean", "std"])
    agg.columns = [f"{metric}_{stat}" for metric, stat in agg.columns]
    agg["n_seeds"] = per_seed.groupby(list(by), sort=False).size()
    return agg.reset_index()


def seed_spread(per_seed: pd.DataFrame, metric: str = "eer_percent") -> pd.DataFrame:
    """How far each kind of seed moves ``metric``, for every system pre-trained with several seeds.

    ``eer_sd_pretrain_seed``: the standard deviation, over pre-training seeds, of the mean over SV seeds;
    ``eer_sd_sv_seed``: the standard deviation over SV seeds within one upstream, averaged over upstreams
    (for another ``metric`` the names start with it instead of ``eer``).

    >>> t = pd.DataFrame({"system": ["m"] * 4, "mode": ["frozen"] * 4, "pretrain_seed": [0, 0, 1, 1],
    ...                   "seed": [0, 1, 0, 1], "eer_percent": [10.0, 12.0, 20.0, 22.0]})
    >>> r = seed_spread(t).iloc[0]
    >>> float(r["eer_sd_pretrain_seed"]), float(r["eer_sd_sv_seed"]), int(r["runs"])
    (7.0710678118654755, 1.4142135623730951, 4)
    """
    rows = []
    name = "eer" if metric == "eer_percent" else metric
    t = per_seed.dropna(subset=["pretrain_seed"])
    for (system, mode), g in t.groupby(["system", "mode"], sort=False):
        if g["pretrain_seed"].nunique() < 2:
            continue
        by = g.groupby("pretrain_seed")[metric]
        rows.append({"system": system, "mode": mode, "pretrain_seeds": int(g["pretrain_seed"].nunique()),
                     "sv_seeds": int(g["seed"].nunique()), "runs": len(g),
                     f"{name}_mean": float(g[metric].mean()),
                     f"{name}_sd_pretrain_seed": float(by.mean().std()),
                     f"{name}_sd_sv_seed": float(by.std().mean()) if by.size().min() > 1 else float("nan")})
    return pd.DataFrame(rows, columns=["system", "mode", "pretrain_seeds", "sv_seeds", "runs", f"{name}_mean",
                                       f"{name}_sd_pretrain_seed", f"{name}_sd_sv_seed"])


def difference(per_seed: pd.DataFrame, a: str, b: str, metric: str = "eer_percent",
               mode: str | None = None) -> dict[str, Any]:
    """How system ``a`` compares with ``b`` on ``metric`` (lower is better); both are system keys
    (:mod:`sslsv.systems`), never display labels: an unknown one is a ``KeyError`` naming the keys.

    ``delta`` is mean(a) - mean(b); whether it is *clear* is
    :func:`sslsv.statistics.compare`: with several seeds, its 95 % Welch
    interval over seeds excludes zero (``ci95`` is the interval's half-width,
    ``p`` Welch's p-value); with one seed, non-overlapping bootstrap intervals.

    >>> t = pd.DataFrame({"system": ["x"] * 3 + ["y"] * 3, "eer_percent": [10, 11, 12, 20, 21, 22.0],
    ...                   "eer_percent_ci_low": [9] * 6, "eer_percent_ci_high": [23] * 6})
    >>> d = difference(t, "x", "y"); (d["delta"], d["clear"], d["better"])
    (-10.0, True, 'x')
    """
    def rows(name: str) -> pd.DataFrame:
        check_system(name, per_seed["system"].unique())
        sel = per_seed[per_seed["system"] == name]
        if mode is not None and name not in (FBANK,):
            sel = sel[sel["mode"] == mode] if "mode" in sel else sel
        if sel.empty:
            raise KeyError(f"no {mode} runs of system {name!r}; modes of it: "
                           f"{', '.join(per_seed.loc[per_seed['system'] == name, 'mode'].unique())}")
        return sel

    ra, rb = rows(a), rows(b)

    def interval(r: pd.DataFrame) -> tuple[float, float] | None:
        cols = (f"{metric}_ci_low", f"{metric}_ci_high")
        return (r[cols[0]].min(), r[cols[1]].max()) if set(cols) <= set(r) else None

    d = compare(ra[metric].to_numpy(float), rb[metric].to_numpy(float), interval(ra), interval(rb))
    better = a if d.delta < 0 else b
    return {"a": a, "b": b, "delta": d.delta, "se": d.se, "p": d.p, "ci95": d.half_width, "clear": d.clear,
            "better": better}


def trend(per_seed: pd.DataFrame, systems: Sequence[str], values: Sequence[float],
          metric: str = "eer_percent", mode: str | None = None) -> dict[str, Any]:
    """Spearman rank correlation between a factor's value and the metric over all runs (of ``mode``, when
    given).

    Negative means the metric falls (improves) as the factor grows.
    """
    from scipy.stats import spearmanr

    xs, ys = [], []
    for name, v in zip(systems, values):
        check_system(name, per_seed["system"].unique())
        sel = per_seed[(per_seed["system"] == name) & ((per_seed["mode"] == mode) if mode else True)]
        sel = sel[metric].to_numpy(float)
        xs += [float(v)] * len(sel)
        ys += list(sel)
    rho, p = spearmanr(xs, ys) if len(set(xs)) > 1 else (float("nan"), float("nan"))
    return {"rho": float(rho), "p": float(p), "n": len(ys)}


def comparison_table(study: Any, against: Sequence[str] = (FBANK, RANDOM),
                     metric: str = "eer_percent") -> pd.DataFrame:
    """Each condition of ``study`` (a :class:`~sslsv.studies.factors.FactorStudy`) against each reference: the
    difference of means and whether it is clear."""
    rows = []
    for cond in study.conditions:
        if cond.reference:
            continue
        for ref in against:
            d = difference(study.per_seed, cond.system, ref, metric)
            rows.append({"system": cond.system, "against": ref, "delta": round(d["delta"], 2),
                         "ci95": round(d["ci95"], 2) if not np.isnan(d["ci95"]) else None,
                         "clear": d["clear"]})
    return pd.DataFrame(rows)


# ... and calls the protocol converged when training that long lowers the mean EER by at most this many
# points. One-sided: a probe that gets *worse* when trained longer (it overfits a few labelled speakers:
# fbank on 12 speakers, 26.0 % at 200 steps, 27.1 % at 400, cpu, 3 seeds) has stopped learning.
CONVERGED_POINTS = 1.0

def convergence(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Each reference under the map's protocol (fbank, random init frozen and, where the map fine-tunes,
    fine-tuned) against the same system trained twice as long, at every amount of labelled speakers: EER means, the difference (longer - protocol) with its 95 %
    interval, and whether the protocol is converged. A row is *not* converged only when training twice as
    long clearly lowers the EER by more than CONVERGED_POINTS: the whole interval of the difference lies
    below -CONVERGED_POINTS. A point estimate beyond the threshold whose interval reaches back across it is
    noise, and a longer probe that does worse has stopped learning, not been cut short."""
    rows = []
    for n in sorted(per_seed["labelled_speakers"].unique()):
        at = per_seed[per_seed["labelled_speakers"] == n]
        for label, mode in ((FBANK, "fbank"), (RANDOM, "frozen"), (RANDOM, "fine-tuned")):
            system = at[(at["system"] == label) & (at["mode"] == mode)]
            base, longer = system[system["role"] != "convergence"], system[system["role"] == "convergence"]
            if base.empty or longer.empty:
                continue
            span = lambda t: (t["eer_ci_low"].min(), t["eer_ci_high"].max())  # noqa: E731
            c = compare(longer["eer_percent"], base["eer_percent"], span(longer), span(base))
            d, lo, hi = c.delta, c.low, c.high
            rows.append({"system": label, "mode": mode, "labelled_speakers": int(n), "steps": int(base["steps"].iloc[0]),
                         "eer_percent": float(base["eer_percent"].mean()),
                         "eer_longer": float(longer["eer_percent"].mean()), "longer_minus_protocol": d,
                         "longer_ci_low": lo, "longer_ci_high": hi, "converged": not bool(hi < -CONVERGED_POINTS)})
    return pd.DataFrame(rows)


COST_PRIORS = (0.01, 0.05, 0.1)  # P_target of the references' detection costs (0.1: computed from the scores)

FALSE_ALARMS = 0.01  # the miss rate at this false-alarm rate says why minDCF(0.01) saturates

def miss_at_false_alarms(scores: Any, labels: Any, false_alarms: float = FALSE_ALARMS) -> float:
    """The lowest miss rate of any threshold whose false-alarm rate is at most ``false_alarms``.

    >>> miss_at_false_alarms([0.9, 0.8, 0.7, 0.2, 0.1], [1, 1, 0, 1, 0], 0.0)
    0.3333333333333333
    """
    from ..metrics import error_rates

    fpr, fnr, _ = error_rates(scores, labels)
    return float(fnr[fpr <= false_alarms].min())


def cells(per_seed: pd.DataFrame) -> pd.DataFrame:
    """One row per (labelled speakers, upstream, mode), the upstream a :data:`~sslsv.systems.SSL` system told
    apart by its ``budget`` and ``domain``: EER(SSL) - EER(random init) and
    EER(SSL) - EER(fbank), each with its 95 % interval and whether it is clear (the interval excludes
    zero: :func:`sslsv.statistics.compare`, the one criterion of every chapter); ``probe_converged``
    says whether the protocol passed the convergence check at that amount of labelled speakers
    (``True`` where the map has no check)."""
    conv = convergence(per_seed)
    rows = []
    for n, at in per_seed.groupby("labelled_speakers", sort=True):
        checks = conv[conv["labelled_speakers"] == n]["converged"] if len(conv) else pd.Series([], dtype=bool)
        at = at[at["role"] != "convergence"]  # the convergence check's runs are not cells
        fbank = at[at["system"] == FBANK]
        upstreams = at[~at["system"].isin([FBANK, RANDOM])]
        for (system, budget, domain, mode), ssl in upstreams.groupby(["system", "budget", "domain", "mode"],
                                                                     sort=False):
            random = at[(at["system"] == RANDOM) & (at["mode"] == mode)]
            row = {"labelled_speakers": int(n), "system": system, "mode": mode, "budget": int(budget), "domain": domain,
                   "eer_percent": float(ssl["eer_percent"].mean()), "probe_converged": bool(checks.all())}
            for ref_name, ref in (("random", random), ("fbank", fbank)):
                if ref.empty:
                    continue
                span = lambda t: (t["eer_ci_low"].min(), t["eer_ci_high"].max())  # noqa: E731
                # clear: the 95 % interval the cell shows excludes zero (with one seed a side, the
                # runs' bootstrap intervals do not overlap)
                c = compare(ssl["eer_percent"], ref["eer_percent"], span(ssl), span(ref))
                d, lo, hi, clear = c.delta, c.low, c.high, c.clear
                row.update({f"vs_{ref_name}": d, f"vs_{ref_name}_low": lo, f"vs_{ref_name}_high": hi,
                            f"vs_{ref_name}_clear": bool(clear)})
            rows.append(row)
    return pd.DataFrame(rows)


def learned_cells(table: pd.DataFrame, budget: int | None = None) -> pd.DataFrame:
    """The cells whose upstream has learned its task: those pre-trained for ``budget`` updates (default: the
    map's largest budget, the one chapter 01a's curve gives; the smaller ones show how the benefit grows)."""
    if table.empty or "budget" not in table:
        return table
    return table[table["budget"] == (int(table["budget"].max()) if budget is None else int(budget))]


def choose_regime(table: pd.DataFrame, mode: str = "frozen", budget: int | None = None) -> dict[str, Any] | None:
    """The book's regime: among the ``mode`` cells of the learned budget (:func:`learned_cells`) where SSL
    beats random init clearly, with a converged probe, the largest margin; on a tie, fewer labelled
    speakers.  ``None`` when no cell shows it."""
    table = learned_cells(table, budget)
    ok = table["probe_converged"] if "probe_converged" in table else True
    t = table[(table["mode"] == mode) & table["vs_random_clear"] & (table["vs_random"] < 0) & ok]
    if t.empty:
        return None
    best = t.sort_values(["vs_random", "labelled_speakers", "budget"]).iloc[0]
    return best.to_dict()
