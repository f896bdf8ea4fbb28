"""SSL front-end for speaker verification: an upstream and its layer featurizer.

Following s3prl/SUPERB, every hidden state of the upstream (the input
embedding and each transformer layer) is layer-normalised and the states
are combined by a learnable softmax-weighted sum, initialised equal. The
result, ``(batch, frames, hidden)``, feeds the same ECAPA-TDNN as the fbank
baseline. The upstream is either frozen (only the layer weights and the
backend learn) or fine-tuned (with its own, lower learning rate and an
optional number of initial steps during which it stays frozen; optionally
with its conv front-end frozen, or only its top transformer layers trained).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..upstreams import RUN_PREFIX, UpstreamReferenceError, random_init, resolve_upstream_reference


def weighted_layer_sum(hidden_states: list[torch.Tensor], layer_logits: torch.Tensor) -> torch.Tensor:
    """Softmax-weighted sum of layer-normalised hidden states.

    ``hidden_states``: ``n_layers`` tensors ``(batch, frames, dim)``;
    ``layer_logits``: ``(n_layers,)``. Returns ``(batch, frames, dim)``.

    >>> h = [torch.ones(1, 2, 3) * i for i in range(2)]
    >>> weighted_layer_sum(h, torch.zeros(2)).shape
    torch.Size([1, 2, 3])
    """
    if len(hidden_states) != layer_logits.numel():
        raise ValueError(f"{len(hidden_states)} hidden states but {layer_logits.numel()} layer weights")
    stacked = torch.stack([F.layer_norm(h, h.shape[-1:]) for h in hidden_states], dim=0)
    weights = torch.softmax(layer_logits, dim=0).view(-1, 1, 1, 1)
    return (weights * stacked).sum(dim=0)


class SSLFrontend(torch.nn.Module):
    """Waveform ``(batch, time)`` -> featurized upstream frames ``(batch, frames, hidden)``.

    ``layer_weights`` (softmax of ``layer_logits``) says how much each layer
    contributes; they are saved with the model and plotted in the book.
    """

    def __init__(self, upstream: torch.nn.Module, finetune: bool = False, top_layers: int = 0,
                 freeze_feature_encoder: bool = False):
        super().__init__()
        self.upstream = upstream
        self.finetune = finetune
        self.top_layers = int(top_layers) if finetune else 0  # fine-tuning: only these top layers learn (0: all)
        self.output_dim = upstream.hidden_size
        self.layer_logits = torch.nn.Parameter(torch.zeros(upstream.n_layers))
        self.upstream_frozen = not finetune  # also True during a fine-tuning run's frozen warm-up
        if not finetune:
            for p in self.upstream.parameters():
                p.requires_grad_(False)
            self.upstream.eval()
        elif self.top_layers or freeze_feature_encoder:
            self.upstream.freeze_for_finetuning(self.top_layers, freeze_feature_encoder)

    @property
    def layer_weights(self) -> torch.Tensor:
        return torch.softmax(self.layer_logits.detach(), dim=0)

    def train(self, mode: bool = True) -> "SSLFrontend":
        super().train(mode)
        if self.upstream_frozen:
            self.upstream.eval()  # a frozen upstream never uses dropout
        elif self.top_layers:
            for module in self.upstream.finetune_split(self.top_layers)[0]:
                module.eval()  # nor does the frozen part under the fine-tuned top layers
        return self

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``wave`` ``(batch, time)``, or the upstream's hidden states already computed and stacked,
        ``(batch, n_layers, frames, dim)`` (see :class:`HiddenStateCropSampler`): those of a frozen
        upstream, or, fine-tuning the top layers, the frozen lower layers' states (the top ones are
        computed again from the state under them, :meth:`~sslsv.pretrain.backbones.Upstream.top_layers_forward`)."""
        if wave.dim() == 4:
            states = list(wave.unbind(1))
            if not self.upstream_frozen:
                if not self.top_layers:
                    raise ValueError("precomputed hidden states need a frozen upstream, or one whose top "
                                     "layers alone are fine-tuned (frontend.finetune_layers)")
                k = self.top_layers
                states = states[:-k] + self.upstream.top_layers_forward(states[-k - 1], k)
            return weighted_layer_sum(states, self.layer_logits)
        if self.upstream_frozen:
            with torch.no_grad():
                hidden = self.upstream(wave)
        else:
            hidden = self.upstream(wave)
        return weighted_layer_sum(hidden, self.layer_logits)


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers (names, shapes, dtypes and bytes)."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class UpstreamStates:
    """The hidden states of frozen upstreams, computed once per (weights, utterance) in this process.

    Every seed of a frozen system, and its test-set embeddings, need the same
    upstream's states of the same utterances; they are computed on first use
    and kept, under a memory bound (``max_bytes``; the upstream used least
    recently goes first).  Entries are keyed by :func:`weights_digest`, so a
    different upstream never sees another's states.  Computing a state here or
    in the SV forward pass gives the same numbers: the same eval-mode forward.
    """

    def __init__(self, max_bytes: int = 4 << 30):
        self.max_bytes = int(max_bytes)
        self._by_upstream: dict[str, dict[tuple, np.ndarray]] = {}
        self.nbytes = 0
        self.hits = self.misses = 0

    def clear(self) -> None:
        self._by_upstream.clear()
        self.nbytes = 0

    def bind(self, upstream: torch.nn.Module, sample_rate: int = 16000):
        """``states(path, limit=None)`` of ``upstream`` with its weights as they are now: ``(n_layers,
        frames, dim)`` float32 states of ``path`` (its first ``limit`` samples)."""
        digest = weights_digest(upstream)
        return lambda path, limit=None: self._get(upstream, digest, path, sample_rate, limit)

    def _get(self, upstream: torch.nn.Module, digest: str, path, sample_rate: int, limit: int | None) -> np.ndarray:
        from ..data.audio import read_audio

        entries = self._by_upstream.pop(digest, {})
        self._by_upstream[digest] = entries  # most recently used last
        st = Path(path).stat()
        key = (str(path), st.st_size, st.st_mtime_ns, limit)  # a file rewritten in place is read again
        if key in entries:
            self.hits += 1
            return entries[key]
        self.misses += 1
        was_training = upstream.training
        upstream.eval()
        with torch.no_grad():
            wave = torch.from_numpy(read_audio(path, sample_rate=sample_rate)[:limit])[None]
            states = torch.stack(upstream(wave), dim=1)[0].float().numpy()  # (layers, frames, dim)
        upstream.train(was_training)
        entries[key] = states
        self.nbytes += states.nbytes
        while self.nbytes > self.max_bytes and len(self._by_upstream) > 1:
            oldest = self._by_upstream.pop(next(iter(self._by_upstream)))  # least recently used upstream
            self.nbytes -= sum(a.nbytes for a in oldest.values())
        return states


def _default_max_bytes() -> int:
    import os

    return int(float(os.environ.get("SSLSV_STATE_CACHE_GB", "4")) * 2**30)


STATES = UpstreamStates(_default_max_bytes())
"""The process's cache of frozen upstream states (``SSLSV_STATE_CACHE_GB``, default 4 GiB; 0 turns
it into a cache of the current upstream only)."""


class HiddenStateCropSampler:
    """Speaker-labelled random crops of a frozen upstream's hidden states, computed once.

    Each training utterance goes through the upstream whole, once per process
    (:data:`STATES`: the seeds of a system share them); a batch
    is then a set of random windows of ``n_frames(crop_samples)`` frames of
    the stored states, ``(batch, n_layers, frames, dim)``, which
    :meth:`SSLFrontend.forward` accepts in place of waveforms.  Short
    utterances are repeated to fill the window, like
    :func:`~sslsv.data.batching.read_crop` does for audio.
    """

    def __init__(self, upstream: torch.nn.Module, paths, labels, crop_samples: int, sample_rate: int = 16000,
                 progress: bool = True):
        from tqdm.auto import tqdm

        if len(paths) != len(labels):
            raise ValueError("paths and labels differ in length")
        if not len(paths):
            raise ValueError("no training utterances")
        self.labels = np.asarray(labels, dtype=np.int64)
        self.crop_frames = int(upstream.n_frames(int(crop_samples)))
        states = STATES.bind(upstream, sample_rate)
        self.states: list[np.ndarray] = [
            states(path)
            for path in tqdm(paths, desc="upstream features", disable=not progress, mininterval=1.0)]

    @property
    def nbytes(self) -> int:
        return int(sum(s.nbytes for s in self.states))

    def crop(self, i: int, rng: np.random.Generator) -> np.ndarray:
        from ..data.batching import crop_start

        s = self.states[i]
        n = s.shape[1]
        start = crop_start(n, self.crop_frames, rng)
        window = s[:, start:start + self.crop_frames]
        if window.shape[1] < self.crop_frames:
            window = np.tile(window, (1, int(np.ceil(self.crop_frames / window.shape[1])), 1))[:, :self.crop_frames]
        return window

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = rng.integers(0, len(self.states), size=batch_size)
        crops = np.stack([self.crop(int(i), rng) for i in idx])
        return torch.from_numpy(crops), torch.from_numpy(self.labels[idx])


def build_ssl_frontend(upstream: str, finetune: bool, seed: int = 0, top_layers: int = 0,
                       freeze_feature_encoder: bool = False) -> SSLFrontend:
    """An :class:`SSLFrontend` for an ``upstream`` reference (fine-tuning recipe: :class:`SSLFrontend`).

    ``init:<backbone>:<size>`` builds a randomly initialised upstream (the
    "no pre-training" control, seeded by ``seed``); ``run:<name>``, a directory
    or a checkpoint name load saved weights (:func:`~sslsv.upstreams.resolve_upstream_reference`).
    """
    from ..pretrain.backbones import Upstream, build_upstream

    init = random_init(upstream)
    if init is not None:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = build_upstream(init.backbone, init.size)
    else:
        model = Upstream.from_pretrained(resolve_upstream_reference(upstream))
    return SSLFrontend(model, finetune=finetune, top_layers=top_layers, freeze_feature_encoder=freeze_feature_encoder)


def upstream_exists(reference: str) -> bool:
    """Whether ``reference`` names an upstream here (a bare run name raises, naming the valid forms)."""
    if random_init(reference) is not None:
        return True
    try:
        return Path(resolve_upstream_reference(reference)).exists()
    except UpstreamReferenceError:
        if reference.startswith(RUN_PREFIX):
            return False  # a run not computed (yet)
        raise
