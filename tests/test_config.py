import pytest

from sslsv.config import (PROFILES, ConfigError, OptimConfig, SVConfig, config_hash, from_dict, override,
                          resolve, to_dict, valid_keys)


def test_profiles_resolve_and_differ():
    smoke, cpu = resolve("smoke"), resolve("cpu")
    assert smoke.train.steps < cpu.train.steps
    assert config_hash(smoke) != config_hash(cpu)
    assert resolve("paper").corpus.source == "voxceleb1"


def test_profile_keys_are_valid():
    keys = set(valid_keys(SVConfig()))
    for name, values in PROFILES.items():
        for key in values:
            head = key.split(".")[0]
            if head in {f for f in SVConfig.__dataclass_fields__}:
                assert key in keys, (name, key)


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as e:
        resolve("smoke", {"train.stpes": 3})
    assert "train.stpes" in str(e.value) and "steps" in str(e.value)


def test_unknown_section_and_profile():
    with pytest.raises(ConfigError, match="valid keys: corpus, device, ecapa, eval, features, frontend, train"):
        resolve("smoke", {"trian.steps": 3})
    with pytest.raises(ConfigError, match="unknown profile 'cpuu'"):
        resolve("cpuu")


@pytest.mark.parametrize("key,value", [("train.steps", "many"), ("train.lr", True), ("features.mean_norm", 1),
                                       ("eval.p_targets", 0.01)])
def test_ill_typed_value_names_key(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        resolve("smoke", {key: value})


def test_section_cannot_be_set_as_value():
    with pytest.raises(ConfigError, match="is a section"):
        resolve("smoke", {"train": 3})


def test_nested_and_dotted_overrides_agree():
    a = resolve("smoke", {"train.steps": 9, "corpus.seed": 4})
    b = resolve("smoke", {"train": {"steps": 9}, "corpus": {"seed": 4}})
    assert a == b


def test_int_to_float_and_list_to_tuple():
    cfg = override(SVConfig(), {"train.lr": 1, "eval.p_targets": [0.01, 0.1]})
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.eval.p_targets == (0.01, 0.1)


def test_configs_are_frozen():
    with pytest.raises(Exception):
        OptimConfig().steps = 3  # type: ignore[misc]


def test_dict_round_trip():
    cfg = resolve("cpu", {"train.seed": 3})
    assert from_dict(SVConfig, to_dict(cfg)) == cfg


def test_a_profile_key_that_no_config_has_is_refused(monkeypatch):
    """A typo in a profile is an error, not a setting silently dropped."""
    from sslsv import config

    for profile in config.PROFILES:  # the real profiles hold only real keys
        config.resolve(profile)
        config.resolve(profile, base=config.PretrainExperimentConfig())
    monkeypatch.setitem(config.PROFILES, "smoke", {**config.PROFILES["smoke"], "train.stpes": 3})
    with pytest.raises(config.ConfigError, match=r"profile 'smoke' sets 'train.stpes', which no config has"):
        config.resolve("smoke")


def test_the_study_section_of_a_profile_is_strict(monkeypatch):
    """Every per-profile study setting lives in PROFILES under study.*, checked like a config."""
    from sslsv import config
    from sslsv.config import study_settings

    for profile in config.PROFILES:
        s = study_settings(profile)
        assert s.seeds and s.modes and len(s.data_scale_hours) >= 4 and len(s.model_sizes) >= 3
    assert study_settings("cpu").sv.overrides() == {"train.steps": 150, "train.batch_size": 32, "train.warmup_steps": 20,
                                              "train.checkpoint_every": 50}
    assert study_settings("paper").sv.overrides() == {}  # the paper's studies use the profile's own schedule
    assert study_settings("paper").modes == ("frozen", "fine-tuned") and not study_settings("paper").cache_features
    land = study_settings("smoke").landscape.kwargs()
    assert len(land["alphas"]) == 7 and land["alphas"][0] == -1.0 and land["hessian_seeds"] == (0,)

    smoke = dict(config.PROFILES["smoke"])
    monkeypatch.setitem(config.PROFILES, "smoke", {**smoke, "study.seedz": (0,)})
    with pytest.raises(config.ConfigError, match=r"profile 'smoke', study section: unknown key 'study.seedz'; "
                                                        r"valid keys under 'study': "):
        config.resolve("smoke")  # resolving any config checks the study section too
    monkeypatch.setitem(config.PROFILES, "smoke", {**smoke, "study.seeds": "0"})
    with pytest.raises(config.ConfigError, match=r"key 'study.seeds' expects tuple"):
        study_settings("smoke")
    monkeypatch.setitem(config.PROFILES, "smoke", {**smoke, "study.modes": ("frozn",)})
    with pytest.raises(config.ConfigError, match=r"unknown mode 'frozn' \(key 'study.modes\[0\]'\); valid modes: frozen, fine-tuned"):
        study_settings("smoke")


def test_a_key_added_later_keeps_earlier_run_hashes_only_at_its_neutral_value(monkeypatch):
    """HASH_NEUTRAL: every listed key is a real key whose neutral value the configs accept; at that value the
    hash is the hash of the config without the key (the runs cached before it existed), at any other it differs."""
    from sslsv import config

    for dotted, neutral in config.HASH_NEUTRAL.items():
        base = next((b for b in (config.SVConfig(), config.PretrainExperimentConfig()) if config._has_key(b, dotted)),
                    None)
        assert base is not None, f"HASH_NEUTRAL names {dotted!r}, which no config has"
        cfg = config.override(base, {dotted: neutral})
        *head, last = dotted.split(".")
        old = config.to_dict(cfg)
        node = old
        for part in head:
            node = node[part]
        del node[last]
        assert config.config_hash(cfg) == config.config_hash(old)

    monkeypatch.setitem(config.HASH_NEUTRAL, "train.aam_margin", 0.2)
    before = config.to_dict(config.SVConfig())
    del before["train"]["aam_margin"]
    assert config.config_hash(config.SVConfig()) == config.config_hash(before)
    assert config.config_hash(config.SVConfig(train=config.SVTrainConfig(aam_margin=0.3))) != config.config_hash(before)


def test_choice_fields_are_literals_checked_where_values_are_coerced():
    """source, kind, backbone, objective, quantizer and device name their valid values in the type, and the
    Literals list exactly the registries' names (in the registries' order, which the errors print)."""
    import typing

    from sslsv import config
    from sslsv.pretrain.backbones import BACKBONES
    from sslsv.pretrain.objectives import OBJECTIVES
    from sslsv.pretrain.quantizers import QUANTIZERS

    assert typing.get_args(config.Backbone) == tuple(BACKBONES)
    assert typing.get_args(config.Objective) == tuple(OBJECTIVES)
    assert typing.get_args(config.Quantizer) == tuple(QUANTIZERS)
    for key, bad, message in [
        ("corpus.source", "vox2", "unknown source 'vox2' (key 'corpus.source'); valid sources: synthetic, voxceleb1"),
        ("frontend.kind", "mfcc", "valid front-ends: fbank, ssl"),
        ("device", "gpu", "device='gpu' is not a device; valid devices: cpu, cuda, cuda:<index>, auto"),
        ("device", 3, "key 'device' expects str"),
    ]:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            resolve("smoke", {key: bad})
    for key, bad in [("pretrain.backbone", "bert"), ("pretrain.objective", "bert"), ("pretrain.quantizer", "vq")]:
        with pytest.raises(ConfigError, match=f"valid {key.split('.')[1]}s: "):
            resolve("smoke", {key: bad}, base=config.PretrainExperimentConfig())
    assert resolve("smoke", {"device": "cuda:1"}).device == "cuda:1"
    # a config built directly is checked by validate, with the same function and message
    with pytest.raises(ConfigError, match="valid objectives: masked"):
        config.validate(config.PretrainExperimentConfig(pretrain=config.PretrainConfig(objective="bert")))
