"""Wall time of EER + minDCF(0.01, 0.05): sslsv vs scikit-learn vs SpeechBrain.

Run::

    .venv/bin/python benchmarks/bench_metrics.py
    .venv/bin/python benchmarks/bench_metrics.py --sizes 37720 1000000 --repeats 5

For each trial-list size (default: Vox1-O's 37,720 trials and 1,000,000) it
draws Gaussian target/non-target scores (float32, so every implementation
sees identical values), then times

- ``sslsv``: :func:`sslsv.metrics.verification_metrics` without bootstrap
  (one sort, O(n log n));
- ``sklearn``: ``roc_curve(drop_intermediate=False)``, then the same
  interpolated EER and normalised minDCF computed from its fpr/tpr;
- ``speechbrain``: ``speechbrain.utils.metric_stats.EER`` and ``minDCF``
  (twice).  Its ``EER`` loops over ~2n thresholds, each an O(n) pass (O(n^2)
  time); its ``minDCF`` builds threshold x score matrices (O(n^2) memory).
  They are skipped, with the estimate printed, when the matrices would need
  more than ``--max-gb`` or the loop would take more than
  ``--max-seconds``.  SpeechBrain's minDCF is not normalised; it is divided
  by ``min(p, 1 - p)`` here to compare.

The ``|d ...|`` columns are absolute differences from the sslsv values
(EER in percentage points).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

P_TARGETS = (0.01, 0.05)


def make_trials(n: int, target_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_target = int(round(n * target_fraction))
    scores = np.concatenate([rng.normal(2.0, 1.0, n_target), rng.normal(0.0, 1.0, n - n_target)])
    labels = np.concatenate([np.ones(n_target, np.int8), np.zeros(n - n_target, np.int8)])
    perm = rng.permutation(n)
    return scores[perm].astype(np.float32).astype(np.float64), labels[perm]


def timed(fn, repeats: int):
    """(median seconds, result of the last call)."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


# ---------------------------------------------------------------------------
# The three implementations; each returns (eer fraction, {p: normalised minDCF})
# ---------------------------------------------------------------------------


def run_sslsv(scores, labels):
    from sslsv.metrics import verification_metrics

    m = verification_metrics(scores, labels, p_targets=P_TARGETS, bootstrap=0)
    return m["eer_percent"] / 100, {p: m[f"min_dcf_{p:g}"] for p in P_TARGETS}


def run_sklearn(scores, labels):
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    fnr = 1.0 - tpr
    d = fnr - fpr  # decreasing from 1 to -1 along sklearn's (decreasing-threshold) order
    k = int(np.argmax(d <= 0))
    if d[k] == 0:
        eer = fpr[k]
    else:
        t = d[k - 1] / (d[k - 1] - d[k])
        eer = fpr[k - 1] + t * (fpr[k] - fpr[k - 1])
    dcf = {p: float(np.min(p * fnr + (1 - p) * fpr) / min(p, 1 - p)) for p in P_TARGETS}
    return float(eer), dcf


def run_speechbrain(pos, neg):
    from speechbrain.utils.metric_stats import EER, minDCF

    eer, _ = EER(pos, neg)
    dcf = {p: minDCF(pos, neg, p_target=p)[0] / min(p, 1 - p) for p in P_TARGETS}
    return float(eer), dcf


def speechbrain_costs(scores, labels, n_sample: int = 3000, seed: int = 0) -> tuple[float, float]:
    """(GB needed by minDCF's matrices, estimated seconds of the EER loop) at this size."""
    import torch
    from speechbrain.utils.metric_stats import EER

    n = len(scores)
    n_target = int(labels.sum())
    n_thresholds = 2 * len(np.unique(scores)) - 1
    # torch.cat of n_thresholds copies (float32) plus the boolean comparison, per class
    gb = n_thresholds * max(n_target, n - n_target) * (4 + 1) / 1e9
    # EER: n_thresholds iterations of O(n) work: time a subsample, scale quadratically
    idx = np.random.default_rng(seed).choice(n, size=min(n_sample, n), replace=False)
    s, lab = scores[idx].astype(np.float32), labels[idx]
    pos, neg = torch.from_numpy(s[lab == 1]), torch.from_numpy(s[lab == 0])
    t0 = time.perf_counter()
    EER(pos, neg)
    seconds = (time.perf_counter() - t0) * (n / len(idx)) ** 2
    return gb, seconds


def fmt_seconds(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.1f} s"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[37_720, 1_000_000], help="trial-list sizes")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of sslsv and sklearn (median)")
    parser.add_argument("--sb-repeats", type=int, default=1, help="timed repeats of SpeechBrain (median)")
    parser.add_argument("--target-fraction", type=float, default=0.5, help="share of target trials")
    parser.add_argument("--max-gb", type=float, default=8.0, help="skip SpeechBrain's minDCF above this memory")
    parser.add_argument("--max-seconds", type=float, default=600.0,
                        help="skip SpeechBrain's EER loop above this estimated time")
    parser.add_argument("--no-speechbrain", action="store_true", help="skip SpeechBrain entirely")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    # warm up: imports and first-call overheads are not part of the timings
    warm_scores, warm_labels = make_trials(200, 0.5, args.seed)
    run_sslsv(warm_scores, warm_labels)
    run_sklearn(warm_scores, warm_labels)
    if not args.no_speechbrain:
        w32 = torch.from_numpy(warm_scores.astype(np.float32))
        run_speechbrain(w32[warm_labels == 1], w32[warm_labels == 0])

    header = (f"{'trials':>9} {'method':<12} {'time':>10} {'EER %':>8} {'minDCF.01':>9} {'minDCF.05':>9} "
              f"{'|d EER pp|':>10} {'|d DCF.01|':>10} {'|d DCF.05|':>10}")
    rows = [header, "-" * len(header)]
    for n in args.sizes:
        scores, labels = make_trials(n, args.target_fraction, args.seed)
        ref_time, ref = timed(lambda: run_sslsv(scores, labels), args.repeats)

        def row(method, seconds, result, note=""):
            if result is None:
                return f"{n:>9} {method:<12} {note}"
            e, dcf = result
            return (f"{n:>9} {method:<12} {seconds:>9.4f}s {100 * e:>8.3f} {dcf[0.01]:>9.4f} {dcf[0.05]:>9.4f} "
                    f"{100 * abs(e - ref[0]):>10.2e} {abs(dcf[0.01] - ref[1][0.01]):>10.2e} "
                    f"{abs(dcf[0.05] - ref[1][0.05]):>10.2e}{note}")

        rows.append(row("sslsv", ref_time, ref))
        sk_time, sk = timed(lambda: run_sklearn(scores, labels), args.repeats)
        rows.append(row("sklearn", sk_time, sk))
        if args.no_speechbrain:
            rows.append(row("speechbrain", 0, None, "skipped (--no-speechbrain)"))
            continue
        gb, est = speechbrain_costs(scores, labels, seed=args.seed)
        if gb > args.max_gb or est > args.max_seconds:
            reasons = []
            if gb > args.max_gb:
                reasons.append(f"would need {gb:,.0f} GB for minDCF's threshold x score matrices")
            if est > args.max_seconds:
                reasons.append(f"EER loop estimated at {fmt_seconds(est)}")
            rows.append(row("speechbrain", 0, None, "skipped (" + "; ".join(reasons) + ")"))
            continue
        s32 = scores.astype(np.float32)
        pos, neg = torch.from_numpy(s32[labels == 1]), torch.from_numpy(s32[labels == 0])
        sb_time, sb = timed(lambda: run_speechbrain(pos, neg), args.sb_repeats)
        rows.append(row("speechbrain", sb_time, sb, f"  (minDCF matrices {gb:.1f} GB)"))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
