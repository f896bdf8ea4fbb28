"""The configuration keys each study sets itself.

A study that sets a key per run (the seed, the front-end of each condition)
cannot honour an override of that key, so the override is refused with what
to use instead (:func:`sslsv.config.refuse_controlled`). Each table maps a
dotted key, or a section ending in ``.``, to that advice.  This module imports
nothing heavy, so that the command line can check overrides at once.
"""

from __future__ import annotations

# Keys the baseline sets itself, and what to use instead (an override of them could not be honoured).
BASELINE = {
    "train.seed": "give the seeds with --seeds (seeds=[...] in Python)",
    "frontend.": "the baseline is the fbank front-end by definition; SSL front-ends are trained by "
                 "`sslsv study objective` (or another factor study)",
}


# SV keys a factor study sets per condition, seed and mode (an override of them could not be honoured).
FACTOR_STUDY = {
    "train.seed": "give the seeds with --seeds",
    "frontend.finetune": "choose frozen or fine-tuned upstreams with --modes",
    "frontend.kind": "each condition fixes its front-end (fbank, random init or a pre-trained upstream)",
    "frontend.upstream": "each condition's upstream is pre-trained by the study; change it with --pretrain-set",
}


# Keys the analysis sets for each of its four systems: an override of them could not be honoured.
ANALYSIS = {
    "train.seed": "pass seed=<n> instead",
    "frontend.": "the four analysed systems fix their front-ends (fbank, SSL frozen, SSL fine-tuned, random init "
                 "fine-tuned); change the upstream through the pre-training overrides",
}
