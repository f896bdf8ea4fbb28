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

import re
from pathlib import Path

from .artifacts import artifact_root
from .config import ConfigError

__all__ = ["RUN_PREFIX", "UpstreamReferenceError", "resolve_upstream_reference", "run_reference"]

RUN_PREFIX = "run:"
VALID_FORMS = "'run:<run name>' (a pre-training run under the artifact root), a directory or a checkpoint name"
_RUN_NAME = re.compile(r"[a-z][a-z_]*-[0-9a-f]{12}")  # <kind>-<config hash>, as Run names its directories


class UpstreamReferenceError(ConfigError, FileNotFoundError):
    """An upstream reference that names no upstream; the message names it and the valid forms."""


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
