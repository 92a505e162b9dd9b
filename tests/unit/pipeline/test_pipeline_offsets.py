"""Tickets and committable offsets: never past a record that is not done."""

from __future__ import annotations

from moxtrace.pipeline.offsets import PartitionOffsets, Ticket


def test_a_ticket_is_done_when_its_parts_and_its_decode_hold_are_released() -> None:
    seen: list[Ticket] = []
    ticket = Ticket(on_done=seen.append)
    ticket.add(2)
    ticket.release()  # the decode hold
    ticket.release()
    assert not ticket.done and seen == []
    ticket.release()
    assert ticket.done and seen == [ticket]


def test_offsets_move_only_past_records_that_are_done() -> None:
    partition = PartitionOffsets("spans", 0)
    tickets = [partition.track(offset) for offset in range(10, 14)]
    assert partition.committable() is None
    tickets[1].release()
    tickets[2].release()
    assert partition.committable() is None  # offset 10 is not done
    tickets[0].release()
    assert partition.committable() == 13
    assert partition.in_flight == 1
    tickets[3].release()
    assert partition.committable() == 14
    assert partition.in_flight == 0
