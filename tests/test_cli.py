from sslsv.cli import main, parse_sets


def test_parse_sets():
    assert parse_sets(["a.b=1", "c=[1, 2]", "d=text"]) == {"a.b": 1, "c": [1, 2], "d": "text"}


def test_misspelled_key_is_a_clear_error(capsys):
    assert main(["baseline", "--profile", "smoke", "--set", "train.stpes=3"]) == 2
    err = capsys.readouterr().err
    assert "train.stpes" in err and "valid keys" in err


def test_ill_typed_value_is_a_clear_error(capsys):
    assert main(["corpus", "--profile", "smoke", "--set", "corpus.n_trials=many"]) == 2
    assert "corpus.n_trials" in capsys.readouterr().err


def test_set_without_equals(capsys):
    assert main(["corpus", "--profile", "smoke", "--set", "corpus.n_trials"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_book_rejects_unknown_notebook_parameter(capsys):
    assert main(["book", "--profile", "smoke", "--notebooks", "01_baseline", "--output-dir", "/tmp/x",
                 "--set", "seedz=[1]"]) == 2
    err = capsys.readouterr().err
    assert "seedz" in err and "valid parameters" in err and "seeds" in err


def test_study_refuses_bad_keys_and_data_roots_before_any_compute(capsys, tmp_path):
    assert main(["study", "objective", "--profile", "smoke", "--pretrain-set", "pretrain.objectiv=ctc"]) == 2
    assert "pretrain.objectiv" in capsys.readouterr().err
    assert main(["study", "model_size", "--profile", "paper", "--set",
                 f"corpus.voxceleb_root={tmp_path / 'missing'}"]) == 2
    err = capsys.readouterr().err
    assert "corpus.voxceleb_root" in err and "does not exist" in err
    assert list(tmp_path.iterdir()) == []
