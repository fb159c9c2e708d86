"""The whole embedded stack on one machine: broker, Redis, Triton serving a model repository, the
worker's topics, and any number of workers. Used by `tagstream demo`, the integration tests and the
benchmarks, so that each deploys the stack the same way."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Self

from tagstream.core.names import MODEL_NAME
from tagstream.localstack.process import RedisServer, TansuBroker
from tagstream.localstack.triton import TritonServer
from tagstream.localstack.worker import WorkerProcess
from tagstream.stream.settings import WorkerSettings
from tagstream.stream.topics import ensure_topics

#: Consumer timeouts for the embedded broker: Tansu waits for a departed member's session timeout
#: before it reassigns partitions, so a restarted worker would otherwise seem to hang.
FAST_GROUP = {"session_timeout_s": 6, "rebalance_timeout_s": 6, "heartbeat_s": 0.5}


class LocalStack:
    def __init__(
        self,
        workdir: Path,
        repo: Path,
        *,
        model_name: str = MODEL_NAME,
        partitions: int = 4,
        extra_models: tuple[str, ...] = (),
    ):
        """Triton loads `model_name` (the workers' default) and `extra_models` from `repo`."""
        self.workdir = Path(workdir)
        self.repo = Path(repo)
        self.model_name = model_name
        self.extra_models = extra_models
        self.partitions = partitions
        defaults = WorkerSettings()
        self.input_topic, self.output_topic, self.dlq_topic = (
            defaults.input_topic,
            defaults.output_topic,
            defaults.dlq_topic,
        )
        self.broker = TansuBroker(self.workdir)
        self.redis = RedisServer(self.workdir)
        self.triton = TritonServer(self.repo, self.workdir / "triton", load_models=(model_name, *extra_models))
        self.workers: list[WorkerProcess] = []

    def start(self) -> Self:
        try:
            self.broker.start()
            self.redis.start()
            self.triton.start()
            for model in (self.model_name, *self.extra_models):
                self.triton.wait_model_ready(model)
            topics = {
                self.input_topic: self.partitions,
                self.output_topic: self.partitions,
                self.dlq_topic: 1,
            }
            asyncio.run(ensure_topics(self.broker.url, topics))
        except BaseException:
            self.stop()
            raise
        return self

    def worker_settings(self, **overrides: object) -> dict[str, object]:
        """Settings that point a worker at this stack (overrides win)."""
        return {
            "broker_url": self.broker.url,
            "redis_url": self.redis.url,
            "triton_url": self.triton.grpc_url,
            "model_name": self.model_name,
            "topic_partitions": self.partitions,
            **FAST_GROUP,
            **overrides,
        }

    def start_worker(
        self, name: str | None = None, *, wait_assigned: bool = True, **overrides: object
    ) -> WorkerProcess:
        worker = WorkerProcess(
            self.workdir, name=name or f"worker{len(self.workers) + 1}", **self.worker_settings(**overrides)
        )
        self.workers.append(worker)
        worker.start()
        if wait_assigned:
            worker.wait_assigned()
        return worker

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        for server in (self.triton, self.redis, self.broker):
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
