"""Per-model inference statistics in Triton's format, summed over workers.

Each request that reached a model adds its times to a per-process tally (a lock and a
few integer adds, 0.3 us); ``flush`` moves the tallies into the Prometheus counters
(``moonserve_inference_*``), whose multiprocess files every worker's scrape merges.
Writing the counters directly would cost 0.8 us per value, six values per request
(measured with ``timeit`` on a multiprocess ``Counter.inc``), so a flusher thread does
it every ``FLUSH_S``: another worker's figures are at most that old, this worker's
exact (``read`` flushes first).
"""

from __future__ import annotations

import threading
import time

from service.telemetry.metrics import ServiceMetrics

FLUSH_S = 0.5
STAGES = ("success", "fail", "compute_input", "compute_infer", "compute_output")
_SUCCESSES, _FAILURES, _ROWS, _LAST = 5, 6, 7, 8


class InferenceStats:
    def __init__(self, metrics: ServiceMetrics):
        self.metrics = metrics
        self._tallies: dict[tuple[str, int], list] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def record(self, name: str, version: int, total_ns: int, timings: tuple[int, int, int, int] | None) -> None:
        """One request to ``name`` ``version``: a success with its (rows, compute_input,
        compute_infer, compute_output nanoseconds), or a failure when ``timings`` is None."""
        with self._lock:
            tally = self._tallies.get((name, version))
            if tally is None:
                tally = self._tallies[name, version] = [0, 0, 0, 0, 0, 0, 0, 0, 0.0]
            if timings is None:
                tally[1] += total_ns
                tally[_FAILURES] += 1
            else:
                tally[0] += total_ns
                tally[_ROWS] += timings[0]
                tally[2] += timings[1]
                tally[3] += timings[2]
                tally[4] += timings[3]
                tally[_SUCCESSES] += 1
            tally[_LAST] = time.time()

    def flush(self) -> None:
        with self._lock:
            tallies, self._tallies = self._tallies, {}
        for (name, version), tally in tallies.items():
            model_version = str(version)
            for index, stage in enumerate(STAGES):
                if tally[index]:
                    self.metrics.inference_seconds.labels(name, model_version, stage).inc(tally[index] / 1e9)
            for result, count in (("success", tally[_SUCCESSES]), ("fail", tally[_FAILURES])):
                if count:
                    self.metrics.inference_requests.labels(name, model_version, result).inc(count)
            if tally[_ROWS]:
                self.metrics.inference_rows.labels(name, model_version).inc(tally[_ROWS])
            self.metrics.last_inference.labels(name, model_version).set(tally[_LAST])

    def start_flushing(self, interval_s: float = FLUSH_S) -> threading.Thread:
        def loop():
            while not self._stop.wait(interval_s):
                self.flush()

        thread = threading.Thread(target=loop, name="stats-flusher", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
        self.flush()

    def read(self, name: str, versions: list[int]) -> list[dict]:
        """Triton's ``model_stats`` entries for ``versions`` of ``name``, every worker's sum."""
        self.flush()
        wanted = {str(version) for version in versions}
        figures: dict[str, dict] = {version: {} for version in wanted}
        for family in self.metrics.merged().collect():
            if family.name not in ("moonserve_inference_requests", "moonserve_inference_duration_seconds",
                                   "moonserve_inference_last_timestamp_seconds", "moonserve_inference_rows"):
                continue
            for sample in family.samples:
                labels = sample.labels
                version = labels.get("model_version")
                if labels.get("model") != name or version not in wanted or sample.name.endswith("_created"):
                    continue
                key = labels.get("result") or labels.get("stage") or family.name
                if family.name == "moonserve_inference_duration_seconds":
                    key = "ns:" + key
                figures[version][key] = figures[version].get(key, 0) + sample.value
        return [_triton_entry(name, version, figures[str(version)]) for version in versions]


def _triton_entry(name: str, version: int, figures: dict) -> dict:
    successes, failures = int(figures.get("success", 0)), int(figures.get("fail", 0))

    def duration(stage: str, count: int) -> dict:
        return {"count": count, "ns": round(figures.get("ns:" + stage, 0) * 1e9)}

    return {
        "name": name,
        "version": str(version),
        "last_inference": int(figures.get("moonserve_inference_last_timestamp_seconds", 0) * 1000),
        "inference_count": int(figures.get("moonserve_inference_rows", 0)),
        "execution_count": successes,
        "inference_stats": {
            "success": duration("success", successes),
            "fail": duration("fail", failures),
            "queue": {"count": successes, "ns": 0},
            "compute_input": duration("compute_input", successes),
            "compute_infer": duration("compute_infer", successes),
            "compute_output": duration("compute_output", successes),
            "cache_hit": {"count": 0, "ns": 0},
            "cache_miss": {"count": 0, "ns": 0},
        },
        "batch_stats": [],
        "memory_usage": [],
    }
