"""Knowing when input is done: ``Ticket`` (one record or request) and ``PartitionOffsets``
(what can be committed on one Kafka partition).

A ticket counts the parts of its input still in the pipeline. It starts at one, the
*decode hold*; decoding adds one per span (or per span's share of events) and the
pipeline releases the hold once decoding is over, then one part each time a span
containing it is delivered to every sink or dropped by a plugin. At zero the ticket is
done. A span rebuilt from events of several records holds a ticket of each, so a record
is done only when the last span it contributed to is.

A partition's offset can be committed up to the first record that is not done: offsets
only ever move past records whose every span was acknowledged (at-least-once). Tickets
are touched by the event loop only (the processing thread adds parts to a ticket before
the loop sees it again), so they need no lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

__all__ = ["PartitionOffsets", "Ticket"]


class Ticket:
    """One record (or request) while its spans are in the pipeline."""

    __slots__ = ("dead_letter", "done", "offset", "on_done", "partition", "refs")

    def __init__(
        self,
        offset: int = -1,
        partition: PartitionOffsets | None = None,
        on_done: Callable[[Ticket], None] | None = None,
    ) -> None:
        self.offset = offset
        self.partition = partition
        self.on_done = on_done
        self.refs = 1
        self.done = False
        self.dead_letter: str | None = None
        """Why the record could not be decoded (it goes to the dead-letter topic)."""

    def add(self, parts: int) -> None:
        """Count ``parts`` more spans in the pipeline (while the decode hold is on)."""
        self.refs += parts

    def release(self) -> None:
        """One part is done (delivered or dropped); at zero the ticket is done."""
        self.refs -= 1
        if self.refs == 0:
            self.done = True
            if self.on_done is not None:
                self.on_done(self)


class PartitionOffsets:
    """The records of one partition in the pipeline, in offset order."""

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.active = True
        """False once the partition was revoked: its tickets no longer count."""
        self.committed: int | None = None
        """The offset last committed (the next record to read after a restart)."""
        self._tickets: deque[Ticket] = deque()
        self._next: int | None = None

    def track(self, offset: int) -> Ticket:
        """A ticket for the record at ``offset`` (records arrive in offset order)."""
        ticket = Ticket(offset, self)
        self._tickets.append(ticket)
        return ticket

    @property
    def in_flight(self) -> int:
        """Records read and not yet committable (some may be done behind one that is not)."""
        return len(self._tickets)

    def committable(self) -> int | None:
        """The offset to commit: one past the last record before the first one not done."""
        tickets = self._tickets
        while tickets and tickets[0].done:
            self._next = tickets.popleft().offset + 1
        return self._next
