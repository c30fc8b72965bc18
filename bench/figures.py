"""A figure of the benchmark table: its samples' median and p95 against a target. No Django here: the parent of
the scale section's child process reads figures without setting Django up."""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Figure:
    name: str
    median: str
    p95: str
    queries: str
    target: str
    passed: bool

    @property
    def result(self) -> str:
        return "pass" if self.passed else "FAIL"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def repeat(fn: Callable[[], object], times: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(times):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return samples


def measured(name, samples, *, target_ms=None, target_p95_ms=None, queries=None, max_queries=None, target=""):
    """A figure of `samples` (seconds), passed when its median, p95 and query count meet the targets given."""
    med, high = statistics.median(samples), p95(samples)
    passed = True
    if target_ms is not None:
        passed &= med * 1000 <= target_ms
    if target_p95_ms is not None:
        passed &= high * 1000 <= target_p95_ms
    if max_queries is not None:
        passed &= queries is not None and queries <= max_queries
    return Figure(name, ms(med), ms(high), "" if queries is None else str(queries), target, passed)
