import pytest

from molere.errors import MolereError
from molere.params import Params


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
