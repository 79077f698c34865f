"""The reassignment planner on hand-made layouts: balance, least data moved, RF, racks."""

from __future__ import annotations

import itertools

import pytest

from cosmic_horizons.errors import ConfigError
from cosmic_horizons.scaling import (
    Broker,
    Layout,
    PartitionLayout,
    Plan,
    PlanRefusedError,
    leader_counts,
    plan_drain,
    plan_rebalance,
    replica_counts,
)


def layout(
    assign: dict[str, list[tuple[int, ...]]],
    brokers: int | dict[int, str] = 3,
    sizes: dict[tuple[str, int], int] | None = None,
) -> Layout:
    ids = {b: None for b in range(1, brokers + 1)} if isinstance(brokers, int) else brokers
    return Layout(
        brokers=tuple(Broker(b, rack) for b, rack in ids.items()),
        partitions=tuple(
            PartitionLayout(
                topic=t, partition=i, replicas=r, leader=r[0], size=(sizes or {}).get((t, i), 1000)
            )
            for t, parts in assign.items()
            for i, r in enumerate(parts)
        ),
    )


def applied(lay: Layout, plan: Plan) -> dict[tuple[str, int], tuple[int, ...]]:
    after = {(p.topic, p.partition): p.replicas for p in lay.partitions}
    for m in plan.moves:
        assert after[(m.topic, m.partition)] == m.before
        after[(m.topic, m.partition)] = m.after
    return after


def assert_even(counts: dict[int, int]) -> None:
    assert max(counts.values()) - min(counts.values()) <= 1, counts


def three_node_prod() -> Layout:
    """The prod topic (3 partitions, RF 3) and a 12-partition RF 3 topic on 3 of 4 brokers."""
    rot = [(1, 2, 3), (2, 3, 1), (3, 1, 2)]
    return layout(
        {"element.raw_data": rot, "__consumer_offsets": [rot[i % 3] for i in range(12)]},
        brokers=4,
    )


def test_a_fourth_broker_gets_its_share_of_replicas_and_leaders() -> None:
    lay = three_node_prod()
    plan = plan_rebalance(lay)
    after = applied(lay, plan)
    everything = list(after.values())
    assert_even(replica_counts(everything, [1, 2, 3, 4]))
    assert_even(leader_counts(everything, [1, 2, 3, 4]))
    for topic in ("element.raw_data", "__consumer_offsets"):
        mine = [r for (t, _), r in after.items() if t == topic]
        assert_even(replica_counts(mine, [1, 2, 3, 4]))
        assert_even(leader_counts(mine, [1, 2, 3, 4]))
    assert all(len(set(r)) == len(r) == 3 for r in everything)
    # 45 replicas over 4 brokers: the new one takes 11, so exactly 11 copies move.
    assert plan.replicas_moved == 11
    assert leader_counts(everything, [4])[4] >= 3


def test_a_balanced_cluster_plans_nothing() -> None:
    rot = [(1, 2, 3), (2, 3, 1), (3, 1, 2)]
    assert plan_rebalance(layout({"t": rot})).moves == ()


def test_leaders_only_reordered_when_replicas_are_already_even() -> None:
    lay = layout({"t": [(1, 2, 3), (1, 3, 2), (1, 2, 3)]})
    plan = plan_rebalance(lay)
    assert plan.moved_bytes == 0 and plan.moves
    after = applied(lay, plan)
    assert leader_counts(after.values(), [1, 2, 3]) == {1: 1, 2: 1, 3: 1}


def test_the_small_partitions_move_not_the_big_one() -> None:
    sizes = {("t", 0): 10**9, ("t", 1): 10, ("t", 2): 20, ("t", 3): 30}
    lay = layout({"t": [(1, 2), (1, 2), (1, 2), (1, 2)]}, brokers=4, sizes=sizes)
    plan = plan_rebalance(lay)
    after = applied(lay, plan)
    assert set(after[("t", 0)]) == {1, 2}, "the 1 GB partition must stay where it is"
    assert_even(replica_counts(after.values(), [1, 2, 3, 4]))
    # Every broker gets 2 of the 8 replicas: four copies of the three small partitions.
    assert plan.moved_bytes <= 10 * 2 + 20 + 30 and plan.replicas_moved == 4


def test_moves_least_data_among_balanced_layouts() -> None:
    """Brute force over every balanced layout of a tiny case: the plan copies the fewest bytes."""
    sizes = {("t", 0): 500, ("t", 1): 7, ("t", 2): 90}
    lay = layout({"t": [(1, 2), (1, 2), (1, 3)]}, brokers=4, sizes=sizes)
    plan = plan_rebalance(lay)
    best = None
    pairs = list(itertools.combinations([1, 2, 3, 4], 2))
    for combo in itertools.product(pairs, repeat=3):
        counts = replica_counts(combo, [1, 2, 3, 4])
        if max(counts.values()) - min(counts.values()) > 1:
            continue
        cost = sum(
            sizes[("t", i)] * len(set(c) - set(lay.partitions[i].replicas))
            for i, c in enumerate(combo)
        )
        best = cost if best is None else min(best, cost)
    assert plan.moved_bytes == best


def test_racks_spread_each_partition_over_racks() -> None:
    racks = {1: "a", 2: "a", 3: "b", 4: "b"}
    lay = layout({"t": [(1, 2), (1, 2), (3, 4), (3, 4)]}, brokers=racks)
    after = applied(lay, plan_rebalance(lay))
    for replicas in after.values():
        assert {racks[b] for b in replicas} == {"a", "b"}, after
    assert_even(replica_counts(after.values(), [1, 2, 3, 4]))


def test_brokers_option_moves_everything_off_the_left_out_ones() -> None:
    lay = three_node_prod()
    plan = plan_rebalance(lay, [2, 3, 4], topics=["element.raw_data"])
    after = applied(lay, plan)
    assert {m.topic for m in plan.moves} == {"element.raw_data"}
    for (topic, _), replicas in after.items():
        if topic == "element.raw_data":
            assert set(replicas) == {2, 3, 4}


def test_drain_moves_only_the_drained_brokers_replicas() -> None:
    lay = layout({"t": [(1, 2, 3), (2, 3, 4), (3, 4, 1), (4, 1, 2)]}, brokers=4)
    plan = plan_drain(lay, 4)
    after = applied(lay, plan)
    assert all(4 not in r for r in after.values())
    assert {(m.topic, m.partition) for m in plan.moves} == {("t", 1), ("t", 2), ("t", 3)}
    assert plan.replicas_moved == 3
    assert_even(replica_counts(after.values(), [1, 2, 3]))
    assert after[("t", 0)] == (1, 2, 3)


def test_drain_refuses_when_the_rest_cannot_hold_the_replication_factor() -> None:
    lay = layout({"t": [(1, 2, 3)]}, brokers=3)
    with pytest.raises(PlanRefusedError, match=r"t\[0\] has replication factor 3, but only 2"):
        plan_drain(lay, 2)


def test_unknown_broker_or_topic_is_a_usage_error() -> None:
    lay = three_node_prod()
    with pytest.raises(ConfigError, match="no broker 9"):
        plan_rebalance(lay, [1, 9])
    with pytest.raises(ConfigError, match="no topic nope"):
        plan_rebalance(lay, topics=["nope"])
    with pytest.raises(ConfigError, match="no broker 7"):
        plan_drain(lay, 7)


def test_drain_moves_nothing_else_even_where_moving_is_free() -> None:
    """Empty partitions cost (almost) nothing to move: a drain still leaves them alone."""
    sizes = {("t", i): 0 for i in range(4)}
    lay = layout({"t": [(1, 2), (1, 2), (1, 2), (3, 4)]}, brokers=4, sizes=sizes)
    plan = plan_drain(lay, 4)
    assert [m.partition for m in plan.moves] == [3]
    assert plan.replicas_moved == 1
