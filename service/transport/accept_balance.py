"""Spread connections evenly over gunicorn's workers.

Every worker polls the one listening socket, and the first to call ``accept`` after a
connection arrives takes it. A client that opens a few keep-alive connections at once
(tritonclient, perf_analyzer, a ``requests.Session``, another service) therefore often
has all of them on one worker: under perf_analyzer at concurrency 8 one worker used
0.86-0.93 of a core and the other 0.28-0.53. Those connections then stay where they
landed for their whole life.

Here each worker publishes how many connections it holds, in a table of shared memory
the master maps before forking, and a worker holding more than the least loaded live
worker does not accept: the connection waits in the listen backlog for a worker that
does (microseconds: that worker is woken by the same readiness). ``SO_REUSEPORT``
per-worker sockets were the other way: the kernel hashes each connection to one
socket, so two connections land on one worker half the time, and the connections in
a dying worker's backlog are reset.

Placing connections as they arrive is not enough on its own: clients also open short
connections (perf_analyzer asks for metadata and readiness on new ones), so when the
long-lived ones arrive the counts of the moment can mislead, and a long-lived connection
stays where it landed. So a worker holding at least two connections more than the least
loaded one also answers its next request with ``Connection: close`` (``may_keep``): the
client reconnects, and the new connection goes to a less loaded worker. Measured with
perf_analyzer at concurrency 2, where gunicorn alone left both on one worker: both
workers busy.

A worker whose heartbeat is older than ``STALE_S`` (hung, or gone without the master
noticing yet) is left out, so no worker waits on one that is not accepting at all.
"""

from __future__ import annotations

import mmap
import struct
import time

STALE_S = 2.0
"""A worker's loop runs at least every second (gunicorn's poll timeout): twice that is dead."""
_SLOT = struct.Struct("<qid")  # pid, connections held, heartbeat (time.monotonic)


def may_accept(mine: int, others: list[int]) -> bool:
    """Accept while no other live worker holds fewer connections (ties accept)."""
    return not others or mine <= min(others)


def may_keep(mine: int, others: list[int]) -> bool:
    """Keep a connection open after this answer unless another live worker holds at
    least two fewer: a difference of one only swaps which worker has the extra one."""
    return not others or mine <= min(others) + 1


class AcceptBalance:
    """The shared table: one slot per worker, assigned by the master before the fork."""

    def __init__(self, slots: int):
        self.slots = slots
        self._memory = mmap.mmap(-1, _SLOT.size * slots, flags=mmap.MAP_SHARED)

    def free_slot(self, live_slots: set[int]) -> int:
        """A slot no live worker has (the master calls this before forking one)."""
        for slot in range(self.slots):
            if slot not in live_slots:
                self._write(slot, 0, 0, 0.0)
                return slot
        raise RuntimeError(f"more than {self.slots} workers")

    def release(self, slot: int) -> None:
        self._write(slot, 0, 0, 0.0)

    def publish(self, slot: int, pid: int, connections: int) -> None:
        self._write(slot, pid, connections, time.monotonic())

    def others(self, slot: int) -> list[int]:
        """The connection counts of the other live workers."""
        now, counts = time.monotonic(), []
        for other in range(self.slots):
            if other != slot:
                pid, connections, heartbeat = _SLOT.unpack_from(self._memory, other * _SLOT.size)
                if pid and now - heartbeat < STALE_S:
                    counts.append(connections)
        return counts

    def _write(self, slot: int, pid: int, connections: int, heartbeat: float) -> None:
        _SLOT.pack_into(self._memory, slot * _SLOT.size, pid, connections, heartbeat)
