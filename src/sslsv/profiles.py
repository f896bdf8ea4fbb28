"""The profiles: named sets of config values, from CI smoke tests to the paper's scale.

A profile maps dotted keys of :class:`~sslsv.config.SVConfig` and
:class:`~sslsv.config.PretrainExperimentConfig` to values;
:func:`sslsv.config.resolve` applies one, then the user's overrides.
"""

from __future__ import annotations

from typing import Any


PROFILES: dict[str, dict[str, Any]] = {
    # CI and nbval references: everything in a few minutes on 2 CPU cores.
    "smoke": {
        "corpus.n_train_speakers": 16,
        "corpus.n_test_speakers": 8,
        "corpus.sessions_per_speaker": 3,
        "corpus.utterances_per_session": 3,
        "corpus.min_seconds": 1.5,
        "corpus.max_seconds": 2.5,
        "corpus.n_trials": 300,
        "corpus.pretrain_hours": 0.02,
        "corpus.pretrain_speakers": 12,
        "ecapa.channels": 64,
        "ecapa.attention_channels": 32,
        "ecapa.embedding_dim": 64,
        "train.steps": 60,
        "train.batch_size": 16,
        "train.warmup_steps": 10,
        "train.checkpoint_every": 30,
        "train.crop_seconds": 1.5,
        "eval.bootstrap": 200,
        # pre-training (PretrainExperimentConfig): the fbank conformer is 2x cheaper on CPU (PILOT.md)
        "pretrain.backbone": "w2v_bert",
        "pretrain.n_clusters": 50,
        "pretrain.crop_seconds": 1.5,
        "pretrain.mask_prob": 0.065,  # milder masking for tiny models (PILOT.md)
        "pretrain.mask_length": 5,
        "pretrain.proj_dim": 64,
        "pretrain.num_negatives": 20,
        "pretrain.codevectors": 32,
        "pretrain.kmeans_layer": 2,
        "optim.steps": 30,
        "optim.batch_size": 8,
        "optim.lr": 1e-3,
        "optim.warmup_steps": 5,
        "optim.checkpoint_every": 15,
    },
    # The default of `make book`: a 2-core CPU, well under an hour for the book.
    "cpu": {
        "corpus.n_train_speakers": 100,
        "corpus.n_test_speakers": 40,
        "corpus.sessions_per_speaker": 4,
        "corpus.utterances_per_session": 4,
        "corpus.min_seconds": 2.0,
        "corpus.max_seconds": 4.0,
        "corpus.n_trials": 6000,
        "corpus.pretrain_hours": 1.0,
        "corpus.pretrain_speakers": 200,
        "ecapa.channels": 128,  # 0.6M parameters: ~0.3 s per step of 32 x 2 s crops on 2 cores
        "ecapa.attention_channels": 64,
        "ecapa.embedding_dim": 128,
        "train.steps": 800,
        "train.batch_size": 32,
        "train.warmup_steps": 100,
        "train.checkpoint_every": 200,
        # pre-training: tiny w2v-BERT conformer, many updates, mild masks, longer warm-up (PILOT.md)
        "pretrain.backbone": "w2v_bert",
        "pretrain.size": "tiny",
        "pretrain.n_clusters": 100,
        "pretrain.crop_seconds": 2.0,
        "pretrain.mask_prob": 0.065,
        "pretrain.mask_length": 5,
        "pretrain.proj_dim": 128,
        "pretrain.kmeans_layer": 3,
        # 500 updates (~8 min on one core): enough for masked accuracy well above the majority
        # class (0.08 against 0.02 at step 500 of a 1,500-step run), cheap enough for the ~14
        # pre-training runs of the four factor studies.
        "optim.steps": 500,
        "optim.batch_size": 16,
        "optim.lr": 1e-3,
        "optim.warmup_steps": 50,
        "optim.checkpoint_every": 100,
    },
    # The real-scale study: VoxCeleb1 + LibriSpeech on disk, GPU(s).
    "paper": {
        "corpus.source": "voxceleb1",
        "corpus.voxceleb_root": "data/voxceleb1",
        "corpus.librispeech_root": "data/librispeech",
        "corpus.librispeech_subsets": ("train-clean-100", "train-clean-360", "train-other-500"),
        "ecapa.channels": 512,
        "ecapa.attention_channels": 128,
        "ecapa.embedding_dim": 192,
        "train.steps": 40000,
        "train.batch_size": 128,
        "train.lr": 1e-3,
        "train.warmup_steps": 2000,
        "train.checkpoint_every": 2000,
        "train.crop_seconds": 3.0,
        "device": "auto",
        # pre-training: the published HuBERT Base recipe (iteration 1: 100 MFCC clusters, 0.08 x 10 masks)
        "pretrain.backbone": "hubert",
        "pretrain.size": "base",
        "pretrain.n_clusters": 100,
        "pretrain.crop_seconds": 5.0,
        "pretrain.mask_prob": 0.08,
        "pretrain.mask_length": 10,
        "pretrain.kmeans_layer": 6,
        "pretrain.kmeans_max_frames": 1_000_000,
        "optim.steps": 400_000,
        "optim.batch_size": 32,
        "optim.lr": 5e-4,
        "optim.warmup_steps": 32_000,
        "optim.checkpoint_every": 5_000,
    },
}
