"""The access log: lines whole and in order, written in blocks, never later than flush_s,
and nothing left behind when a worker exits."""

import json
import os
import select
import time

import requests

from service.telemetry.access_log import BLOCK_BYTES, AccessLog
from tests.service.gunicorn_server import running_service, stop_process, wait_until


class RecordingLog(AccessLog):
    """Keeps every block it writes, to check the block boundaries."""

    def __init__(self, flush_s):
        super().__init__(enabled=True, flush_s=flush_s, fd=-1)
        self.blocks = []

    def _write_out(self, block):
        self.blocks.append(block)


def _entry(number, path="/predict"):
    return {"request_id": f"r{number}", "method": "POST", "path": path, "status": 200, "duration_ms": 1.5,
            "model_version": 1}


def test_blocks_are_whole_lines_under_pipe_buf_and_in_order():
    log = RecordingLog(flush_s=60)
    for number in range(500):
        log.write(_entry(number, path="/predict/" + "x" * (number % 300)))
    written_before_flush = len(log.blocks)
    log.flush()
    assert written_before_flush > 10  # blocks went out as they filled, not one line at a time
    assert all(len(block) <= BLOCK_BYTES and block.endswith(b"\n") for block in log.blocks)
    lines = [json.loads(line) for block in log.blocks for line in block.splitlines()]
    assert [line["request_id"] for line in lines] == [f"r{number}" for number in range(500)]
    assert lines[7]["logger"] == "moonserve.access" and lines[7]["ts"].endswith("Z")


def _read_pipe(fd, timeout):
    ready, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, 65536) if ready else b""


def test_a_gathered_line_is_written_within_flush_s_and_at_once_when_unbuffered():
    read_end, write_end = os.pipe()
    try:
        buffered = AccessLog(enabled=True, flush_s=0.3, fd=write_end)
        started = time.monotonic()
        buffered.write(_entry(1))
        assert _read_pipe(read_end, 0.1) == b""  # gathered, not yet written
        line = _read_pipe(read_end, 5)
        assert json.loads(line)["request_id"] == "r1" and 0.2 < time.monotonic() - started < 5
        AccessLog(enabled=True, flush_s=0, fd=write_end).write(_entry(2))
        assert json.loads(_read_pipe(read_end, 0))["request_id"] == "r2"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_every_later_line_is_written_within_flush_s_too():
    """The flusher runs every flush_s from the first line on: a line gathered between
    two of its passes waits less than flush_s, never more."""
    read_end, write_end = os.pipe()
    try:
        log = AccessLog(enabled=True, flush_s=0.3, fd=write_end)
        log.write(_entry(1))
        assert json.loads(_read_pipe(read_end, 5))["request_id"] == "r1"
        for number in (2, 3):
            time.sleep(0.45)  # somewhere between two passes
            written = time.monotonic()
            log.write(_entry(number))
            assert json.loads(_read_pipe(read_end, 5))["request_id"] == f"r{number}"
            assert time.monotonic() - written < 0.3 + 0.15
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_broken_stderr_fails_no_request():
    read_end, write_end = os.pipe()
    os.close(read_end)  # writes now fail with EPIPE
    try:
        for flush_s in (0, 60):
            log = AccessLog(enabled=True, flush_s=flush_s, fd=write_end)
            for number in range(100):  # past BLOCK_BYTES, so a request thread writes a block
                log.write(_entry(number))
            log.flush()
    finally:
        os.close(write_end)


def test_gunicorn_workers_write_every_request_line_by_the_time_they_exit(tmp_path, models_dir):
    with running_service(tmp_path, models_dir, access_log_flush_s=30) as server:
        session = requests.Session()
        for number in range(40):
            response = session.post(server.url + "/predict", json={"instances": [[0.5, -0.4]]},
                                    headers={"X-Request-ID": f"exit-{number}"}, timeout=10)
            assert response.status_code == 200
        stop_process(server.process)
        assert server.process.returncode == 0
        logged = {json.loads(line).get("request_id") for line in server.log().splitlines() if line.startswith("{")}
        assert {f"exit-{number}" for number in range(40)} <= logged


def test_gunicorn_workers_write_lines_within_flush_s(tmp_path, models_dir):
    with running_service(tmp_path, models_dir, access_log_flush_s=0.5) as server:
        requests.post(server.url + "/predict", json={"instances": [[0.5, -0.4]]},
                      headers={"X-Request-ID": "soon-1"}, timeout=10)
        assert wait_until(lambda: '"request_id":"soon-1"' in server.log(), timeout=5)
