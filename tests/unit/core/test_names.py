"""The backend's model.py spells the tensor names itself (it is copied into each version and cannot
import tagstream); they must stay the names the exporter and the client use."""

from tagstream.core import names
from tagstream.trainer.triton_backend import model as backend


def test_backend_tensor_names_match_core():
    for name in (
        "TEXT_INPUT",
        "SCORES_OUTPUT",
        "TAG_NAMES_OUTPUT",
        "TAG_THRESHOLDS_OUTPUT",
        "TAG_HIERARCHY_OUTPUT",
        "ATTRIBUTES_OUTPUT",
        "ATTRIBUTE_KEYS_OUTPUT",
    ):
        assert getattr(backend, name) == getattr(names, name), name


def test_exported_config_uses_the_core_names():
    from tagstream.trainer.serving import ServingConfig

    pbtxt = ServingConfig().pbtxt()
    assert f'name: "{names.MODEL_NAME}"' in pbtxt
    for tensor in (names.TEXT_INPUT, names.SCORES_OUTPUT, names.TAG_NAMES_OUTPUT, names.TAG_THRESHOLDS_OUTPUT):
        assert f'name: "{tensor}"' in pbtxt
