"""Upstream references: run:<name>, a directory or a checkpoint name; a bare run name is refused."""

from __future__ import annotations

import pytest

from sslsv.pretrain import build_upstream, pretrain
from sslsv.upstreams import UpstreamReferenceError, resolve_upstream_reference


def test_run_reference_resolves_to_the_runs_upstream(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    up = tmp_path / "runs" / "pretrain-0123456789ab" / "upstream"
    build_upstream("hubert", "tiny").save_pretrained(up)
    assert resolve_upstream_reference("run:pretrain-0123456789ab") == str(up)
    assert resolve_upstream_reference(str(up)) == str(up.resolve())  # a directory
    assert resolve_upstream_reference("facebook/hubert-base-ls960") == "facebook/hubert-base-ls960"  # a hub name
    with pytest.raises(UpstreamReferenceError, match=r"'pretrain-0123456789ab' is a bare run name; write "
                                                     r"'run:pretrain-0123456789ab'"):
        resolve_upstream_reference("pretrain-0123456789ab")


def test_missing_or_bare_runs_name_the_reference_and_the_valid_forms(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    with pytest.raises(UpstreamReferenceError, match=r"frontend.upstream='run:pretrain-nothere'.*no saved upstream"
                                                     r".*valid forms: 'run:<run name>'") as e:
        resolve_upstream_reference("run:pretrain-nothere", "frontend.upstream")
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, ValueError)
    (tmp_path / "runs" / "sv-old").mkdir(parents=True)  # any run directory's bare name
    with pytest.raises(UpstreamReferenceError, match="write 'run:sv-old'"):
        resolve_upstream_reference("sv-old")


def test_kmeans_source_takes_the_same_references(pretrain_config):
    cfg = pretrain_config({"pretrain.quantizer": "kmeans_hidden", "pretrain.kmeans_source": "pretrain-0123456789ab"})
    with pytest.raises(UpstreamReferenceError, match=r"pretrain.kmeans_source='pretrain-0123456789ab' is a bare run "
                                                     r"name; write 'run:pretrain-0123456789ab'"):
        pretrain(cfg, progress=False)
    cfg = pretrain_config({"pretrain.quantizer": "kmeans_hidden", "pretrain.kmeans_source": "run:pretrain-nothere"})
    with pytest.raises(UpstreamReferenceError, match="pretrain.kmeans_source='run:pretrain-nothere'"):
        pretrain(cfg, progress=False)


def test_a_random_init_reference_is_parsed_once_and_a_malformed_one_is_refused_by_key():
    from sslsv.config import ConfigError
    from sslsv.upstreams import RandomInit, check_upstream, random_init

    assert random_init(RandomInit("wavlm", "micro").reference) == RandomInit("wavlm", "micro")
    assert check_upstream("init:hubert:tiny") == "init:hubert:tiny"
    for bad in ("init:hubert", "init:bert:tiny", "init:hubert:", "init:hubert:tiny:x"):
        with pytest.raises(ConfigError, match=f"frontend.upstream='{bad}' is not 'init:<backbone>:<size>'"):
            check_upstream(bad)
