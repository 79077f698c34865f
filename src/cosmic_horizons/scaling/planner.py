"""Where replicas and leaders should be: a pure planner over a :class:`~.models.Layout`.

Each topic is one min-cost flow: every partition sends its replication factor in units to
the brokers (at most one replica per broker, and at most ``ceil(RF / racks)`` per rack when
brokers have racks); keeping a replica costs nothing, a new one costs the partition's bytes
(+1, so empty partitions stay put too). Each broker takes its even share of the topic's
replicas free of charge, and anything over it at a cost above every possible move, so the
cheapest flow is the balanced layout that copies the fewest bytes. The brokers that get
the share's remainder are those with the fewest replicas of the topics planned before, so
the whole cluster is even too (every broker within one of the even share). Leaders are a
second, smaller flow over each partition's new replicas: the first replica of each list
is the preferred leader; a partition keeps its own when that balances.

``minimal`` (drain) moves only what must move (replicas on brokers outside the set): the
overflow then costs less than any move, so the share only picks where those replicas go.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

from ..errors import ConfigError, HorizonsError
from .flow import FlowNetwork
from .models import Layout, Move, PartitionLayout, Plan

__all__ = [
    "PlanRefusedError",
    "leader_counts",
    "plan_drain",
    "plan_rebalance",
    "replica_counts",
]


class PlanRefusedError(HorizonsError):
    """The plan would leave partitions with fewer brokers than their replication factor."""


def replica_counts(assignment: Iterable[Sequence[int]], brokers: Iterable[int]) -> dict[int, int]:
    """Replicas per broker (every broker of ``brokers`` listed, 0 when it holds none)."""
    counts = dict.fromkeys(brokers, 0)
    for replicas in assignment:
        for b in replicas:
            counts[b] = counts.get(b, 0) + 1
    return counts


def leader_counts(assignment: Iterable[Sequence[int]], brokers: Iterable[int]) -> dict[int, int]:
    """Preferred leaders (first replicas) per broker."""
    counts = dict.fromkeys(brokers, 0)
    for replicas in assignment:
        if replicas:
            counts[replicas[0]] = counts.get(replicas[0], 0) + 1
    return counts


def _share(total: int, loads: dict[int, int]) -> tuple[int, set[int], set[int], int]:
    """The even share of ``total`` over the brokers of ``loads``: (base, brokers that get one
    more, brokers that may get one more, how many of those do). The remainder goes to the
    brokers with the lowest ``loads`` so far."""
    base, extra = divmod(total, len(loads))
    if extra == 0:
        return base, set(), set(), 0
    level = sorted(loads.values())[extra - 1]
    must = {b for b, n in loads.items() if n < level}
    pool = {b for b, n in loads.items() if n == level}
    return base, must, pool, extra - len(must)


def _targets(
    net: FlowNetwork,
    sink: int,
    nodes: dict[int, int],
    total: int,
    loads: dict[int, int],
    overflow_cost: int,
) -> None:
    """Broker -> sink edges: the share free of charge, anything more at ``overflow_cost``."""
    base, must, pool, k = _share(total, loads)
    spare = net.node()
    net.edge(spare, sink, k, 0)
    for b, node in nodes.items():
        net.edge(node, sink, base + (b in must), 0)
        if b in pool:
            net.edge(node, spare, 1, 0)
        net.edge(node, sink, total, overflow_cost)


def _place_replicas(
    parts: list[PartitionLayout],
    brokers: list[int],
    racks: dict[int, str | None],
    loads: dict[int, int],
    minimal: bool,
) -> list[set[int]]:
    """One topic's new replica sets (in ``parts`` order)."""
    net = FlowNetwork()
    source, sink = net.node(), net.node()
    nodes = {b: net.node() for b in brokers}
    rack_names = sorted({racks.get(b) or "" for b in brokers}) if any(racks.values()) else []
    # A new replica costs twice its bytes (+1): more than the overflow of ``minimal`` (1), so a
    # drain never moves a replica it need not move; ``bound`` is more than every move at once.
    bound = sum(2 * (p.size + 1) * len(p.replicas) for p in parts) + 1
    handles: list[list[tuple[int, tuple[int, int]]]] = []
    for p in parts:
        rf = len(p.replicas)
        pnode = net.node()
        net.edge(source, pnode, rf, 0)
        via = {b: pnode for b in brokers}
        if rack_names:
            per_rack = math.ceil(rf / len(rack_names))
            for rack in rack_names:
                rnode = net.node()
                net.edge(pnode, rnode, per_rack, 0)
                via.update({b: rnode for b in brokers if (racks.get(b) or "") == rack})
        row = []
        for b in brokers:
            cost = 0 if b in p.replicas else 2 * (p.size + 1)
            row.append((b, net.edge(via[b], nodes[b], 1, cost)))
        handles.append(row)
    total = sum(len(p.replicas) for p in parts)
    _targets(net, sink, nodes, total, loads, 1 if minimal else bound)
    flow, _ = net.solve(source, sink, total)
    if flow < total:
        raise PlanRefusedError(
            f"topic {parts[0].topic}: its replicas do not fit on brokers {brokers} "
            "(one replica per broker, spread over the racks)"
        )
    return [{b for b, h in row if net.flow_on(h)} for row in handles]


def _choose_leaders(
    parts: list[PartitionLayout], sets: list[set[int]], loads: dict[int, int]
) -> list[int]:
    """One topic's preferred leaders: balanced, keeping the current one where that fits."""
    net = FlowNetwork()
    source, sink = net.node(), net.node()
    nodes = {b: net.node() for b in loads}
    handles = []
    for p, chosen in zip(parts, sets, strict=True):
        pnode = net.node()
        net.edge(source, pnode, 1, 0)
        current = p.replicas[0] if p.replicas else None
        handles.append(
            [(b, net.edge(pnode, nodes[b], 1, 0 if b == current else 1)) for b in sorted(chosen)]
        )
    _targets(net, sink, nodes, len(parts), loads, len(parts) + 1)
    net.solve(source, sink, len(parts))
    return [next(b for b, h in row if net.flow_on(h)) for row in handles]


def _ordered(p: PartitionLayout, chosen: set[int], leader: int) -> tuple[int, ...]:
    kept = [b for b in p.replicas if b in chosen and b != leader]
    added = sorted(b for b in chosen if b not in p.replicas and b != leader)
    return (leader, *kept, *added)


def _check_fits(parts: Sequence[PartitionLayout], brokers: list[int]) -> None:
    for p in parts:
        if len(p.replicas) > len(brokers):
            raise PlanRefusedError(
                f"{p.topic}[{p.partition}] has replication factor {len(p.replicas)}, but only "
                f"{len(brokers)} broker(s) would hold it ({', '.join(map(str, brokers))})"
            )


def plan_rebalance(
    layout: Layout,
    brokers: Sequence[int] | None = None,
    *,
    topics: Collection[str] | None = None,
    minimal: bool = False,
) -> Plan:
    """The reassignment that spreads ``topics`` (default all) evenly over ``brokers``
    (default every broker of the layout) while copying as few bytes as possible.

    Raises :class:`ConfigError` for a broker the cluster does not have and
    :class:`PlanRefusedError` when a partition's replication factor exceeds the brokers.
    """
    known = {b.id for b in layout.brokers}
    targets = sorted(known if brokers is None else set(brokers))
    unknown = sorted(set(targets) - known)
    if unknown:
        raise ConfigError(
            f"--brokers: no broker {', '.join(map(str, unknown))} in the cluster "
            f"(brokers: {', '.join(map(str, sorted(known)))})"
        )
    if not targets:
        raise ConfigError("--brokers: no broker given")
    parts = [p for p in layout.partitions if topics is None or p.topic in topics]
    if topics is not None:
        missing = sorted(set(topics) - {p.topic for p in parts})
        if missing:
            raise ConfigError(f"--topic: no topic {', '.join(missing)} on the cluster")
    _check_fits(parts, targets)
    racks = layout.rack_of()
    by_topic: dict[str, list[PartitionLayout]] = {}
    for p in sorted(parts, key=lambda p: (p.topic, p.partition)):
        by_topic.setdefault(p.topic, []).append(p)
    replica_load = dict.fromkeys(targets, 0)
    leader_load = dict.fromkeys(targets, 0)
    moves: list[Move] = []
    for topic_parts in by_topic.values():
        sets = _place_replicas(topic_parts, targets, racks, replica_load, minimal)
        changed = [i for i, p in enumerate(topic_parts) if set(p.replicas) != sets[i]]
        leaders = _leaders_for(topic_parts, sets, changed, leader_load, minimal)
        for i, p in enumerate(topic_parts):
            after = _ordered(p, sets[i], leaders[i]) if i in leaders else p.replicas
            for b in after:
                replica_load[b] += 1
            leader_load[after[0]] += 1
            if after != p.replicas:
                moves.append(
                    Move(
                        topic=p.topic,
                        partition=p.partition,
                        before=p.replicas,
                        after=after,
                        size=p.size,
                    )
                )
    return Plan(brokers=tuple(targets), moves=tuple(moves))


def _leaders_for(
    parts: list[PartitionLayout],
    sets: list[set[int]],
    changed: list[int],
    loads: dict[int, int],
    minimal: bool,
) -> dict[int, int]:
    """{index: leader} of the partitions whose order is planned (all, or only the changed
    ones when ``minimal``: those keep their leader when it stays, else the least loaded)."""
    if not minimal:
        return dict(enumerate(_choose_leaders(parts, sets, loads)))
    counted = Counter(p.replicas[0] for i, p in enumerate(parts) if i not in changed)
    chosen: dict[int, int] = {}
    for i in changed:
        p = parts[i]
        current = p.replicas[0] if p.replicas else None
        if current in sets[i]:
            leader = current
        else:
            leader = min(sets[i], key=lambda b: (loads[b] + counted[b], b))
        counted[leader] += 1
        chosen[i] = leader
    return chosen


def plan_drain(layout: Layout, broker: int) -> Plan:
    """Move every replica off ``broker`` (and nothing else) onto the other brokers.

    Raises :class:`PlanRefusedError` when the others cannot hold a partition's replication
    factor, :class:`ConfigError` when the cluster has no such broker.
    """
    known = sorted(b.id for b in layout.brokers)
    if broker not in known:
        raise ConfigError(
            f"drain: no broker {broker} in the cluster (brokers: {', '.join(map(str, known))})"
        )
    rest = [b for b in known if b != broker]
    if not rest:
        raise PlanRefusedError(f"drain: broker {broker} is the only broker")
    on_it = [p for p in layout.partitions if broker in p.replicas]
    _check_fits(on_it, rest)
    return plan_rebalance(layout, rest, minimal=True)
