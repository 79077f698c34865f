"""A simulated array: elements at sites reporting to their site hub, hubs forwarding to each other.

Element ``element-{s}-{n}`` (n-th element of site s) sends ``node_to_hub`` packets to its hub
``site-{s}``; a fraction of packets is forwarded by the hub to the next hub (``hub_to_hub``).
Metric values are realistic for a radio-telescope antenna and reproducible from a seed:

- vibration: RMS acceleration in g; ~0.01 g at rest, more when the drive is slewing, gusts;
- powerUsage: watts; a per-antenna baseline around 1.8 kW (cryogenics, electronics), slow drift
  and drive bursts up to ~4 kW;
- noiseFloor: dBm; around -100 dBm per antenna with small jitter;
- rfiLevel: dBm; a few dB above the noise floor, with occasional RFI bursts (aircraft, satellites)
  reaching -70..-45 dBm that last a few samples.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from .errors import ConfigError
from .packet import KafkaPayload, Metrics, chunk_bytes

__all__ = ["ArraySimulator", "Element", "StreamResult", "element_ids", "stream"]


@dataclass(slots=True)
class Element:
    """One antenna and its slowly varying state."""

    element_id: str
    site: int
    power_base: float
    noise_base: float
    vibration_base: float
    rfi_burst_left: int = 0
    rfi_burst_level: float = 0.0
    slewing_left: int = 0

    @property
    def site_id(self) -> str:
        return f"site-{self.site}"


def element_ids(elements: int, sites: int) -> list[tuple[str, int]]:
    """``(element id, site)`` pairs, elements spread round-robin over the sites."""
    per_site = [0] * sites
    out = []
    for i in range(elements):
        site = i % sites + 1
        per_site[site - 1] += 1
        out.append((f"element-{site}-{per_site[site - 1]}", site))
    return out


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ArraySimulator:
    """Reproducible telemetry for ``elements`` antennas over ``sites`` sites.

    ``chunk_samples`` > 0 adds a ``data_chunk`` of that many complex64 visibility samples
    (8 bytes each) to every packet. ``hub_forward_ratio`` of the packets are also forwarded
    hub to hub. ``clock`` supplies packet timestamps (default: now, UTC).
    """

    def __init__(
        self,
        elements: int = 263,
        sites: int = 5,
        *,
        seed: int = 0,
        chunk_samples: int = 0,
        hub_forward_ratio: float = 0.05,
        rfi_burst_probability: float = 0.002,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if elements < 1:
            raise ConfigError(f"--elements must be at least 1, got {elements}")
        if not 1 <= sites <= elements:
            raise ConfigError(f"--sites must be between 1 and the number of elements, got {sites}")
        if chunk_samples < 0:
            raise ConfigError(f"--chunk-samples must not be negative, got {chunk_samples}")
        if not 0 <= hub_forward_ratio <= 1:
            raise ConfigError(f"hub forward ratio must be within 0..1, got {hub_forward_ratio}")
        self.sites = sites
        self.chunk_samples = chunk_samples
        self.hub_forward_ratio = hub_forward_ratio
        self.rfi_burst_probability = rfi_burst_probability
        self._clock = clock
        self._rng = random.Random(seed)
        self._np_rng = np.random.default_rng(seed)
        rng = self._rng
        self.elements = [
            Element(
                element_id=eid,
                site=site,
                power_base=rng.gauss(1800.0, 120.0),
                noise_base=rng.gauss(-100.0, 1.5),
                vibration_base=abs(rng.gauss(0.012, 0.003)),
            )
            for eid, site in element_ids(elements, sites)
        ]

    def _metrics(self, el: Element) -> Metrics:
        rng = self._rng
        if el.slewing_left:
            el.slewing_left -= 1
        elif rng.random() < 0.01:
            el.slewing_left = rng.randint(5, 30)
        slewing = el.slewing_left > 0
        vibration = abs(rng.gauss(el.vibration_base * (4.0 if slewing else 1.0), 0.002))
        power = el.power_base + (rng.uniform(800.0, 2000.0) if slewing else 0.0) + rng.gauss(0, 15)
        noise = el.noise_base + rng.gauss(0.0, 0.4)
        if el.rfi_burst_left:
            el.rfi_burst_left -= 1
            rfi = el.rfi_burst_level + rng.gauss(0.0, 2.0)
        elif rng.random() < self.rfi_burst_probability:
            el.rfi_burst_left = rng.randint(3, 20)
            el.rfi_burst_level = rng.uniform(-70.0, -45.0)
            rfi = el.rfi_burst_level
        else:
            rfi = noise + abs(rng.gauss(3.0, 1.5))
        return Metrics(
            vibration=round(vibration, 5),
            power_usage=round(power, 1),
            noise_floor=round(noise, 2),
            rfi_level=round(rfi, 2),
        )

    def _chunk(self) -> str | None:
        if not self.chunk_samples:
            return None
        samples = self._np_rng.standard_normal(2 * self.chunk_samples, dtype=np.float32)
        return chunk_bytes(samples.tobytes())  # interleaved re/im: complex64 little-endian

    def tick(self) -> list[KafkaPayload]:
        """One reading from every element (plus hub forwards), all stamped with the same time."""
        stamp = self._clock().isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out: list[KafkaPayload] = []
        for el in self.elements:
            metrics = self._metrics(el)
            packet = KafkaPayload(
                source_id=el.element_id,
                target_id=el.site_id,
                route_type="node_to_hub",
                element_id=el.element_id,
                site_id=el.site_id,
                timestamp=stamp,
                metrics=metrics,
                data_chunk=self._chunk(),
            )
            out.append(packet)
            if self.sites > 1 and self._rng.random() < self.hub_forward_ratio:
                next_site = el.site % self.sites + 1
                out.append(
                    KafkaPayload(
                        source_id=el.site_id,
                        target_id=f"site-{next_site}",
                        route_type="hub_to_hub",
                        element_id=el.element_id,
                        site_id=el.site_id,
                        timestamp=stamp,
                        metrics=metrics,
                        data_chunk=packet.data_chunk,
                    )
                )
        return out

    def packets(self, count: int | None = None) -> Iterator[KafkaPayload]:
        """Packets tick after tick, ``count`` in all (endless when None)."""
        produced = 0
        while count is None or produced < count:
            for packet in self.tick():
                if count is not None and produced >= count:
                    return
                produced += 1
                yield packet


@dataclass(frozen=True, slots=True)
class StreamResult:
    """How a simulation run ended."""

    packets: int
    ticks: int
    elapsed_s: float
    behind_s: float
    """How far the last tick started behind its schedule (0 when the publisher kept up)."""


def stream(
    simulator: ArraySimulator,
    publish_many: Callable[[list[KafkaPayload]], object],
    *,
    rate_hz: float,
    duration_s: float | None = None,
    count: int | None = None,
    stop: threading.Event | None = None,
) -> StreamResult:
    """Publish a tick every ``1/rate_hz`` s until ``duration_s``, ``count`` packets or ``stop``.

    ``publish_many`` receives each tick's packets as one list (``Publisher.publish_many``).
    """
    if rate_hz <= 0:
        raise ConfigError(f"--rate must be greater than zero, got {rate_hz}")
    stop = stop or threading.Event()
    period = 1.0 / rate_hz
    started = time.monotonic()
    ticks = packets = 0
    behind = 0.0
    while not stop.is_set():
        now = time.monotonic()
        if duration_s is not None and now - started >= duration_s:
            break
        due = started + ticks * period
        if due > now:
            if stop.wait(due - now):
                break
            behind = 0.0
        else:
            behind = now - due
        batch = simulator.tick()
        if count is not None:
            batch = batch[: count - packets]
        publish_many(batch)
        packets += len(batch)
        ticks += 1
        if count is not None and packets >= count:
            break
    return StreamResult(packets, ticks, time.monotonic() - started, behind)
