"""Connections spread evenly over the workers: the rule, the shared table, and a real
gunicorn whose pooled client's connections land on both workers."""

from __future__ import annotations

import os
import runpy
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from service.transport import accept_balance
from service.transport.accept_balance import AcceptBalance, may_accept, may_keep
from tests.service.gunicorn_server import running_service


@pytest.mark.parametrize("mine, others, expected", [
    (0, [], True), (5, [], True), (0, [0], True), (1, [0], False), (1, [1], True), (2, [1, 3], False),
    (1, [1, 3], True)])
def test_a_worker_accepts_while_no_live_worker_holds_fewer(mine, others, expected):
    assert may_accept(mine, others) is expected


@pytest.mark.parametrize("mine, others, expected", [
    (3, [], True), (1, [0], True), (2, [0], False), (3, [2, 1], False), (3, [2, 2], True)])
def test_a_worker_keeps_a_connection_unless_another_holds_two_fewer(mine, others, expected):
    assert may_keep(mine, others) is expected


def test_the_table_counts_live_workers_only(monkeypatch):
    table = AcceptBalance(slots=4)
    first, second = table.free_slot(set()), table.free_slot({0})
    assert (first, second) == (0, 1)
    table.publish(first, 101, 3)
    table.publish(second, 102, 1)
    assert table.others(first) == [1] and table.others(second) == [3]
    table.release(second)
    assert table.others(first) == []
    table.publish(second, 102, 1)
    later = time.monotonic() + accept_balance.STALE_S + 0.1
    monkeypatch.setattr(accept_balance.time, "monotonic", lambda: later)
    assert table.others(first) == []  # a worker that stopped publishing is left out


def test_the_table_is_shared_with_forked_workers():
    table = AcceptBalance(slots=2)
    child = os.fork()
    if child == 0:
        table.publish(1, os.getpid(), 7)
        os._exit(0)
    os.waitpid(child, 0)
    assert table.others(0) == [7]


def test_a_full_table_says_so():
    table = AcceptBalance(slots=2)
    with pytest.raises(RuntimeError, match="more than 2 workers"):
        table.free_slot({0, 1})


def test_the_master_frees_a_gone_workers_slot_and_its_metrics_files(tmp_path, monkeypatch):
    """gunicorn.conf.py's hooks as gunicorn calls them: a worker forked into slot 0,
    then gone without its own goodbye (SIGKILL): ``child_exit`` must empty its slot at
    once (else another worker holding more defers to it for ``STALE_S``) and still
    retire its live gauges' files."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("BALANCE_CONNECTIONS", "true")
    conf = runpy.run_path(str(Path(__file__).parents[2] / "service" / "gunicorn.conf.py"))
    server, worker = SimpleNamespace(WORKERS={}), SimpleNamespace(pid=4242)
    conf["pre_fork"](server, worker)
    table = worker.accept_balance
    table.publish(worker.balance_slot, worker.pid, 0)
    assert table.others(worker.balance_slot + 1) == [0]
    gauge_file = tmp_path / "gauge_livesum_4242.db"
    gauge_file.write_bytes(b"")
    conf["child_exit"](server, worker)
    assert table.others(worker.balance_slot + 1) == []
    assert not gauge_file.exists()


def connections_per_worker(master_pid: int, server_port: int, clients: list[socket.socket]) -> list[int]:
    """How many of ``clients``' connections each worker of the master holds, from the
    kernel's socket table (/proc/net/tcp) and the workers' open files."""
    client_ports = {client.getsockname()[1] for client in clients}
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = (int(address.split(":")[1], 16) for address in fields[1:3])
        if local_port == server_port and remote_port in client_ports:
            inodes.add(f"socket:[{fields[9]}]")
    workers = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return sorted(sum(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd"))
                  for pid in workers)


class PooledConnection:
    """One connection of a client's pool: it asks, reads the answer, and reconnects when
    the server said ``Connection: close``, as an HTTP client's pool does."""

    def __init__(self, port: int):
        self.port, self.socket, self.reconnects = port, None, -1

    def ask(self) -> None:
        if self.socket is None:
            self.socket, self.reconnects = socket.create_connection(("127.0.0.1", self.port)), self.reconnects + 1
        self.socket.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            answer += self.socket.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200")
        if b"connection: close" in answer.lower():
            self.close()

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None


@pytest.mark.parametrize("size", [2, 4])
def test_a_pooled_clients_connections_are_shared_equally_by_the_workers(tmp_path, models_dir, size):
    """Asked as soon as the service is ready, when the second worker may still be
    starting: the first worker takes every connection, then hands the extra ones back
    by closing them after an answer, and the pool ends up split evenly."""
    with running_service(tmp_path, models_dir, reload_interval_s=0, workers=2) as server:
        pool = [PooledConnection(server.port) for _ in range(size)]
        try:
            _use(pool)
            split = connections_per_worker(server.process.pid, server.port, [c.socket for c in pool])
        finally:
            for connection in pool:
                connection.close()
        assert split == [size // 2, size // 2], (split, [c.reconnects for c in pool])
        assert sum(c.reconnects for c in pool) <= 2 * size  # a few moves, not a connection per request


def _use(pool: list[PooledConnection]) -> None:
    """Forty rounds of one request per connection, then every connection open."""
    for _ in range(40):
        for connection in pool:
            connection.ask()
        time.sleep(0.02)
    for connection in pool:
        if connection.socket is None:
            connection.ask()
