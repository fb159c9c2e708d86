"""Triton python backend for the tagstream product tagger.

Self-contained: imports only numpy, torch, transformers, safetensors (and onnxruntime for ONNX
exports) from the backend's Python environment, and reads the version directory's own files.
`VersionScorer` is the model itself and runs without Triton (the benchmark measures the exported
artefact in-process with it); `TritonPythonModel` adds the request handling.

  encoder/ (config, weights, tokenizer)  head.safetensors  tagger.json  labels.json  thresholds.json
  model.onnx (ONNX exports; model.int8.onnx when quantized)
  blend.json  tfidf.json  tfidf.safetensors  tfidf_blend.py (a version that blends with TF-IDF)

Inputs:  TEXT            BYTES [batch, 1]   UTF-8 product text (tokenised here, no hub access)
Outputs: SCORES          FP32  [batch, n]   sigmoid score per tag
         ATTRIBUTES      BYTES [batch, 1]   JSON list of extracted {key, value, start, end, score} ("[]"
                                            from a version without extraction); computed only when asked
         ATTRIBUTE_KEYS  BYTES [batch, 1]   JSON list of the keys the version extracts (once per version)
         TAG_NAMES       BYTES [batch, n]   tag names (ask for it once per version, not per request)
         TAG_THRESHOLDS  FP32  [batch, n]   each tag's decision threshold
"""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path

import numpy as np

try:
    import triton_python_backend_utils as pb_utils
except ImportError:  # outside Triton's stub: VersionScorer alone (benchmarks, tests)
    pb_utils = None

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One instance per core: the tokenizer's own thread pool would only compete with the other instances.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# Tensor names: the same as tagstream.core.names (this file cannot import it; a test compares them).
TEXT_INPUT = "TEXT"
SCORES_OUTPUT = "SCORES"
TAG_NAMES_OUTPUT = "TAG_NAMES"
TAG_THRESHOLDS_OUTPUT = "TAG_THRESHOLDS"
TAG_HIERARCHY_OUTPUT = "TAG_HIERARCHY"
ATTRIBUTES_OUTPUT = "ATTRIBUTES"
ATTRIBUTE_KEYS_OUTPUT = "ATTRIBUTE_KEYS"


def decode_attributes(text: str, offsets, probs: np.ndarray, labels) -> list[dict]:
    """Spans from one text's token label probabilities (tokens x BIO labels): each maximal B/I run of
    one key, grown to whole words, scored by the mean probability of its tokens' labels. The same
    decoding as tagstream.trainer.extraction.decode (a unit test compares them)."""
    best = probs.argmax(-1)
    runs: list[list] = []  # [start, end, key, [token indexes]]
    for i, ((s, e), j) in enumerate(zip(offsets, best, strict=True)):
        if e <= s:
            continue
        tag, _, key = labels[j].partition("-")
        if tag == "B" or (tag == "I" and (not runs or runs[-1][2] != key or runs[-1][4])):
            runs.append([s, e, key, [i], False])
        elif tag == "I":
            runs[-1][1] = e
            runs[-1][3].append(i)
        elif runs:
            runs[-1][4] = True  # closed by an O
    out: list[dict] = []
    for start, end, key, _, _ in runs:
        while start > 0 and text[start - 1].isalnum():
            start -= 1
        while end < len(text) and text[end].isalnum():
            end += 1
        if out and start < out[-1]["end"]:
            continue
        inside = [i for i, (s, e) in enumerate(offsets) if e > s and start <= s < end]
        score = float(np.mean([probs[i, best[i]] for i in inside])) if inside else 0.0
        out.append({"key": key, "value": text[start:end], "start": start, "end": end, "score": round(score, 4)})
    return out


def _load_blend(version_dir: Path, tags: list[str]):
    """The version's blend with its TF-IDF reference (tfidf_blend.py, loaded from beside this file:
    Triton runs model.py outside any package), or None for a version without one."""
    if not (version_dir / "blend.json").is_file():
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("tagstream_tfidf_blend", Path(__file__).with_name("tfidf_blend.py"))
    if spec is None or spec.loader is None or not Path(spec.origin or "").is_file():
        raise VersionError("blend.json is here but tfidf_blend.py is not next to model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return module.Blend.of(version_dir, tags)
    except (module.TfidfFormatError, OSError, KeyError, ValueError) as e:
        raise VersionError(f"the TF-IDF blend cannot be loaded: {e}") from None


class VersionError(Exception):
    """The version directory cannot be served (inconsistent files)."""


class VersionScorer:
    """Tag scores for texts from one exported version directory, exactly as served: the tokenizer,
    then torch or ONNX Runtime, with `threads` intra-op threads. Needs no Triton."""

    def __init__(self, version_dir: str | Path, threads: int | None = None, device: str = "cpu"):
        import torch
        from transformers import AutoTokenizer

        self.torch = torch
        version_dir = Path(version_dir)
        cfg = json.loads((version_dir / "tagger.json").read_text(encoding="utf-8"))
        self.tags = json.loads((version_dir / "labels.json").read_text(encoding="utf-8"))["tags"]
        thr = json.loads((version_dir / "thresholds.json").read_text(encoding="utf-8"))
        self.thresholds = np.array([thr.get("per_tag", {}).get(t, thr["global"]) for t in self.tags], dtype=np.float32)
        self.max_length = int(cfg["max_length"])
        self.extract_labels = list(cfg.get("extract_labels") or [])
        self.attribute_keys = [label[2:] for label in self.extract_labels if label.startswith("B-")]
        self.extract_head = None
        hierarchy = version_dir / "hierarchy.json"  # the tag tree and its decoding, for the clients
        self.hierarchy_json = hierarchy.read_text(encoding="utf-8") if hierarchy.is_file() else ""
        # Characters kept before tokenising: generous for max_length tokens, and bounds the work a
        # huge input can cause.
        self.max_chars = self.max_length * 32
        if threads:
            torch.set_num_threads(threads)
        self.tokenizer = AutoTokenizer.from_pretrained(version_dir / "encoder", local_files_only=True)
        self.runtime = cfg.get("runtime", "torch")
        n_tags = len(self.tags)
        if self.runtime == "onnx" and self.extract_labels:
            raise VersionError("attribute extraction is served by the torch runtime only (export with --backend torch)")
        if self.runtime == "onnx":
            import onnxruntime as ort

            name = "model.int8.onnx" if cfg.get("quantize") == "int8" else "model.onnx"
            opts = ort.SessionOptions()
            if threads:
                opts.intra_op_num_threads = threads
            # On a GPU instance with onnxruntime-gpu, CUDA first; ONNX Runtime runs what CUDA lacks
            # (the int8 graph's quantized ops) on the CPU.
            providers: list = ["CPUExecutionProvider"]
            if device.startswith("cuda"):
                if "CUDAExecutionProvider" not in ort.get_available_providers():
                    raise VersionError(
                        "this is a KIND_GPU instance, but onnxruntime has no CUDA provider here: install "
                        "onnxruntime-gpu in Triton's image, or export with --instance-kind cpu"
                    )
                providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(device.partition(":")[2] or 0)}))
            self.session = ort.InferenceSession(str(version_dir / name), opts, providers=providers)
            out_dim = self.session.get_outputs()[0].shape[-1]
            if isinstance(out_dim, int) and out_dim != n_tags:
                raise VersionError(f"{name} has {out_dim} outputs but labels.json has {n_tags} tags")
        else:
            from safetensors.torch import load_file
            from transformers import AutoModel

            if device.startswith("cuda") and not torch.cuda.is_available():
                raise VersionError(
                    f"this is a KIND_GPU instance, but torch {torch.__version__} cannot use CUDA here (a CPU build, "
                    "or no GPU visible): install a CUDA build of torch in Triton's image, or export with "
                    "--instance-kind cpu"
                )
            self.device = device
            self.encoder = AutoModel.from_pretrained(version_dir / "encoder", local_files_only=True).float().eval()
            head = load_file(str(version_dir / "head.safetensors"))
            hidden = self.encoder.config.hidden_size
            if tuple(head["weight"].shape) != (n_tags, hidden):
                raise VersionError(
                    f"head.safetensors has shape {tuple(head['weight'].shape)}, "
                    f"expected ({n_tags}, {hidden}) from labels.json and the encoder"
                )
            self.head = torch.nn.Linear(hidden, n_tags)
            self.head.load_state_dict(head)
            self.head.eval()
            if self.extract_labels:
                extract = load_file(str(version_dir / "extract.safetensors"))
                if tuple(extract["weight"].shape) != (len(self.extract_labels), hidden):
                    raise VersionError(
                        f"extract.safetensors has shape {tuple(extract['weight'].shape)}, expected "
                        f"({len(self.extract_labels)}, {hidden}) from tagger.json and the encoder"
                    )
                self.extract_head = torch.nn.Linear(hidden, len(self.extract_labels))
                self.extract_head.load_state_dict(extract)
                self.extract_head.eval().to(device)
            if cfg.get("quantize") == "int8":
                self.encoder = torch.ao.quantization.quantize_dynamic(
                    self.encoder, {torch.nn.Linear}, dtype=torch.qint8
                )
                self.head = torch.ao.quantization.quantize_dynamic(
                    torch.nn.Sequential(self.head), {torch.nn.Linear}, dtype=torch.qint8
                )
            self.encoder.to(self.device)
            self.head.to(self.device)
        self.blend = _load_blend(version_dir, self.tags)

    def _blended(self, texts: list[str], scores: np.ndarray) -> np.ndarray:
        return self.blend(texts, scores) if self.blend is not None else scores

    def scores(self, texts: list[str]) -> np.ndarray:
        """Sigmoid scores, one row per text, one column per tag (texts longer than max_chars are cut)."""
        return self.score_all(texts, attributes=False)[0]

    def score_all(self, texts: list[str], attributes: bool = True) -> tuple[np.ndarray, list[list[dict]]]:
        """Scores and, from a version that extracts (and when asked), each text's attributes (one
        encoder pass for both; offsets are into the text as sent)."""
        torch = self.torch
        extracting = attributes and self.extract_head is not None
        if not texts:
            return np.zeros((0, len(self.tags)), dtype=np.float32), []
        full, texts = texts, [t[: self.max_chars] for t in texts]
        enc = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="np",
            return_offsets_mapping=extracting,
        )
        ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
        if self.runtime == "onnx":
            scores = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0].astype(np.float32)
            return self._blended(full, scores), [[] for _ in texts]
        with torch.inference_mode():
            ids_t = torch.from_numpy(ids).to(self.device)
            mask_t = torch.from_numpy(mask).to(self.device)
            hidden = self.encoder(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
            m = mask_t.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            scores = self._blended(full, torch.sigmoid(self.head(pooled)).float().cpu().numpy())
            if not extracting:
                return scores, [[] for _ in texts]
            probs = torch.softmax(self.extract_head(hidden).float(), -1).cpu().numpy()
        found = []
        for i, text in enumerate(texts):
            n = int(mask[i].sum())
            offsets = [tuple(int(x) for x in o) for o in enc["offset_mapping"][i][:n]]
            found.append(decode_attributes(text, offsets, probs[i, :n], self.extract_labels))
        return scores, found


class TritonPythonModel:
    def initialize(self, args):
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.version = args["model_version"]
        params = json.loads(args.get("model_config", "{}")).get("parameters", {})
        threads = params.get("torch_threads", {}).get("string_value")
        device = (
            f"cuda:{args.get('model_instance_device_id', '0')}" if args.get("model_instance_kind") == "GPU" else "cpu"
        )
        try:
            self.scorer = VersionScorer(version_dir, int(threads) if threads else None, device)
        except VersionError as e:
            raise pb_utils.TritonModelException(str(e)) from None
        self.tags = self.scorer.tags
        self.thresholds = self.scorer.thresholds
        self._tag_names = np.array([t.encode("utf-8") for t in self.tags], dtype=np.object_)
        self._hierarchy = np.array([self.scorer.hierarchy_json.encode("utf-8")], dtype=np.object_)
        self._attribute_keys = np.array([json.dumps(self.scorer.attribute_keys).encode("utf-8")], dtype=np.object_)
        # torch + transformers leave millions of long-lived objects; without this, each full GC
        # pass walks them all and stalls a request for ~0.5 s every second or so under load.
        gc.collect()
        gc.freeze()

    def _decode(self, request):
        tensor = pb_utils.get_input_tensor_by_name(request, TEXT_INPUT)
        if tensor is None:
            raise ValueError(f"input {TEXT_INPUT} is missing")
        arr = tensor.as_numpy().reshape(-1)
        texts = []
        for i, raw in enumerate(arr):
            if isinstance(raw, bytes):
                try:
                    raw = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise ValueError(f"{TEXT_INPUT}[{i}] is not valid UTF-8 ({e.reason} at byte {e.start})") from None
            texts.append(str(raw))
        return texts

    def execute(self, requests):
        responses = [None] * len(requests)
        decoded = []
        for r, request in enumerate(requests):
            try:
                decoded.append((r, self._decode(request)))
            except ValueError as e:
                responses[r] = pb_utils.InferenceResponse(error=pb_utils.TritonError(f"bad input: {e}"))
        flat = [t for _, texts in decoded for t in texts]
        want_attributes = any(ATTRIBUTES_OUTPUT in (requests[r].requested_output_names() or ()) for r, _ in decoded)
        try:
            scores, attributes = self.scorer.score_all(flat, attributes=want_attributes)
        except Exception as e:  # noqa: BLE001 - keep serving: fail these requests, not the model
            for r, _ in decoded:
                responses[r] = pb_utils.InferenceResponse(error=pb_utils.TritonError(f"inference failed: {e}"))
            return responses
        start = 0
        for r, texts in decoded:
            n = len(texts)
            wanted = set(requests[r].requested_output_names() or (SCORES_OUTPUT,))
            outputs = []
            if SCORES_OUTPUT in wanted:
                outputs.append(pb_utils.Tensor(SCORES_OUTPUT, scores[start : start + n]))
            if TAG_NAMES_OUTPUT in wanted:
                outputs.append(pb_utils.Tensor(TAG_NAMES_OUTPUT, np.tile(self._tag_names, (n, 1))))
            if TAG_THRESHOLDS_OUTPUT in wanted:
                outputs.append(pb_utils.Tensor(TAG_THRESHOLDS_OUTPUT, np.tile(self.thresholds, (n, 1))))
            if TAG_HIERARCHY_OUTPUT in wanted:
                outputs.append(pb_utils.Tensor(TAG_HIERARCHY_OUTPUT, np.tile(self._hierarchy, (n, 1))))
            if ATTRIBUTE_KEYS_OUTPUT in wanted:
                outputs.append(pb_utils.Tensor(ATTRIBUTE_KEYS_OUTPUT, np.tile(self._attribute_keys, (n, 1))))
            if ATTRIBUTES_OUTPUT in wanted:
                rows = attributes[start : start + n] if attributes else [[] for _ in range(n)]
                found = np.array([[json.dumps(a, ensure_ascii=False).encode("utf-8")] for a in rows], dtype=np.object_)
                outputs.append(pb_utils.Tensor(ATTRIBUTES_OUTPUT, found.reshape(n, 1)))
            responses[r] = pb_utils.InferenceResponse(output_tensors=outputs)
            start += n
        return responses

    def finalize(self):
        self.scorer = None
