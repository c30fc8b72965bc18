"""Reads a submit makes that do not depend on the source run, kept across a batch of submits by one member."""

from collections.abc import Callable, Hashable
from typing import Any


class Reads:
    """Each read once per key: a cohort's admission batch reads the target version, its node ids, the saved mapping,
    the prompt's revision and the catalog model for its first member, not for every member. A failed read (a
    refusal) is not kept: the next member reads again."""

    def __init__(self) -> None:
        self._kept: dict[Hashable, Any] = {}

    def once[T](self, key: Hashable, read: Callable[[], T]) -> T:
        if key not in self._kept:
            self._kept[key] = read()
        return self._kept[key]


class FreshReads(Reads):
    """Every read made: what a single replay, its preview and the plan endpoints use."""

    def once[T](self, key: Hashable, read: Callable[[], T]) -> T:
        return read()


FRESH = FreshReads()
