"""Plans as JSON files in the shape Kafka's ``kafka-reassign-partitions`` reads::

    {"version": 1, "partitions": [{"topic": "t", "partition": 0, "replicas": [1, 2, 3],
                                   "log_dirs": ["any", "any", "any"]}]}

The operator reviews or edits the file between ``--plan`` and ``--execute``. Every problem
in a file is a :class:`~cosmic_horizons.errors.ConfigError` naming the file and the entry.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from ..errors import ConfigError
from .models import Layout, Move, Plan

__all__ = ["plan_from_entries", "read_plan_file", "write_plan_file"]


class _Entry(msgspec.Struct, forbid_unknown_fields=True):
    topic: str
    partition: int
    replicas: list[int]
    log_dirs: list[str] | None = None


class _File(msgspec.Struct):
    version: int
    partitions: list[_Entry]


def plan_json(plan: Plan) -> dict[str, object]:
    """The plan in kafka-reassign-partitions' shape."""
    return {
        "version": 1,
        "partitions": [
            {
                "topic": m.topic,
                "partition": m.partition,
                "replicas": list(m.after),
                "log_dirs": ["any"] * len(m.after),
            }
            for m in plan.moves
        ],
    }


def write_plan_file(plan: Plan, path: Path) -> None:
    path.write_text(json.dumps(plan_json(plan), indent=2) + "\n")


def read_plan_file(path: Path) -> list[tuple[str, int, tuple[int, ...]]]:
    """(topic, partition, replicas) of every entry; a :class:`ConfigError` for a bad file."""
    where = f"--plan-file {path}"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = msgspec.json.decode(raw, type=_File)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: not a reassignment plan ({exc})") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{where}: not JSON ({exc})") from None
    if data.version != 1:
        raise ConfigError(f"{where}: version {data.version}, expected 1")
    entries: list[tuple[str, int, tuple[int, ...]]] = []
    seen: set[tuple[str, int]] = set()
    for i, e in enumerate(data.partitions):
        at = f"{where}: partitions[{i}] ({e.topic}[{e.partition}])"
        if not e.replicas or len(set(e.replicas)) != len(e.replicas):
            raise ConfigError(f"{at}: replicas {e.replicas} must be distinct broker ids")
        if e.log_dirs is not None and any(d != "any" for d in e.log_dirs):
            raise ConfigError(f'{at}: only "any" log dirs are supported, not {e.log_dirs}')
        if (e.topic, e.partition) in seen:
            raise ConfigError(f"{at}: the partition is listed twice")
        seen.add((e.topic, e.partition))
        entries.append((e.topic, e.partition, tuple(e.replicas)))
    return entries


def plan_from_entries(
    entries: list[tuple[str, int, tuple[int, ...]]], layout: Layout, source: str
) -> Plan:
    """A :class:`Plan` of ``entries`` checked against the cluster: every partition and broker
    must exist (``source`` names where the entries came from, for the error)."""
    current = {(p.topic, p.partition): p for p in layout.partitions}
    brokers = {b.id for b in layout.brokers}
    moves = []
    for topic, partition, replicas in entries:
        at = f"{source}: {topic}[{partition}]"
        part = current.get((topic, partition))
        if part is None:
            raise ConfigError(f"{at}: no such partition on the cluster")
        unknown = sorted(set(replicas) - brokers)
        if unknown:
            raise ConfigError(f"{at}: no broker {', '.join(map(str, unknown))} in the cluster")
        if replicas != part.replicas:
            moves.append(
                Move(
                    topic=topic,
                    partition=partition,
                    before=part.replicas,
                    after=replicas,
                    size=part.size,
                )
            )
    used = sorted({b for m in moves for b in m.after})
    return Plan(brokers=tuple(used), moves=tuple(moves))
