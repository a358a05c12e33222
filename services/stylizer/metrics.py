"""Prometheus metrics of the stylizer service, served over HTTP (`--metrics-port`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# Key-frame latencies from a few milliseconds (small frames on a GPU) to tens of seconds (overload).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class StylizerMetrics:
    """One registry per server, so several servers in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions = Counter("mvs_stylizer_sessions", "Sessions opened", registry=r)
        self.active_sessions = Gauge("mvs_stylizer_active_sessions", "Sessions open now", registry=r)
        self.key_frames = Counter("mvs_stylizer_key_frames", "Key frames answered", registry=r)
        self.errors = Counter(
            "mvs_stylizer_errors", "Streams ended with an error, by status code", ["code"], registry=r
        )
        self.latency = Histogram(
            "mvs_stylizer_key_frame_seconds", "Key frame received to answer ready", buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue_wait = Histogram(
            "mvs_stylizer_queue_wait_seconds", "Key frame decoded to model start", buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("mvs_stylizer_queue_depth", "Key frames waiting for the model", registry=r)
        self.style_cache = Counter(
            "mvs_stylizer_style_cache", "Session style lookups, by result (hit or miss)", ["result"], registry=r
        )
        self.batch_size = Histogram(
            "mvs_stylizer_batch_size", "Key frames per model call", buckets=(1, 2, 4, 8, 16, 32), registry=r
        )

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on host:port (0 picks a free port); returns the port."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return server.server_port
