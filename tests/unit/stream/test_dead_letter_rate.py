"""The dead-letter rate breaker counts a batch's dead letters before the batch is published, and a
batch that would pass the limit is refused whole (and not counted)."""

import pytest

from tagstream.stream.dead_letter_rate import DeadLetterRate, DeadLetterRateExceeded
from tagstream.stream.records import Record
from tagstream.stream.results import Rejected, Tagged

REC = Record("in", 0, 0, b"k", b"{}")


def _batch(good: int, dead: int) -> list:
    return [Tagged(REC, "p", "e", b"{}")] * good + [Rejected(REC, "validate", "bad")] * dead


def test_a_window_of_mostly_dead_letters_trips_before_publishing():
    rate = DeadLetterRate(max_rate=0.5, window=20)
    rate.admit(10, _batch(10, 0))
    rate.admit(10, _batch(5, 5))  # 5 of 20: fine
    with pytest.raises(DeadLetterRateExceeded, match="TAGSTREAM_DLQ_MAX_RATE=0.5"):
        rate.admit(10, _batch(0, 10))  # 15 of the last 20 would be dead letters
    rate.admit(10, _batch(10, 0))  # the refused batch was not counted: 5 of the last 20


def test_below_the_window_nothing_trips_and_a_rate_of_one_never_does():
    rate = DeadLetterRate(max_rate=0.5, window=100)
    rate.admit(30, _batch(0, 30))  # 30 events seen: under the window
    never = DeadLetterRate(max_rate=1.0, window=10)
    for _ in range(5):
        never.admit(10, _batch(0, 10))


def test_a_single_batch_larger_than_the_window_is_judged_alone():
    rate = DeadLetterRate(max_rate=0.5, window=20)
    with pytest.raises(DeadLetterRateExceeded, match="32 of the last 32"):
        rate.admit(32, _batch(0, 32))
