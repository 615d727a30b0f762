"""Benchmarks that compare BabelLens hot paths with the plain transformers forward pass."""

from babellens.bench.capture import CaptureBenchmark, ThroughputRow, bench_capture

__all__ = ["CaptureBenchmark", "ThroughputRow", "bench_capture"]
