"""Names shared by the exporter, the Triton backend, the worker and the tools.

The python backend (`trainer/triton_backend/model.py`) is copied into every model version and cannot
import this module; it spells the tensor names itself, and a unit test keeps the two in step.
"""

from typing import Final

#: The model's name in the Triton repository (the directory `triton_repo/<MODEL_NAME>/`).
MODEL_NAME: Final = "product_tagger"

#: Input: UTF-8 product text, BYTES [batch, 1].
TEXT_INPUT: Final = "TEXT"
#: Output: one sigmoid score per tag, FP32 [batch, n_tags].
SCORES_OUTPUT: Final = "SCORES"
#: Output: the tag names, BYTES [batch, n_tags]; clients ask for it once per version.
TAG_NAMES_OUTPUT: Final = "TAG_NAMES"
#: Output: each tag's decision threshold, FP32 [batch, n_tags]; asked once per version.
TAG_THRESHOLDS_OUTPUT: Final = "TAG_THRESHOLDS"
#: Output: the tag tree and its decoding (hierarchy.json, or empty), BYTES [batch, 1]; asked once per version.
TAG_HIERARCHY_OUTPUT: Final = "TAG_HIERARCHY"
#: Output: the attributes extracted from each text, a JSON list of {key, value, start, end, score}
#: (character offsets into the text sent), BYTES [batch, 1]; "[]" from a model without extraction.
ATTRIBUTES_OUTPUT: Final = "ATTRIBUTES"
#: Output: the keys the version extracts, a JSON list (empty: none), BYTES [batch, 1]; asked once per version.
ATTRIBUTE_KEYS_OUTPUT: Final = "ATTRIBUTE_KEYS"
