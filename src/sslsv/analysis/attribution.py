"""Integrated Gradients over a sample of trials: the attribution study of chapter 07.

The pieces live by concept, and every name stays importable from here:

- :mod:`sslsv.analysis.integrated_gradients`: the trial score as a function
  of one waveform, the baselines, Integrated Gradients of one trial and its
  convergence (what is attributed, and why the baseline is faint noise);
- :mod:`sslsv.analysis.spectrotemporal`: the same attributions per 10 ms
  frame and in STFT coordinates;
- :mod:`sslsv.analysis.shares`: shares of the attribution mass per phone
  class and per frequency band;
- :mod:`sslsv.statistics`: the bootstrap intervals of the summaries.

This module draws the trials (half target, half non-target), attributes them
with every system, tabulates the shares with bootstrap intervals over trials
(:class:`AttributionStudy`) and saves and loads the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..config import ConfigError
from ..data.corpus import Segment, SVCorpus, Trial
from ..statistics import bootstrap_difference_ci, bootstrap_mean_ci
from .integrated_gradients import (BASELINES, TrialAttribution, TrialScorer, attribute_trial, convergence_table,
                                   embed, input_gradients, noise_baseline, zeros_baseline)
from .shares import FREQUENCY_BANDS, band_label, band_shares, phone_class_shares, sample_classes
from .spectrotemporal import (STFT_HOP_MS, STFT_N_FFT, STFT_WIN_MS, frequency_profile, spectrotemporal_attributions,
                              stft_params, time_profile)

_stft_params = stft_params  # the name sslsv.plots imports

__all__ = ["BASELINES", "FREQUENCY_BANDS", "STFT_HOP_MS", "STFT_N_FFT", "STFT_WIN_MS", "AttributionStudy",
           "TrialAttribution", "TrialScorer", "attribute_trial", "attribution_study", "band_label", "band_shares",
           "bootstrap_difference_ci", "bootstrap_mean_ci", "convergence_table", "embed", "frequency_profile",
           "input_gradients", "noise_baseline", "phone_class_shares", "pool_studies", "sample_classes", "select_trials",
           "spectrotemporal_attributions", "stft_params", "summarise_shares", "time_profile", "trial_type_difference",
           "zeros_baseline"]


# ---------------------------------------------------------------------------
# Aggregation over trials
# ---------------------------------------------------------------------------



def summarise_shares(shares: pd.DataFrame, by: str, value_columns: Sequence[str], n_resamples: int = 1000,
                     level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean share with bootstrap CI over trials, per model, trial type and ``by``.

    ``shares`` has one row per (model, trial, ``by``) with a ``trial_type``
    column ("target" / "nontarget"); the summary adds ``trial_type="all"``.
    Columns: ``model, trial_type, <by>, n_trials`` and ``<col>``,
    ``<col>_ci_low``, ``<col>_ci_high`` for each value column.
    """
    rows = []
    both = pd.concat([shares, shares.assign(trial_type="all")], ignore_index=True)
    for (model, ttype, key), grp in both.groupby(["model", "trial_type", by], sort=False):
        row = {"model": model, "trial_type": ttype, by: key, "n_trials": len(grp)}
        for col in value_columns:
            m, lo, hi = bootstrap_mean_ci(grp[col], n_resamples, level, seed)
            row.update({col: m, f"{col}_ci_low": lo, f"{col}_ci_high": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def trial_type_difference(shares: pd.DataFrame, by: str, column: str = "mass_share", n_resamples: int = 1000,
                          level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Target minus non-target mean of ``column`` per model and ``by``, with a bootstrap CI."""
    rows = []
    for (model, key), grp in shares.groupby(["model", by], sort=False):
        t = grp.loc[grp["trial_type"] == "target", column]
        n = grp.loc[grp["trial_type"] == "nontarget", column]
        d, lo, hi = bootstrap_difference_ci(t, n, n_resamples, level, seed)
        rows.append({"model": model, by: key, "difference": d, "ci_low": lo, "ci_high": hi,
                     "n_target": len(t), "n_nontarget": len(n)})
    return pd.DataFrame(rows)


def pool_studies(studies: "Mapping[int, AttributionStudy]", n_resamples: int = 1000,
                 level: float = 0.95) -> "AttributionStudy":
    """Attributions of the same systems trained at several SV seeds, pooled into one study: every trial of
    every seed is one observation (a ``seed`` column tells them apart; each seed draws its own trials), and the
    summaries' bootstrap intervals resample the pooled trials, so they carry the seed-to-seed spread beside
    the trial sample. The example trial is the first seed's."""
    seeds = list(studies)
    if len(seeds) == 1:
        return studies[seeds[0]]

    def stacked(name: str) -> pd.DataFrame:
        return pd.concat([getattr(studies[s], name).assign(seed=s) for s in seeds], ignore_index=True)

    phones, bands = stacked("phone_shares"), stacked("band_shares")
    first = studies[seeds[0]]
    return AttributionStudy(trials=stacked("trials"), **_summaries(phones, bands, n_resamples, level, seed=0),
                            examples=first.examples, example_segments=first.example_segments,
                            example_trial=first.example_trial)


def _summaries(phones: pd.DataFrame, bands: pd.DataFrame, n_resamples: int, level: float,
               seed: int) -> dict[str, pd.DataFrame]:
    """The per-trial share tables and their summaries over trials (an :class:`AttributionStudy`'s tables)."""
    kw = dict(n_resamples=n_resamples, level=level, seed=seed)
    return dict(
        phone_shares=phones, band_shares=bands,
        phone_summary=summarise_shares(phones, "phone_class", ("mass_share", "duration_share", "energy_share",
                                                               "enrichment"), **kw) if len(phones) else phones,
        band_summary=summarise_shares(bands, "band", ("mass_share", "energy_share"), **kw),
        phone_difference=trial_type_difference(phones, "phone_class", **kw) if len(phones) else phones,
        band_difference=trial_type_difference(bands, "band", **kw))


def select_trials(corpus: SVCorpus, n_trials: int, seed: int = 0) -> list[tuple[int, Trial]]:
    """``n_trials`` trials, half target and half non-target, drawn at random.

    Only trials whose test utterance has a phone alignment are eligible when
    the corpus has alignments.  Returns ``[(index in corpus.trials, trial)]``
    in trial-list order; the same seed gives the same trials for every model.
    """
    eligible = [(i, t) for i, t in enumerate(corpus.trials) if not corpus.alignments or t.test in corpus.alignments]
    rng = np.random.default_rng(seed)
    chosen: list[tuple[int, Trial]] = []
    n_target = (int(n_trials) + 1) // 2
    for label, n in ((1, n_target), (0, int(n_trials) - n_target)):
        pool = [it for it in eligible if it[1].label == label]
        if n > len(pool):
            raise ConfigError(f"asked for {n} {'target' if label else 'non-target'} trials, only {len(pool)} eligible")
        idx = rng.choice(len(pool), size=n, replace=False)
        chosen.extend(pool[j] for j in idx)
    return sorted(chosen, key=lambda it: it[0])


@dataclass
class AttributionStudy:
    """Tidy results of :func:`attribution_study` (one row per model and trial, or per class/band)."""

    trials: pd.DataFrame  # model, trial, label, trial_type, enroll, test, score, baseline_score, delta, ...
    phone_shares: pd.DataFrame  # model, trial, trial_type, phone_class, mass/duration/energy shares, enrichment
    band_shares: pd.DataFrame  # model, trial, trial_type, band, low_hz, high_hz, mass_share, energy_share
    phone_summary: pd.DataFrame  # per model, trial_type, phone_class: mean shares with bootstrap CIs
    band_summary: pd.DataFrame  # per model, trial_type, band: mean shares with bootstrap CIs
    phone_difference: pd.DataFrame  # target - non-target mass share per model and phone class, with CI
    band_difference: pd.DataFrame  # target - non-target mass share per model and band, with CI
    examples: dict[str, TrialAttribution] = field(default_factory=dict)  # model -> the example trial
    example_segments: list[Segment] = field(default_factory=list)  # alignment of the example test utterance
    example_trial: Trial | None = None

    _TABLES = ("trials", "phone_shares", "band_shares", "phone_summary", "band_summary", "phone_difference",
               "band_difference")

    def save(self, directory) -> None:
        """Write the study to ``directory``: one CSV per table, the examples as npz + JSON (no pickle)."""
        import json
        from dataclasses import asdict
        from pathlib import Path

        from ..artifacts import atomic_write_json, atomic_write_text

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name in self._TABLES:
            atomic_write_text(d / f"{name}.csv", getattr(self, name).to_csv(index=False))
        meta = {"models": list(self.examples), "example_trial": asdict(self.example_trial) if self.example_trial else None,
                "example_segments": [asdict(x) for x in self.example_segments], "examples": {}}
        for i, (model, r) in enumerate(self.examples.items()):
            np.savez(d / f"example_{i}.npz", wave=r.wave, baseline=r.baseline, attributions=r.attributions,
                     path_gradient=r.path_gradient)
            meta["examples"][model] = {"file": f"example_{i}.npz", "score": r.score, "baseline_score": r.baseline_score,
                                       "delta": r.delta, "steps": r.steps, "baseline_kind": r.baseline_kind,
                                       "sample_rate": r.sample_rate, "seconds": r.seconds}
        atomic_write_json(d / "study.json", json.loads(json.dumps(meta, default=float)))

    @classmethod
    def load(cls, directory) -> "AttributionStudy":
        """Read a study written by :meth:`save`."""
        import json
        from pathlib import Path

        d = Path(directory)
        meta = json.loads((d / "study.json").read_text())
        def read(name: str) -> pd.DataFrame:
            try:
                return pd.read_csv(d / f"{name}.csv")
            except pd.errors.EmptyDataError:  # a table with no columns (no alignments)
                return pd.DataFrame()

        tables = {name: read(name) for name in cls._TABLES}
        examples = {}
        for model, m in meta["examples"].items():
            with np.load(d / m["file"]) as z:
                arrays = {k: z[k] for k in ("wave", "baseline", "attributions", "path_gradient")}
            examples[model] = TrialAttribution(**arrays, **{k: v for k, v in m.items() if k != "file"})
        trial = Trial(**meta["example_trial"]) if meta["example_trial"] else None
        return cls(**tables, examples=examples, example_segments=[Segment(**x) for x in meta["example_segments"]],
                   example_trial=trial)


def attribution_study(
    models: Mapping[str, torch.nn.Module],
    corpus: SVCorpus,
    n_trials: int = 40,
    seed: int = 0,
    steps: int = 64,
    *,
    baseline: str = "noise",
    noise_db: float = -30.0,
    max_seconds: float = 4.0,
    internal_batch_size: int = 8,
    sample_rate: int = 16000,
    bands: Sequence[tuple[float, float]] = FREQUENCY_BANDS,
    n_resamples: int = 1000,
    level: float = 0.95,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> AttributionStudy:
    """Attribute the same ``n_trials`` trials (half target) with every model.

    ``models`` maps a system name to a speaker model (waveform ->
    embedding).  Test waveforms are cut to their first ``max_seconds``;
    enrollment embeddings use the same cut.  The baseline of a trial is
    seeded by ``(seed, trial index)``, so every model sees the same
    baseline.  The first selected target trial is kept whole as the example
    for the time and spectrogram figures.
    """
    from tqdm.auto import tqdm

    from ..data.audio import read_audio

    selected = select_trials(corpus, n_trials, seed)
    limit = int(max_seconds * sample_rate) if max_seconds else None
    cache: dict[str, np.ndarray] = {}

    def wave_of(key: str) -> np.ndarray:
        if key not in cache:
            cache[key] = read_audio(corpus.path(key), sample_rate=sample_rate)[:limit]
        return cache[key]

    example_index = next((i for i, t in selected if t.label == 1), selected[0][0])
    trial_rows, phone_rows, band_rows = [], [], []
    examples: dict[str, TrialAttribution] = {}
    bar = tqdm(total=len(models) * len(selected), desc="integrated gradients", disable=not progress,
               mininterval=1.0)
    for name, model in models.items():
        model.eval().to(device)
        for index, trial in selected:
            r = attribute_trial(model, wave_of(trial.enroll), wave_of(trial.test), steps=steps, baseline=baseline,
                                noise_db=noise_db, seed=int(np.random.default_rng([seed, index]).integers(2**31)),
                                internal_batch_size=internal_batch_size, sample_rate=sample_rate, device=device)
            ttype = "target" if trial.label == 1 else "nontarget"
            common = {"model": name, "trial": index, "trial_type": ttype}
            trial_rows.append({**common, "label": trial.label, "enroll": trial.enroll, "test": trial.test,
                               "score": r.score, "baseline_score": r.baseline_score,
                               "score_difference": r.score_difference, "attribution_sum": float(r.attributions.sum()),
                               "delta": r.delta, "relative_delta": r.relative_delta, "steps": steps,
                               "seconds": r.seconds})
            if trial.test in corpus.alignments:
                for row in phone_class_shares(r.attributions, corpus.alignments[trial.test], sample_rate,
                                                      wave=r.wave).to_dict("records"):
                    phone_rows.append({**common, **row})
            for row in band_shares(r, bands).to_dict("records"):
                band_rows.append({**common, **row})
            if index == example_index:
                examples[name] = r
            bar.update(1)
    bar.close()
    trials = pd.DataFrame(trial_rows)
    phones = pd.DataFrame(phone_rows, columns=["model", "trial", "trial_type", "phone_class", "mass_share",
                                               "duration_share", "enrichment", "energy_share"])
    bands_df = pd.DataFrame(band_rows)
    example_trial = corpus.trials[example_index]
    return AttributionStudy(
        trials=trials, **_summaries(phones, bands_df, n_resamples, level, seed),
        examples=examples, example_segments=list(corpus.alignments.get(example_trial.test, [])),
        example_trial=example_trial)
