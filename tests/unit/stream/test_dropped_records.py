"""The ledger of records fetched and never handed to the streams: where the consumer seeks back to."""

from faust.types import TP

from tagstream.stream.dropped_records import DroppedRecords

P0, P1 = TP("in", 0), TP("in", 1)


def test_nothing_fetched_or_all_handed_over_needs_no_seek():
    d = DroppedRecords()
    assert d.rewinds() == {}
    d.fetched(P0, 10, 12)
    for offset in (10, 11, 12):
        d.handed_over(P0, offset)
    assert d.rewinds() == {}


def test_the_rest_of_a_fetch_cut_off_by_a_rebalance_is_read_again_from_the_first_dropped():
    d = DroppedRecords()
    d.fetched(P0, 284, 324)
    for offset in (284, 285):
        d.handed_over(P0, offset)
    assert d.rewinds() == {P0: 286}


def test_a_fetch_with_nothing_handed_over_is_read_again_from_its_first_record():
    d = DroppedRecords()
    d.fetched(P0, 182, 191)
    d.fetched(P1, 7, 9)
    d.handed_over(P1, 9)
    assert d.rewinds() == {P0: 182}


def test_gaps_inside_fetched_records_are_not_dropped_records():
    """Compacted or transactional offsets that the broker never returned: only what was fetched
    above the last record handed over counts."""
    d = DroppedRecords()
    d.fetched(P0, 100, 105)  # 102..104 do not exist
    for offset in (100, 101, 105):
        d.handed_over(P0, offset)
    d.fetched(P0, 109, 110)  # 106..108 do not exist either
    d.handed_over(P0, 109)
    d.handed_over(P0, 110)
    assert d.rewinds() == {}


def test_a_seek_or_new_assignment_forgets_what_was_fetched_before():
    d = DroppedRecords()
    d.fetched(P0, 1, 5)
    d.fetched(P1, 1, 5)
    d.position_set(P0)
    assert d.rewinds() == {P1: 1}
    d.position_set()
    assert d.rewinds() == {}


def test_a_hand_over_after_the_position_was_set_is_ignored():
    """A record handed over from a fetch made before the seek says nothing of the new position."""
    d = DroppedRecords()
    d.fetched(P0, 1, 5)
    d.position_set(P0)
    d.handed_over(P0, 5)
    d.fetched(P0, 3, 4)
    assert d.rewinds() == {P0: 3}
