"""The metrics module's own pieces, apart from the HTTP layer."""

import os
import warnings

from service.telemetry.metrics import _ProcessId


def test_the_cached_process_id_follows_every_fork():
    """prometheus-client names each process's files by this id and uses it to notice a
    fork; a child reporting its parent's id would write into the parent's files."""
    assert _ProcessId.get() == os.getpid()
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+ warns of fork with threads
        child = os.fork()
    if child == 0:
        os.write(write_end, f"{_ProcessId.get()} {os.getpid()}".encode())
        os._exit(0)
    os.close(write_end)
    reported, actual = os.read(read_end, 64).decode().split()
    os.close(read_end)
    os.waitpid(child, 0)
    assert int(reported) == int(actual) == child != os.getpid()
