"""The archiver's bookkeeping of lost offsets (no broker: only the part that needs none)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from cosmic_horizons.archiver.archiver import Archiver, _PartitionState
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.config import KafkaSettings


def archiver(tmp_path: Path) -> Archiver:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1", topic="element.raw_data")
    return Archiver(settings, ArchiveStorage(tmp_path.as_uri()))


NO_CONSUMER: Any = None  # nothing is open, so nothing is stored or committed


def test_archived_ranges_inside_the_lost_stretch_are_not_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a = archiver(tmp_path)
    state = _PartitionState(
        partition=3, next_offset=10, fences=[(20, 29), (90, 120), (200, 300)], last_archived=9
    )
    with caplog.at_level(logging.WARNING):
        a._on_loss(NO_CONSUMER, state, 10, 99)
    # 10..99 is 90 offsets; 20..29 and 90..99 are archived
    assert state.lost == a.lost_offsets == 70
    assert state.next_offset == 100
    assert state.fences == [(90, 120), (200, 300)]  # 90..120 still fences the reading
    assert state.last_archived == 29
    assert "element.raw_data partition 3: offsets 10-99 (70 not archived)" in caplog.text
    assert a.stats().lost_offsets == 70


def test_a_stretch_wholly_archived_is_no_loss(tmp_path: Path) -> None:
    a = archiver(tmp_path)
    state = _PartitionState(partition=0, next_offset=10, fences=[(10, 49)], last_archived=9)
    a._on_loss(NO_CONSUMER, state, 10, 49)
    assert a.lost_offsets == 0 and a.last_error is None
    assert state.next_offset == 50 and state.fences == [] and state.last_archived == 49


def test_a_stretch_already_passed_is_ignored(tmp_path: Path) -> None:
    a = archiver(tmp_path)
    state = _PartitionState(partition=0, next_offset=60, fences=[], last_archived=59)
    a._on_loss(NO_CONSUMER, state, 10, 49)
    assert a.lost_offsets == 0 and state.next_offset == 60
