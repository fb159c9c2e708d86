"""The streaming worker (import as `tagstream.stream`): a Faust agent that micro-batches product
updates, looks them up in the Redis cache, tags the misses with Triton and publishes tag events.

One event's path, one module a step: `events` (contracts) -> `pipeline` (decode, validate, latest per
product, cache lookup, inference, results) -> `publisher` (results to topics, broker acks) -> `app`
(the agent: acks input only after its output is acknowledged; metrics; health). Knows nothing of
training.
"""
