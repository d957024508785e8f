import pytest

from molere.errors import MolereError
from molere.params import Params
from molere.schema import RankConfig, StudyConfig, ValsetsConfig, section


def test_typed_access_and_defaults():
    params = Params({"train": {"epochs": 3, "lr": 1, "flag": True}})
    assert params.get("train.epochs", int) == 3
    assert params.get("train.lr", float) == 1
    assert params.get("train.missing", int, 7) == 7
    assert params.section("train").get("flag", bool) is True


def test_missing_key_names_it():
    with pytest.raises(MolereError, match=r"params.yaml: missing key 'train.epochs'"):
        Params({"train": {}}).get("train.epochs", int)


@pytest.mark.parametrize("value", ["five", True, 2.5])
def test_mistyped_key_names_value_and_type(value):
    with pytest.raises(MolereError, match=r"train.epochs = .* should be of type int"):
        Params({"train": {"epochs": value}}).get("train.epochs", int)


def test_malformed_yaml_is_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(MolereError) as err:
        Params.load(path)
    assert str(err.value).startswith(f"malformed {path}") and "\n" not in str(err.value)


def test_override_sets_nested_keys():
    params = Params({"train": {"epochs": 3}}).override("train.epochs", 5).override("a.b", 1)
    assert params.data == {"train": {"epochs": 5}, "a": {"b": 1}}


def test_a_section_takes_its_declared_defaults_for_absent_keys():
    assert section(Params({}), ValsetsConfig) == ValsetsConfig(fraction=0.1, stratified=True)
    assert section(Params({"valsets": {"stratified": False}}), ValsetsConfig) == ValsetsConfig(fraction=0.1, stratified=False)
    assert section(Params({"rank": None}), RankConfig).folds == 5
    with pytest.raises(MolereError, match=r"^valsets.fraction = 0.7 is outside the allowed range \(0, 0.5\]$"):
        section(Params({"valsets": {"fraction": 0.7}}), ValsetsConfig)


def test_a_stage_reads_only_the_fields_it_declares():
    params = Params({"study": {"trials": [0, 1], "seeds": [3]}, "valsets": {"fraction": 0.2}})
    select = params.restricted(("study.trials", "study.selection"), owner="stage select")
    study = section(select, StudyConfig)
    assert study.trials == (0, 1) and study.selection == "selection"  # the latter its default
    with pytest.raises(MolereError, match=r"^stage select reads params key 'study.seeds' but declares only study.trials, study.selection$"):
        study.seeds
    with pytest.raises(MolereError, match=r"^stage select reads params key 'valsets' but declares only study.trials, study.selection$"):
        section(select, ValsetsConfig)
    assert section(params.restricted(("valsets",), owner="stage valsets"), ValsetsConfig) == ValsetsConfig(fraction=0.2)
