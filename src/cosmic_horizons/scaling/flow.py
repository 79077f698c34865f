"""A small min-cost flow (successive shortest paths, Dijkstra with potentials).

Pure and exact: the planner states "which replica goes where" as a flow network and this
finds the cheapest integral flow of the wanted size. Graphs here are small (one topic's
partitions times the brokers), so plain Python is fast enough.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

__all__ = ["FlowNetwork"]


@dataclass(slots=True)
class _Edge:
    to: int
    cap: int
    cost: int
    rev: int
    flow: int = 0


@dataclass(slots=True)
class FlowNetwork:
    """Nodes are ints from :meth:`node`; edges carry a capacity and a cost per unit."""

    _adj: list[list[_Edge]] = field(default_factory=list)

    def node(self) -> int:
        self._adj.append([])
        return len(self._adj) - 1

    def edge(self, src: int, dst: int, cap: int, cost: int) -> tuple[int, int]:
        """Add an edge; its handle for :meth:`flow_on`. Costs must not be negative."""
        if cost < 0 or cap < 0:
            raise ValueError(f"edge {src}->{dst}: negative cost or capacity")
        self._adj[src].append(_Edge(dst, cap, cost, len(self._adj[dst])))
        self._adj[dst].append(_Edge(src, 0, -cost, len(self._adj[src]) - 1))
        return src, len(self._adj[src]) - 1

    def flow_on(self, handle: tuple[int, int]) -> int:
        src, index = handle
        return self._adj[src][index].flow

    def solve(self, source: int, sink: int, wanted: int) -> tuple[int, int]:
        """Push up to ``wanted`` units from ``source`` to ``sink`` at least cost: (flow, cost)."""
        n = len(self._adj)
        potential = [0] * n
        total = cost = 0
        while total < wanted:
            dist, prev = self._shortest(source, potential)
            if dist[sink] is None:
                break
            for v in range(n):
                d = dist[v]
                if d is not None:
                    potential[v] += d
            push = wanted - total
            v = sink
            while v != source:
                u, i = prev[v]
                push = min(push, self._adj[u][i].cap - self._adj[u][i].flow)
                v = u
            v = sink
            while v != source:
                u, i = prev[v]
                e = self._adj[u][i]
                e.flow += push
                self._adj[v][e.rev].flow -= push
                cost += push * e.cost
                v = u
            total += push
        return total, cost

    def _shortest(
        self, source: int, potential: list[int]
    ) -> tuple[list[int | None], list[tuple[int, int]]]:
        n = len(self._adj)
        dist: list[int | None] = [None] * n
        prev: list[tuple[int, int]] = [(-1, -1)] * n
        dist[source] = 0
        heap = [(0, source)]
        while heap:
            d, u = heapq.heappop(heap)
            if d != dist[u]:
                continue
            for i, e in enumerate(self._adj[u]):
                if e.cap - e.flow <= 0:
                    continue
                nd = d + e.cost + potential[u] - potential[e.to]
                current = dist[e.to]
                if current is None or nd < current:
                    dist[e.to] = nd
                    prev[e.to] = (u, i)
                    heapq.heappush(heap, (nd, e.to))
        return dist, prev
