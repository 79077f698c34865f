"""The data's checks: consumer lag (Burrow) and retention headroom, disk, clock skew,
dead letters, and the archive. Each is a pure function of a :class:`~.state.ClusterState`.
"""

from __future__ import annotations

from .._units import format_bytes, format_duration_ms
from ..archiver.archiver import DEFAULT_GROUP as ARCHIVER_GROUP
from ..topics.models import dlq_topic_name
from .state import CheckResult, ClusterState, Level

__all__ = [
    "CLOCK_SKEW_WARN_MS",
    "DISK_FAIL",
    "DISK_WARN",
    "HEADROOM_WARN",
    "check_archive",
    "check_clock",
    "check_disk",
    "check_dlq",
    "check_headroom",
    "check_lag",
    "headroom_ms",
    "human_duration",
]

#: A group whose oldest unread record is deleted within this fraction of the retention WARNs.
HEADROOM_WARN = 0.25
#: Share of a log dir's capacity used that WARNs, and FAILs.
DISK_WARN = 0.80
DISK_FAIL = 0.95
#: Record timestamps this far ahead of this host's clock, or this far from the packet's own
#: timestamp, WARN.
CLOCK_SKEW_WARN_MS = 5_000

_BURROW_LEVEL: dict[str, Level] = {
    "OK": "OK", "UNKNOWN": "WARN", "WARN": "WARN",
    "STOP": "FAIL", "STALL": "FAIL", "REWIND": "FAIL", "ERR": "FAIL",
}  # fmt: skip


def check_lag(s: ClusterState) -> list[CheckResult]:
    """The spec's "Consumer lag growing": each group's Burrow status and lag in seconds."""
    if not s.groups:
        return [CheckResult("lag", "SKIP", "no consumer groups")]
    out = []
    for g in s.groups:
        seconds = "" if g.max_lag_seconds is None else f", {g.max_lag_seconds:.1f} s behind"
        level = _BURROW_LEVEL.get(g.status, "FAIL")
        out.append(
            CheckResult(
                "lag",
                level,
                f"group {g.name}: {g.status} ({g.rule}); lag {g.total_lag} record(s){seconds}",
                None
                if level == "OK"
                else f"horizons lag --group {g.name} --samples 5; "
                "restart or scale its consumers (`horizons archive run` for the archiver)",
            )
        )
    return out


def headroom_ms(unread_ms: int, retention_ms: int, now_ms: int) -> int:
    """Time left before retention deletes a record written at ``unread_ms``.

    Kafka deletes a segment once its newest record is older than ``retention.ms``; the
    oldest unread record is gone at the latest then, so this is the time until
    ``unread_ms + retention_ms`` (negative: overdue).
    """
    return unread_ms + retention_ms - now_ms


def human_duration(ms: float) -> str:
    """``1.5 d``, ``3.2 h``, ``4.0 min``, ``12 s``: a duration at a readable scale."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000)):
        if ms >= size:
            return f"{ms / size:.1f} {unit}"
    return f"{ms / 1000:.0f} s"


def check_headroom(s: ClusterState) -> list[CheckResult]:
    """Time until retention deletes offsets a group has not read (the archiver's especially)."""
    out: list[CheckResult] = []
    for g in s.groups:
        worst: tuple[int, str, int] | None = None
        for p in g.partitions:
            topic = s.topics.get(p.topic)
            offsets = s.offsets.get((p.topic, p.partition))
            if topic is None or offsets is None or p.committed is None:
                continue
            where = f"{p.topic}[{p.partition}]"
            if p.committed < offsets.earliest:
                lost = offsets.earliest - p.committed
                out.append(
                    CheckResult(
                        "headroom",
                        "FAIL",
                        f"group {g.name}: {lost} record(s) of {where} deleted by retention "
                        f"before it read them (committed {p.committed}, log start "
                        f"{offsets.earliest})",
                        f"recover them with `horizons archive replay` if archived; raise "
                        f"retention: horizons topics alter {p.topic} --retention 14d",
                    )
                )
                worst = None
                break
            retention = _int(topic.configs.get("retention.ms"))
            if p.unread_ms is None or retention is None or retention < 0:
                continue
            left = headroom_ms(p.unread_ms, retention, s.now_ms)
            if worst is None or left < worst[0]:
                worst = (left, f"{where}, retention {format_duration_ms(retention)}", retention)
        if worst is None:
            continue
        left, where, retention = worst
        tight = left < HEADROOM_WARN * retention
        # What retention takes before the archiver has it is lost for good.
        archiver = g.name == ARCHIVER_GROUP
        level: Level = ("FAIL" if archiver else "WARN") if tight else "OK"
        out.append(
            CheckResult(
                "headroom",
                level,
                f"group {g.name}{' (the archiver)' if archiver else ''}: its oldest unread "
                "record is deleted in "
                f"{human_duration(max(0, left))} ({where})",
                f"catch the group up or raise retention: horizons topics alter "
                f"{s.topic} --retention 14d"
                if tight
                else None,
            )
        )
    return out or [CheckResult("headroom", "SKIP", "no group with unread records")]


def check_disk(s: ClusterState) -> list[CheckResult]:
    """The spec's "Disk space growing": bytes per broker (DescribeLogDirs), capacity, growth."""
    if s.usage is None:
        skip = CheckResult("disk", "SKIP", f"no disk usage: {s.usage_error or 'not read'}")
        return [skip, *_trim_plan(s)]
    out: list[CheckResult] = []
    per_broker = s.usage.by_broker()
    for d in s.usage.log_dirs:
        if d.error is not None:
            out.append(
                CheckResult(
                    "disk",
                    "FAIL",
                    f"broker {d.broker} log dir {d.log_dir}: {d.error}",
                    "check that disk on the broker (its log names the failure)",
                )
            )
            continue
        if not d.total_bytes or d.usable_bytes is None:
            continue
        used = 1 - d.usable_bytes / d.total_bytes
        level: Level = "FAIL" if used >= DISK_FAIL else "WARN" if used >= DISK_WARN else "OK"
        out.append(
            CheckResult(
                "disk",
                level,
                f"broker {d.broker} {d.log_dir}: {used:.0%} used "
                f"({format_bytes(d.usable_bytes)} free of {format_bytes(d.total_bytes)})",
                None
                if level == "OK"
                else f"lower retention (horizons topics alter {s.topic} --retention 3d), or "
                f"trim what the archive holds: horizons topics trim {s.topic} --archived",
            )
        )
    total = s.usage.total_bytes
    line = ", ".join(f"{b}: {format_bytes(n)}" for b, n in per_broker.items())
    growth = _growth(s, total)
    out.append(
        CheckResult("disk", "OK", f"{format_bytes(total)} on disk ({line}){growth}{_limits(s)}")
    )
    out.extend(_trim_plan(s))
    return out


def _trim_plan(s: ClusterState) -> list[CheckResult]:
    """How much of what Kafka holds the archive already has, and what a trim would drop."""
    if s.archive_trim is None:
        return []
    droppable, held = s.archive_trim
    return [
        CheckResult(
            "disk",
            "OK",
            f"the archive already holds {droppable} of the {held} record(s) of {s.topic} "
            f"in Kafka; `horizons topics trim {s.topic} --archived` would drop them",
        )
    ]


def _limits(s: ClusterState) -> str:
    """The topic's retention limits, which bound its size."""
    topic = s.topics.get(s.topic)
    if topic is None:
        return ""
    ms = _int(topic.configs.get("retention.ms"))
    size = _int(topic.configs.get("retention.bytes"))
    parts = []
    if ms is not None:
        parts.append(f"retention.ms {format_duration_ms(ms)}")
    if size is not None:
        parts.append("retention.bytes " + ("unlimited" if size < 0 else format_bytes(size)))
    return f"; {s.topic}: {', '.join(parts)}" if parts else ""


def _growth(s: ClusterState, total: int) -> str:
    if s.previous_usage is None or s.now_ms <= s.previous_usage[0]:
        return ""
    at, before = s.previous_usage
    rate = (total - before) / ((s.now_ms - at) / 1000)
    return f"; {'+' if rate >= 0 else '-'}{format_bytes(abs(rate))}/s since the last check"


def check_clock(s: ClusterState) -> list[CheckResult]:
    """Record timestamps vs this host's clock, and packet timestamps vs record timestamps."""
    if not s.clock:
        return [CheckResult("clock", "SKIP", f"no recent records in {s.topic} to compare")]
    ahead = max(c.record_ms - s.now_ms for c in s.clock)
    packet = [abs(c.record_ms - c.packet_ms) for c in s.clock if c.packet_ms is not None]
    out: list[CheckResult] = []
    if ahead > CLOCK_SKEW_WARN_MS:
        out.append(
            CheckResult(
                "clock",
                "WARN",
                f"record timestamps up to {ahead / 1000:.1f} s ahead of this host's clock",
                "run NTP (chrony) on the producers, the brokers and this host",
            )
        )
    if packet and max(packet) > CLOCK_SKEW_WARN_MS:
        out.append(
            CheckResult(
                "clock",
                "WARN",
                f"packet timestamps up to {max(packet) / 1000:.1f} s from their record "
                "timestamps: an element's clock or the producer's is off",
                "run NTP on the elements and the producers",
            )
        )
    if not out:
        out.append(
            CheckResult(
                "clock",
                "OK",
                f"{len(s.clock)} recent record(s): timestamps within "
                f"{CLOCK_SKEW_WARN_MS / 1000:.0f} s of this host and of their packets",
            )
        )
    return out


def check_dlq(s: ClusterState) -> list[CheckResult]:
    """Dead-letter topic growth since the last check."""
    dlq = dlq_topic_name(s.topic)
    if s.dlq_records is None:
        return [CheckResult("dlq", "SKIP", f"{dlq} does not exist")]
    grew = None if s.previous_dlq_records is None else s.dlq_records - s.previous_dlq_records
    fix = f"horizons consume -t {dlq} --from-beginning shows them with their reasons"
    if grew is not None and grew > 0:
        return [CheckResult("dlq", "WARN", f"{dlq}: +{grew} dead letter(s) since the last check "
                            f"({s.dlq_records} in all)", fix)]  # fmt: skip
    if grew is None and s.dlq_records > 0:
        return [CheckResult("dlq", "WARN", f"{dlq}: {s.dlq_records} dead letter(s)", fix)]
    return [CheckResult("dlq", "OK", f"{dlq}: {s.dlq_records} dead letter(s), none new")]


def check_archive(s: ClusterState) -> list[CheckResult]:
    """``archive verify``'s summary, when the doctor was given the archive (--storage)."""
    if s.archive_error is not None:
        return [CheckResult("archive", "FAIL", f"archive: {s.archive_error}",
                            "check --storage / HORIZONS_ARCHIVE_URL")]  # fmt: skip
    if s.archive is None:
        return [CheckResult("archive", "SKIP", "no archive given (--storage)")]
    files, problems = s.archive
    if problems:
        return [CheckResult("archive", "WARN", f"archive: {files} file(s), {len(problems)} "
                            f"problem(s): {problems[0]}", "horizons archive verify")]  # fmt: skip
    return [CheckResult("archive", "OK", f"archive: {files} file(s), no gaps or overlaps")]


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(float(value))
    except ValueError:
        return None
