"""The tagger served by a real tritonserver (from the nvidia-pytriton wheel, on CPU), on free ports."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from tagstream.clients.errors import ModelLoadError
from tagstream.clients.publish import publish
from tagstream.core.names import MODEL_NAME as MODEL
from tagstream.core.repository import model_versions
from tagstream.localstack.ports import free_port
from tagstream.localstack.triton import TritonServer
from tagstream.stream.errors import BadInput
from tagstream.stream.settings import WorkerSettings
from tagstream.stream.triton_client import TritonInference
from tagstream.trainer.export import export_model
from tagstream.trainer.predict import LocalModel
from tests.conftest import tagstream

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def repo(tiny_model, tmp_path_factory):
    repo = tmp_path_factory.mktemp("triton_repo")
    export_model(tiny_model, repo)
    return repo


@pytest.fixture(scope="module")
def server(repo, tmp_path_factory):
    srv = TritonServer(repo, tmp_path_factory.mktemp("triton_work"), load_models=(MODEL,))
    srv.start()
    srv.wait_model_ready(MODEL)
    yield srv
    srv.stop()


def run(coro):
    return asyncio.run(coro)


async def _with_client(server, fn, **kw):
    async with TritonInference.from_settings(WorkerSettings(triton_url=server.grpc_url, **kw)) as client:
        return await fn(client)


def test_scores_match_in_process_model(server, tiny_model, sample_texts):
    want = LocalModel(tiny_model).scores(sample_texts)
    batch = run(_with_client(server, lambda c: c.infer(sample_texts)))
    assert batch.scores.shape == want.shape
    np.testing.assert_allclose(batch.scores, want, atol=1e-4)
    assert batch.model.version == "1"
    assert list(batch.model.tags) == LocalModel(tiny_model).vocab.tags


def test_tags_match_in_process_thresholds(server, tiny_model, sample_texts):
    want = LocalModel(tiny_model).tags(sample_texts[:10])
    got, info = run(_with_client(server, lambda c: c.tag(sample_texts[:10])))
    assert [[t for t, _ in row] for row in got] == [[t for t, _ in row] for row in want]


def test_bad_inputs_get_clear_errors_and_server_stays_up(server):
    async def go(c):
        ok = await c.infer(["", "x" * 100_000])  # empty and 100 KB texts are valid input
        assert ok.scores.shape[0] == 2 and np.isfinite(ok.scores).all()
        with pytest.raises(BadInput, match="not valid UTF-8"):
            await c.infer([b"\xff\xfe\xfa broken"])
        with pytest.raises(BadInput, match="empty batch"):
            await c.infer([])
        # an empty batch sent to the server directly is refused by Triton itself
        inp = grpcclient.InferInput("TEXT", [0, 1], "BYTES")
        inp.set_data_from_numpy(np.zeros((0, 1), dtype=np.object_))
        with pytest.raises(InferenceServerException, match="TEXT"):
            await c._client.infer(MODEL, [inp])
        # a mixed batch: one bad request does not fail the good ones batched with it
        results = await asyncio.gather(
            c.infer(["fine"]), c.infer([b"\xc3\x28"]), c.infer(["also fine"]), return_exceptions=True
        )
        assert not isinstance(results[0], Exception) and not isinstance(results[2], Exception)
        assert isinstance(results[1], BadInput)
        assert await c.ready()

    run(_with_client(server, go))
    assert server.running


def test_hot_swap_under_load_has_no_failed_requests(server, repo, tiny_model, sample_texts):
    async def go(c):
        stop = asyncio.Event()
        stats = {"answers": [], "fail": []}  # answers: (sent at, answered at, version)

        async def load():
            i = 0
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    b = await c.infer(sample_texts[i % 20 : i % 20 + 4])
                    stats["answers"].append((sent, time.monotonic(), b.model.version))
                except Exception as e:  # noqa: BLE001 - counted and reported
                    stats["fail"].append(repr(e))
                i += 1

        tasks = [asyncio.create_task(load()) for _ in range(4)]
        await asyncio.sleep(1.0)
        version, _ = await asyncio.to_thread(export_model, tiny_model, repo)
        assert version == 2
        res = await asyncio.to_thread(publish, server.http_url)
        published_at = time.monotonic()
        assert await c.ready_versions() == [1, 2]  # the policy keeps the newest two loaded
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*tasks)
        return res, stats, published_at

    res, stats, published_at = run(_with_client(server, go, triton_timeout_s=60))
    answers = stats["answers"]
    assert res.serving_version == 2 and res.previous_version == 1
    assert stats["fail"] == [], stats["fail"][:3]
    assert len(answers) > 20
    assert answers[0][2] == "1" and answers[-1][2] == "2"
    # Requests already queued on version 1 may finish after version 2's first answer (the old
    # version drains), but a request sent after version 2 answered once, or after publish
    # returned, must be answered by version 2.
    first2_answered = min(done for _, done, v in answers if v == "2")
    late = [v for sent, _, v in answers if sent > first2_answered or sent > published_at]
    assert late and set(late) == {"2"}, late[:10]


def test_broken_version_is_rejected_and_old_version_keeps_serving(server, repo, sample_texts):
    root = repo / MODEL
    broken = root / str(model_versions(root)[-1] + 1)
    shutil.copytree(root / "2", broken)
    (broken / "head.safetensors").unlink()
    try:
        with pytest.raises(ModelLoadError, match=r"version 2 keeps serving.*head.safetensors"):
            publish(server.http_url)
        batch = run(_with_client(server, lambda c: c.infer(sample_texts[:3])))
        assert batch.model.version == "2"
        # wrong shapes: labels.json lists fewer tags than the head has
        shutil.copytree(root / "2", broken, dirs_exist_ok=True)
        labels = (broken / "labels.json").read_text()
        obj = json.loads(labels)
        obj["tags"] = obj["tags"][:-1]
        (broken / "labels.json").write_text(json.dumps(obj))
        with pytest.raises(ModelLoadError, match="expected"):
            publish(server.http_url)
        assert run(_with_client(server, lambda c: c.infer(sample_texts[:3]))).model.version == "2"
        shutil.rmtree(broken)
        # a bad config.pbtxt (model level) is rejected too, and version 2 keeps serving
        good_config = (root / "config.pbtxt").read_text()
        (root / "config.pbtxt").write_text(good_config.replace("max_batch_size: 64", "max_batch_size: lots"))
        try:
            with pytest.raises(ModelLoadError, match="keeps serving"):
                publish(server.http_url)
        finally:
            (root / "config.pbtxt").write_text(good_config)
        assert run(_with_client(server, lambda c: c.infer(sample_texts[:3]))).model.version == "2"
    finally:
        shutil.rmtree(broken, ignore_errors=True)


@pytest.fixture(scope="module")
def blended_model(tiny_model, tmp_path_factory):
    """The tiny model blended half and half with a TF-IDF reference fitted on its train items."""
    from tagstream.core.artifact import TagVocabulary
    from tagstream.trainer.baselines import TfidfBaseline
    from tagstream.trainer.blend import write_blend
    from tagstream.trainer.data import load_dataset
    from tests.conftest import EXAMPLES

    model = tmp_path_factory.mktemp("blended") / "model"
    shutil.copytree(tiny_model, model)
    vocab = TagVocabulary.load(model)
    train = load_dataset(EXAMPLES / "catalogue.train.jsonl", max_items=300)
    val = load_dataset(EXAMPLES / "catalogue.val.jsonl", max_items=100)
    y, y_val = vocab.encode(train.tag_lists), vocab.encode(val.tag_lists)
    (model / "references").mkdir()
    TfidfBaseline(n_jobs=1).fit(train.texts, y, val.texts, y_val, vocab.tags).save(model / "references")
    write_blend(model, 0.5, "references")
    return model


def test_triton_serves_the_blend_the_model_directory_scores(
    server, repo, blended_model, tiny_model, sample_texts, tmp_path
):
    """A blended version is scored inside Triton: the worker's client gets the blend's scores (numpy
    TF-IDF beside the transformer, in the version directory) without changing anything."""
    from tagstream.trainer.triton_backend.model import VersionError, VersionScorer

    version, path = export_model(blended_model, repo)
    assert {"blend.json", "tfidf.json", "tfidf.safetensors", "tfidf_blend.py"} <= {p.name for p in path.iterdir()}
    assert json.loads((path / "blend.json").read_text())["tfidf_dir"] == "."
    publish(server.http_url)
    batch = run(_with_client(server, lambda c: c.infer(sample_texts)))
    assert batch.model.version == str(version)
    local = LocalModel(blended_model)
    assert local.blend is not None
    np.testing.assert_allclose(batch.scores, local.scores(sample_texts), atol=1e-4)
    plain = LocalModel(tiny_model).scores(sample_texts)
    assert np.abs(batch.scores - plain).max() > 0.01  # the blend moved the scores
    # `export --no-blend`: the fine-tuned model alone
    _, alone = export_model(blended_model, tmp_path, blend=False)
    assert not (alone / "blend.json").exists() and not (alone / "tfidf.safetensors").exists()
    np.testing.assert_allclose(VersionScorer(alone, threads=1).scores(sample_texts), plain, atol=1e-4)
    # a blended version whose TF-IDF file is missing cannot load (Triton refuses it as for any
    # VersionError; test_broken_version_is_rejected... shows the old version keeps serving then)
    (path / "tfidf.safetensors").rename(path.parent / "moved.safetensors")
    try:
        with pytest.raises(VersionError, match="TF-IDF blend cannot be loaded"):
            VersionScorer(path, threads=1)
    finally:
        (path.parent / "moved.safetensors").rename(path / "tfidf.safetensors")


def test_onnx_export_matches_torch(tiny_model, tmp_path):
    version, path = export_model(tiny_model, tmp_path, backend="onnx")
    cfg = json.loads((path / "tagger.json").read_text())
    assert cfg["runtime"] == "onnx" and cfg["onnx_max_abs_diff"] < 1e-4
    assert (path / "model.onnx").is_file() and not (path / "encoder" / "model.safetensors").exists()
    _, qpath = export_model(tiny_model, tmp_path, backend="onnx", quantize="int8")
    assert (qpath / "model.int8.onnx").is_file() and sorted(p.name for p in qpath.glob("model*")) == [
        "model.int8.onnx",
        "model.py",
    ]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_served_scorer_runs_without_triton_and_matches_the_model(tiny_model, tmp_path, sample_texts, backend):
    """The backend's VersionScorer (what Triton runs, and what the benchmark measures in-process)
    loads an exported version outside Triton and gives the in-process model's scores."""
    from tagstream.trainer.triton_backend.model import VersionScorer

    _, path = export_model(tiny_model, tmp_path, backend=backend)
    scorer = VersionScorer(path, threads=1)
    texts = sample_texts[:12]
    np.testing.assert_allclose(scorer.scores(texts), LocalModel(tiny_model).scores(texts), atol=1e-4)
    assert scorer.scores([]).shape == (0, len(scorer.tags))
    assert scorer.tags == LocalModel(tiny_model).vocab.tags


@pytest.mark.parametrize("per_channel", [False, True])
def test_int8_export_is_fused_and_close_to_torch(tiny_model, tmp_path, per_channel):
    import onnx

    # --quantize int8 alone picks the onnx backend
    tagstream(
        "export",
        "--model",
        str(tiny_model),
        "--repo",
        str(tmp_path),
        "--quantize",
        "int8",
        *(["--per-channel"] if per_channel else []),
    )
    path = tmp_path / MODEL / "1"
    cfg = json.loads((path / "tagger.json").read_text())
    assert cfg["runtime"] == "onnx" and cfg["quantize"] == "int8" and cfg["quantize_per_channel"] is per_channel
    assert cfg["onnx_mean_abs_diff"] < 0.02 and cfg["onnx_max_abs_diff"] < 0.5
    ops = {n.op_type for n in onnx.load(str(path / "model.int8.onnx")).graph.node}
    # attention fused and quantized, integer matmuls: the fast path, not a plain quantized graph
    assert {"QAttention", "QEmbedLayerNormalization", "SkipLayerNormalization", "MatMulInteger"} <= ops, sorted(ops)


def test_triton_serves_the_int8_export(tiny_model, tmp_path, sample_texts):
    from tagstream.trainer.triton_backend.model import VersionScorer

    tagstream("export", "--model", str(tiny_model), "--repo", str(tmp_path / "repo"), "--quantize", "int8")
    vdir = tmp_path / "repo" / MODEL / "1"
    srv = TritonServer(tmp_path / "repo", tmp_path / "work", load_models=(MODEL,))
    srv.start()
    try:
        srv.wait_model_ready(MODEL)
        texts = sample_texts[:16]
        batch = run(_with_client(srv, lambda c: c.infer(texts)))
    finally:
        srv.stop()
    # the int8 graph run by ONNX Runtime in-process, through the backend's own tokenization
    scorer = VersionScorer(vdir, threads=1)
    assert scorer.runtime == "onnx"
    np.testing.assert_allclose(batch.scores, scorer.scores(texts), atol=1e-4)  # the same graph on the same batch
    # Dynamic quantization scales activations per batch, so a text's int8 scores move a little with
    # what it is batched with; alone (a batch of one, no padding), they stay close.
    alone = np.stack([scorer.scores([t])[0] for t in texts])
    assert np.abs(batch.scores - alone).max() < 0.1
    fp32 = LocalModel(tiny_model).scores(texts)
    assert np.abs(batch.scores - fp32).mean() < 0.02


def test_serve_cli_starts_and_stops_cleanly(repo, tmp_path):
    ports = [str(free_port()) for _ in range(3)]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tagstream.cli",
            "serve",
            "--repo",
            str(repo),
            "--http-port",
            ports[0],
            "--grpc-port",
            ports[1],
            "--metrics-port",
            ports[2],
            "--workdir",
            str(tmp_path / "w"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "ready; Ctrl-C to stop" in line:
            break
    assert any("ready" in line for line in lines), "".join(lines)
    assert urllib.request.urlopen(f"http://127.0.0.1:{ports[2]}/metrics", timeout=5).status == 200
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "tritonserver stopped" in out
