"""Upstream references: one syntax for every place that names a saved upstream.

``frontend.upstream`` (speaker verification), ``pretrain.init`` (start from
saved weights) and ``pretrain.kmeans_source`` (HuBERT iteration 2) all take

* ``run:<name>``: the ``upstream/`` directory a pre-training run wrote under
  the artifact root (``run:pretrain-<hash>``, the run's directory name);
* a local directory written by :meth:`~sslsv.pretrain.Upstream.save_pretrained`;
* otherwise a public checkpoint name, passed on as given.

A bare run name (``pretrain-<hash>``) is refused with the ``run:`` form to use
instead, so one name never means two things.
"""

from __future__ import annotations

import json
import os
import re
import typing
from dataclasses import dataclass
from pathlib import Path

from .artifacts import artifact_root
from .config import Backbone, ConfigError

__all__ = ["RUN_PREFIX", "INIT_PREFIX", "RandomInit", "random_init", "UpstreamReferenceError", "check_upstream",
           "resolve_upstream_reference", "run_reference", "safetensors_problem"]

RUN_PREFIX = "run:"
INIT_PREFIX = "init:"
VALID_FORMS = "'run:<run name>' (a pre-training run under the artifact root), a directory or a checkpoint name"
_RUN_NAME = re.compile(r"[a-z][a-z_]*-[0-9a-f]{12}")  # <kind>-<config hash>, as Run names its directories


class UpstreamReferenceError(ConfigError, FileNotFoundError):
    """An upstream reference that names no upstream; the message names it and the valid forms."""


@dataclass(frozen=True)
class RandomInit:
    """An upstream with random weights, ``init:<backbone>:<size>``: the no-pre-training control.

    >>> RandomInit("w2v_bert", "tiny").reference
    'init:w2v_bert:tiny'
    """

    backbone: str
    size: str

    @property
    def reference(self) -> str:
        return f"{INIT_PREFIX}{self.backbone}:{self.size}"


def random_init(reference: str, key: str = "frontend.upstream") -> RandomInit | None:
    """The :class:`RandomInit` that ``reference`` names, None for any other form of upstream.

    >>> random_init("init:hubert:small"), random_init("run:pretrain-0123456789ab")
    (RandomInit(backbone='hubert', size='small'), None)
    >>> random_init("init:hubert")
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: frontend.upstream='init:hubert' is not 'init:<backbone>:<size>' (backbones: hubert, wavlm, w2v_bert)
    """
    if not reference.startswith(INIT_PREFIX):
        return None
    parts = reference[len(INIT_PREFIX):].split(":")
    backbones = typing.get_args(Backbone)
    if len(parts) != 2 or parts[0] not in backbones or not parts[1]:
        raise ConfigError(f"{key}={reference!r} is not 'init:<backbone>:<size>' (backbones: {', '.join(backbones)})")
    return RandomInit(*parts)


def run_reference(run_name: str) -> str:
    """The reference of a run's upstream.

    >>> run_reference("pretrain-0123456789ab")
    'run:pretrain-0123456789ab'
    """
    return f"{RUN_PREFIX}{run_name}"


def resolve_upstream_reference(reference: str, key: str = "upstream") -> str:
    """The directory or checkpoint name that ``reference`` (the value of config ``key``) stands for.

    >>> resolve_upstream_reference("facebook/hubert-base-ls960")
    'facebook/hubert-base-ls960'
    >>> resolve_upstream_reference("pretrain-0123456789ab", "pretrain.kmeans_source")
    Traceback (most recent call last):
    ...
    sslsv.upstreams.UpstreamReferenceError: pretrain.kmeans_source='pretrain-0123456789ab' is a bare run name; write 'run:pretrain-0123456789ab' (valid forms: 'run:<run name>' (a pre-training run under the artifact root), a directory or a checkpoint name)
    """
    if reference.startswith(RUN_PREFIX):
        path = artifact_root() / "runs" / reference[len(RUN_PREFIX):] / "upstream"
        if not (path / "config.json").exists():
            raise UpstreamReferenceError(f"{key}={reference!r}: {path} has no saved upstream (pre-train it first, "
                                         f"or check the artifact root); valid forms: {VALID_FORMS}")
        return str(path)
    if Path(reference).is_dir():
        return str(Path(reference).resolve())
    if _RUN_NAME.fullmatch(reference) or (reference and (artifact_root() / "runs" / reference).is_dir()):
        raise UpstreamReferenceError(f"{key}={reference!r} is a bare run name; write "
                                     f"'{run_reference(reference)}' (valid forms: {VALID_FORMS})")
    return reference


# transformers' ``model_type`` of the speech encoders an upstream can be (sslsv.pretrain.backbones._MODEL_TYPES)
SPEECH_MODEL_TYPES = ("hubert", "wavlm", "wav2vec2", "wav2vec2-bert")


def _looks_like_path(reference: str) -> bool:
    """A reference that can only mean a file system path (a hub name is ``name`` or ``org/name``).

    >>> [_looks_like_path(r) for r in ("/models/wavlm", "./up", "a/b/c", "microsoft/wavlm-base-plus", "x")]
    [True, True, True, False, False]
    """
    return (reference.startswith(("/", ".", "~")) or reference.count("/") > 1 or os.sep != "/" and os.sep in reference)


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with a ``.safetensors`` file's framing (header and data length), or ``None``.

    Reads the 8-byte header length and the JSON header only; a file cut short
    (a copy interrupted, a disk full) has fewer data bytes than its header
    promises.

    >>> import tempfile, torch
    >>> from safetensors.torch import save_file
    >>> f = Path(tempfile.mkdtemp()) / "model.safetensors"
    >>> save_file({"w": torch.zeros(4, 4)}, str(f))
    >>> safetensors_problem(f) is None
    True
    >>> _ = f.write_bytes(f.read_bytes()[:-10])
    >>> safetensors_problem(f)
    'truncated: 126 bytes, its header promises 136'
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"not a safetensors file ({size} bytes)"
        n = int.from_bytes(head, "little")
        if n <= 0 or 8 + n > size:
            return f"not a safetensors file (a header of {n} bytes in a file of {size})"
        try:
            header = json.loads(fh.read(n))
        except (ValueError, UnicodeDecodeError):
            return "not a safetensors file (its header is not JSON)"
    if not isinstance(header, dict):
        return "not a safetensors file (its header is not a JSON object)"
    ends = [int(v["data_offsets"][1]) for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v]
    expected = 8 + n + max(ends, default=0)
    if size < expected:
        return f"truncated: {size} bytes, its header promises {expected}"
    return None


def _nonfinite_tensors(files: list[Path]) -> tuple[list[str], int]:
    """Names of the floating-point tensors holding NaN or Inf, and how many tensors were checked."""
    import torch
    from safetensors import safe_open

    bad, n = [], 0
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for name in st.keys():
                t = st.get_tensor(name)
                n += 1
                if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                    bad.append(name)
    return bad, n


def _weight_files(path: Path) -> list[Path]:
    index = path / "model.safetensors.index.json"
    if (path / "model.safetensors").is_file():
        return [path / "model.safetensors"]
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise UpstreamReferenceError(f"{index}: unreadable shard index ({e})") from e
        return [path / s for s in shards]
    return []


def check_upstream(reference: str, key: str = "frontend.upstream") -> str:
    """Check the upstream a config key names, before any compute; returns what it resolves to.

    A directory must hold a ``config.json`` (JSON, with the ``model_type`` of
    a speech encoder: :data:`SPEECH_MODEL_TYPES`) and complete safetensors
    weights without NaN/Inf; a name that is no directory must be a
    checkpoint name transformers can find (in the local Hugging Face cache
    when offline). ``init:<backbone>:<size>`` (random weights) passes as
    it is. Every failure is one line naming the key, the path and what is
    wrong, and the forms an upstream can take.

    >>> check_upstream("/nonexistent/wavlm-base-plus")
    Traceback (most recent call last):
    ...
    sslsv.upstreams.UpstreamReferenceError: frontend.upstream='/nonexistent/wavlm-base-plus': no such directory; valid forms: ...
    """
    if random_init(reference, key) is not None:
        return reference
    if not reference:
        raise UpstreamReferenceError(f"{key} is empty: name an upstream; valid forms: {VALID_FORMS}")
    resolved = resolve_upstream_reference(reference, key)
    path = Path(resolved).expanduser()
    where = f"{key}={reference!r}"

    def fail(problem: str):
        raise UpstreamReferenceError(f"{where}: {problem}; valid forms: {VALID_FORMS}")

    if path.is_file():
        fail(f"{path} is a file; give the directory that holds config.json and model.safetensors")
    if not path.is_dir():
        if _looks_like_path(reference) or path.exists():
            fail("no such directory")
        return _check_checkpoint_name(reference, where)
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        fail(f"{path} has no config.json (not a save_pretrained directory)")
    try:
        config = json.loads(cfg_file.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        fail(f"{cfg_file} is not valid JSON ({type(e).__name__})")
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in SPEECH_MODEL_TYPES:
        fail(f"{cfg_file} has model_type {model_type!r}, not a speech encoder "
             f"(supported: {', '.join(SPEECH_MODEL_TYPES)})")
    files = _weight_files(path)
    if not files:
        fail(f"{path} has no model.safetensors (only safetensors weights are loaded)")
    for f in files:
        if not f.is_file():
            fail(f"{f} (listed in the shard index) is missing")
        problem = safetensors_problem(f)
        if problem:
            fail(f"{f} is {problem}" if problem.startswith("truncated") else f"{f}: {problem}")
    bad, n = _nonfinite_tensors(files)
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise UpstreamReferenceError(f"{where}: {len(bad)} of the {n} weight tensors of {path} hold NaN or Inf "
                                     f"({shown}); the upstream cannot be trained or scored")
    return str(path)


def _check_checkpoint_name(name: str, where: str) -> str:
    """A checkpoint name that is not a directory must be one transformers can resolve (offline: cached)."""
    from transformers import AutoConfig

    try:
        model_type = AutoConfig.from_pretrained(name, trust_remote_code=False).model_type
    except Exception as e:  # the Hub's own errors: a malformed id, offline without a cache, not found
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        why = "not in the local Hugging Face cache (HF_HUB_OFFLINE is set)" if offline else \
            f"not found ({type(e).__name__})"
        raise UpstreamReferenceError(f"{where}: not a directory, and as a checkpoint name {why}; valid forms: "
                                     f"{VALID_FORMS}") from e
    if model_type not in SPEECH_MODEL_TYPES:
        raise UpstreamReferenceError(f"{where}: checkpoint of model_type {model_type!r}, not a speech encoder "
                                     f"(supported: {', '.join(SPEECH_MODEL_TYPES)})")
    return name
