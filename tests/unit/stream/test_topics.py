from tagstream.stream.settings import WorkerSettings
from tagstream.stream.topics import DLQ_RETENTION_MS, INPUT_RETENTION_MS, topic_layout


def test_the_topic_layout_follows_the_settings():
    s = WorkerSettings(topic_partitions=12, input_topic="in", output_topic="tags", dlq_topic="dead")
    layout = topic_layout(s)
    assert list(layout) == ["in", "tags", "dead"]
    assert layout["in"].partitions == layout["tags"].partitions == 12 and layout["dead"].partitions == 1
    # the tag topic keeps the latest tag event per product; a tombstone removes the product
    assert layout["tags"].configs == {"cleanup.policy": "compact"}
    assert layout["in"].configs == {"retention.ms": str(INPUT_RETENTION_MS)} and INPUT_RETENTION_MS == 604_800_000
    assert layout["dead"].configs == {"retention.ms": str(DLQ_RETENTION_MS)} and DLQ_RETENTION_MS == 2_592_000_000
