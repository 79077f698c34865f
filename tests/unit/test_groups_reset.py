"""The offset-reset plan over hand-made offsets: every target, clamping, and skips."""

from __future__ import annotations

import pytest

from cosmic_horizons.errors import ConfigError
from cosmic_horizons.groups import ResetTo, plan_reset

T = "element.raw_data"
LOW = {(T, 0): 10, (T, 1): 0}
HIGH = {(T, 0): 50, (T, 1): 20}


def offsets(to: ResetTo, committed: dict[tuple[str, int], int | None], **kw: object) -> list[int]:
    plan = plan_reset("g", to, committed, LOW, HIGH, **kw)  # type: ignore[arg-type]
    return [p.new for p in plan.partitions]


def test_earliest_latest_and_datetime() -> None:
    committed: dict[tuple[str, int], int | None] = {(T, 0): 30, (T, 1): None}
    assert offsets(ResetTo("earliest"), committed) == [10, 0]
    assert offsets(ResetTo("latest"), committed) == [50, 20]
    # -1 from the broker: no record that late, so the end.
    at = {(T, 0): 42, (T, 1): -1}
    assert offsets(ResetTo("datetime", 1_700_000_000_000), committed, at_time=at) == [42, 20]


def test_shift_is_clamped_and_skips_partitions_without_an_offset() -> None:
    committed: dict[tuple[str, int], int | None] = {(T, 0): 30, (T, 1): None}
    plan = plan_reset("g", ResetTo("shift", -100), committed, LOW, HIGH)
    assert [(p.partition, p.current, p.new) for p in plan.partitions] == [(0, 30, 10)]
    assert plan.skipped == [f"{T}[1]: no committed offset to shift"]
    assert offsets(ResetTo("shift", 100), {(T, 0): 30}) == [50]
    assert plan_reset("g", ResetTo("shift", 5), {(T, 0): 30}, LOW, HIGH).offsets == {(T, 0): 35}


def test_exactly_one_target() -> None:
    assert ResetTo.from_options(earliest=False, latest=False, datetime_ms=None, shift=-3) == (
        ResetTo("shift", -3)
    )
    for kw in ({}, {"earliest": True, "latest": True}, {"latest": True, "shift": 1}):
        args = {"earliest": False, "latest": False, "datetime_ms": None, "shift": None, **kw}
        with pytest.raises(ConfigError, match="exactly one of --to-earliest"):
            ResetTo.from_options(**args)  # type: ignore[arg-type]
