"""What the service tells about itself: Prometheus metrics, the per-request observer,
the access log and JSON log lines."""
