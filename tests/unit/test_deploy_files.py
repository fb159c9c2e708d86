"""The deployment files stay in step with the code and pass their own tools' checks, without Docker:
`docker-compose config` (Debian's docker-compose) in every variant, `promtool` for the alert rules
and the Prometheus config, the dashboard's and alerts' queries against the metrics the code exports,
the worker's environment against its settings, and the Dockerfiles' sources, stages and users."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tagstream.core.names import MODEL_NAME
from tagstream.stream.metrics import WorkerMetrics
from tagstream.stream.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
TRITON_METRICS = {
    "nv_inference_request_failure",
    "nv_inference_request_success",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_count",
    "up",
}


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: `make system-deps` installs it (Debian package docker-compose / prometheus)"
    return path


def compose_config(*files: str, profile: str | None = None) -> dict:
    args = [tool("docker-compose")]
    for f in files:
        args += ["-f", f]
    if profile:
        args += ["--profile", profile]
    res = subprocess.run(
        [*args, "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return yaml.safe_load(res.stdout)


def exported_metrics() -> set[str]:
    """Every sample name the worker can export (a labelled family has no sample until first used)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
    names = set()
    for family in WorkerMetrics().registry.collect():
        names |= {s.name for s in family.samples} | {family.name}
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ())}
    return names


def metric_names(expr: str) -> set[str]:
    words = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", expr))
    return {w for w in words if w.startswith(("tagstream_", "nv_")) or w == "up"}


def test_compose_is_valid_on_cpu_on_gpu_and_with_the_train_profile():
    cpu = compose_config("docker-compose.yml")
    assert {"kafka", "topics", "redis", "triton", "worker", "prometheus", "grafana"} <= set(cpu["services"])
    assert cpu["services"]["trainer"]["profiles"] == ["train"]  # a one-shot, only with --profile train
    assert "deploy" not in cpu["services"]["triton"]  # no GPU reservation by default: runs on any host
    gpu = compose_config("docker-compose.yml", "docker-compose.gpu.yml")
    devices = gpu["services"]["triton"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"] and gpu["services"]["triton"]["build"]["args"]["TARGET"] == "gpu"
    trained = compose_config("docker-compose.yml", profile="train")
    assert "trainer" in trained["services"]


def test_secrets_are_files_and_never_in_an_environment_or_command_line():
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert set(raw["secrets"]) == {"redis_password", "grafana_admin_password"}
    assert all("file" in secret for secret in raw["secrets"].values())
    services = compose_config("docker-compose.yml", profile="train")["services"]
    for name, svc in services.items():
        env = svc.get("environment") or {}
        for key, value in env.items():
            assert "PASSWORD" not in key or key.endswith("_FILE"), f"{name}: {key} puts a secret in the environment"
            assert not re.search(r"://[^/@\s]*@", str(value)), f"{name}: {key} holds credentials in a URL"
        words = " ".join(map(str, (svc.get("command") or []) + (svc.get("entrypoint") or [])))
        assert "--requirepass" not in words and "-a " not in words, f"{name}: a password on a command line"
    redis, worker = services["redis"], services["worker"]
    assert "/run/secrets/redis_password" in " ".join(redis["command"])
    assert "REDISCLI_AUTH" in " ".join(redis["healthcheck"]["test"])  # not `redis-cli -a PASSWORD`
    assert worker["environment"]["TAGSTREAM_REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password"
    assert any((s if isinstance(s, str) else s["source"]) == "redis_password" for s in worker["secrets"])


def test_services_are_production_ready():
    services = compose_config("docker-compose.yml", profile="train")["services"]
    for name, svc in services.items():
        image = svc.get("image", "")
        assert image and not image.endswith(":latest") and re.search(r":[\w.-]*\d", image), f"{name}: pin {image!r}"
        one_shot = name in ("topics", "trainer")
        assert svc.get("restart") == ("no" if one_shot else "unless-stopped"), name
        for port in svc.get("ports", []):  # published ports are bound to loopback only
            host_ip = port.get("host_ip", "") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", (name, port)
    kafka, redis, worker, triton = services["kafka"], services["redis"], services["worker"], services["triton"]
    assert kafka["healthcheck"] and any("kafka-data" in str(v) for v in kafka["volumes"])
    assert "--appendonly yes" in " ".join(redis["command"]) and redis["user"] == "redis"  # not root
    assert not redis.get("ports") and redis["healthcheck"]
    assert not worker.get("ports") and worker["healthcheck"] and "6066" in [str(p) for p in worker["expose"]]
    assert worker["healthcheck"]["test"] == ["CMD", "tagstream", "healthcheck"]  # follows TAGSTREAM_WEB_PORT
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert worker["depends_on"]["triton"]["condition"] == "service_healthy"
    assert worker["environment"]["TAGSTREAM_CREATE_TOPICS"] == "false"  # `tagstream topics` made them
    assert f"--load-model={MODEL_NAME}" in triton["command"]
    # healthy means live: with an empty repository Triton must still be healthy, or the trainer (which
    # makes the first version) and the worker would wait on it forever
    assert "/v2/health/live" in " ".join(triton["healthcheck"]["test"])
    assert services["trainer"]["depends_on"]["triton"]["condition"] == "service_healthy"
    assert services["topics"]["image"] == worker["image"] and services["topics"]["command"][0] == "topics"
    # the model repository and the runs are named volumes the trainer's user owns (docker/*.Dockerfile)
    assert any(str(v).endswith(":/models") or "/models" in str(v) for v in triton["volumes"])
    assert any("runs" in str(v) and "/runs" in str(v) for v in services["trainer"]["volumes"])


def test_worker_environment_names_real_settings():
    env = compose_config("docker-compose.yml")["services"]["worker"]["environment"]
    fields = {f"TAGSTREAM_{name.upper()}" for name in WorkerSettings.model_fields}
    unknown = set(env) - fields
    assert not unknown, f"docker-compose sets settings the worker does not have: {sorted(unknown)}"
    settings = WorkerSettings(**{k.removeprefix("TAGSTREAM_").lower(): v for k, v in env.items()})
    assert settings.redis_password_file is not None and not settings.create_topics


def test_dockerfiles_copy_what_exists_build_in_stages_and_run_as_non_root():
    for dockerfile in (ROOT / "docker").glob("*.Dockerfile"):
        text = dockerfile.read_text(encoding="utf-8")
        for line in text.splitlines():
            m = re.match(r"COPY\s+(?!--from)(.+)\s+\S+$", line.strip())
            if m:
                for src in m.group(1).split():
                    assert (ROOT / src).exists(), f"{dockerfile.name}: COPY {src} does not exist"
        users = re.findall(r"^USER\s+(\S+)", text, re.M)
        assert users and users[-1] not in ("root", "0"), f"{dockerfile.name} runs as root"
        assert ":latest" not in text
        if dockerfile.name != "triton.Dockerfile":
            assert text.count("\nFROM ") + text.startswith("FROM ") >= 2, f"{dockerfile.name} is not multi-stage"
    worker = (ROOT / "docker" / "worker.Dockerfile").read_text(encoding="utf-8")
    assert '".[worker]"' in worker and "torch" not in worker.split("FROM")[1]
    trainer = (ROOT / "docker" / "trainer.Dockerfile").read_text(encoding="utf-8")
    assert "serve" not in re.findall(r'"\.\[([\w,]+)\]"', trainer)[0]  # it never runs tritonserver
    assert "ARG TORCH_VERSION=2.13.0" in trainer  # torch.onnx.export(dynamo=True) needs >= 2.5


def test_dockerignore_keeps_the_build_context_small():
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", "runs"} <= set(ignored)


def test_alert_rules_and_prometheus_config_pass_promtool():
    promtool = tool("promtool")
    for args in (
        ["check", "rules", "deploy/prometheus/alerts.yml"],
        ["check", "config", "deploy/prometheus/prometheus.yml"],
    ):
        res = subprocess.run([promtool, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr


def test_alert_rules_fire_as_their_promtool_unit_tests_expect():
    """`promtool test rules` over synthetic series (tests/unit/alerts/*_test.yml)."""
    promtool = tool("promtool")
    cases = sorted((ROOT / "tests/unit/alerts").glob("*_test.yml"))
    assert cases
    for case in cases:
        res = subprocess.run([promtool, "test", "rules", str(case)], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr


def test_alerts_and_dashboard_query_metrics_that_exist():
    known = exported_metrics() | TRITON_METRICS
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text(encoding="utf-8"))
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/tagstream.json").read_text(encoding="utf-8"))
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    for expr in exprs:
        unknown = metric_names(expr) - known
        assert not unknown, f"{expr!r} queries {unknown}"
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("latency", "cache hit rate", "dead letters", "lag", "triton queue", "events in"):
        assert topic in titles, topic
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    jobs = {j["job_name"]: j for j in scrape["scrape_configs"]}
    assert jobs["tagstream-worker"]["dns_sd_configs"][0]["names"] == ["worker"]


@pytest.mark.parametrize(
    "path",
    ["deploy/grafana/provisioning/datasources/prometheus.yml", "deploy/grafana/provisioning/dashboards/tagstream.yml"],
)
def test_grafana_provisioning_is_valid_yaml(path):
    assert yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))["apiVersion"] == 1
