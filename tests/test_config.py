import pytest

from monosem_lib.config import PROFILES, get_config, parse_overrides, valid_keys


def test_profiles_differ_and_classroom_has_paper_dims():
    cfg = get_config("classroom")
    assert (cfg.lm.d_model, cfg.lm.d_mlp) == (128, 512)
    assert get_config("smoke").lm.d_model < cfg.lm.d_model
    assert {"smoke", "classroom", "full", "paper"} == set(PROFILES)
    full = get_config("full")                          # the classroom's shapes, 4x the LM tokens and SAE activations
    assert (full.lm.d_model, full.sae.n_features) == (cfg.lm.d_model, cfg.sae.n_features)
    assert full.lm_train.max_steps == 4 * cfg.lm_train.max_steps and full.sae.n_acts >= 4 * cfg.sae.n_acts
    assert full.harvest.n_rows >= full.sae.n_acts and full.eval.n_tokens >= cfg.eval.n_tokens


def test_override_is_coerced_to_the_default_type():
    cfg = get_config("smoke", parse_overrides(["lm_train.max_steps=7", "lm_train.lr=0.01"]))
    assert cfg.lm_train.max_steps == 7 and isinstance(cfg.lm_train.max_steps, int)
    assert cfg.lm_train.lr == 0.01


def test_vocab_follows_tokenizer():
    assert get_config("classroom", {"tokenizer.vocab_size": 1000}).lm.vocab_size == 1000


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ValueError, match="valid profiles: smoke, classroom, full, paper"):
        get_config("huge")


def test_unknown_setting_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown setting 'lm.width'.*lm.d_model"):
        get_config("smoke", {"lm.width": 3})
    assert "lm_train.max_steps" in valid_keys()


def test_bad_override_values():
    with pytest.raises(ValueError, match=r"lm_train.lr='fast' is not valid: it must be a finite number > 0"):
        get_config("smoke", {"lm_train.lr": "fast"})
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["lm_train.lr"])
    with pytest.raises(ValueError, match="divisible"):
        get_config("smoke", {"lm.n_heads": 3})


def test_every_setting_has_a_rule_beside_it_and_every_profile_keeps_the_rules():
    from monosem_lib.config import rule
    for key in valid_keys():
        assert rule(key).describe(), key                    # a TypeError here names a field without a rule
    for name, overrides in PROFILES.items():
        assert set(overrides) <= set(valid_keys()), name     # profiles are data: only known settings
        get_config(name)                                     # every value checked against its rule


def test_a_setting_without_a_rule_is_an_error_not_a_silent_pass():
    import dataclasses

    from monosem_lib.setting_rules import validate_stage

    @dataclasses.dataclass
    class Loose:
        width: int = 3
    with pytest.raises(TypeError, match="setting toy.width has no rule"):
        validate_stage("toy", Loose())
