"""How healthy one array element looks: thresholds and the rules, worst rule wins.

=========  ========================================================================
``stale``  no packet for ``stale_after_s`` seconds (its last metrics are shown greyed)
``alarm``  RFI above ``rfi_alarm_dbm``, or noise floor above ``noise_alarm_dbm``
``warn``   RFI above ``rfi_warn_dbm``, noise floor above ``noise_warn_dbm`` or below
           ``noise_low_dbm`` (a receiver chain that went quiet is as suspect as a hot one)
``ok``     everything else
=========  ========================================================================

The defaults fit the array's receivers: a noise floor near -100 dBm with RFI a few dB above it
in quiet sky; aircraft and satellite bursts reach -70 to -45 dBm.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from .errors import ConfigError

__all__ = ["HEALTH_ORDER", "ElementHealth", "HealthThresholds", "classify", "judge_live"]

ElementHealth = Literal["ok", "warn", "alarm", "stale"]
"""How healthy one array element is (not the data plane: see ``monitor.health``)."""
HEALTH_ORDER: Final[tuple[ElementHealth, ...]] = ("ok", "warn", "alarm", "stale")

_OK: Final[tuple[ElementHealth, tuple[str, ...]]] = ("ok", ())


class HealthThresholds(msgspec.Struct, frozen=True, kw_only=True):
    """Limits that turn an element's metrics into ok / warn / alarm / stale (dBm, seconds)."""

    rfi_warn_dbm: float = -80.0
    rfi_alarm_dbm: float = -60.0
    noise_warn_dbm: float = -90.0
    noise_alarm_dbm: float = -80.0
    noise_low_dbm: float = -125.0
    stale_after_s: float = 30.0

    def __post_init__(self) -> None:
        if self.rfi_alarm_dbm < self.rfi_warn_dbm:
            raise ConfigError("health thresholds: rfi_alarm_dbm must be >= rfi_warn_dbm")
        if self.noise_alarm_dbm < self.noise_warn_dbm:
            raise ConfigError("health thresholds: noise_alarm_dbm must be >= noise_warn_dbm")
        if self.noise_low_dbm >= self.noise_warn_dbm:
            raise ConfigError("health thresholds: noise_low_dbm must be below noise_warn_dbm")
        if self.stale_after_s <= 0:
            raise ConfigError("health thresholds: stale_after_s must be positive")


def classify(
    rfi_level: float, noise_floor: float, age_s: float, limits: HealthThresholds
) -> tuple[ElementHealth, list[str]]:
    """The health of one element and the reasons for it (empty when ok)."""
    if age_s > limits.stale_after_s:
        return "stale", [f"no packet for {age_s:.0f} s (stale after {limits.stale_after_s:g} s)"]
    alarms: list[str] = []
    warns: list[str] = []
    if rfi_level > limits.rfi_alarm_dbm:
        alarms.append(f"RFI {rfi_level:.1f} dBm > {limits.rfi_alarm_dbm:g} dBm")
    elif rfi_level > limits.rfi_warn_dbm:
        warns.append(f"RFI {rfi_level:.1f} dBm > {limits.rfi_warn_dbm:g} dBm")
    if noise_floor > limits.noise_alarm_dbm:
        alarms.append(f"noise floor {noise_floor:.1f} dBm > {limits.noise_alarm_dbm:g} dBm")
    elif noise_floor > limits.noise_warn_dbm:
        warns.append(f"noise floor {noise_floor:.1f} dBm > {limits.noise_warn_dbm:g} dBm")
    elif noise_floor < limits.noise_low_dbm:
        warns.append(f"noise floor {noise_floor:.1f} dBm < {limits.noise_low_dbm:g} dBm")
    if alarms:
        return "alarm", alarms + warns
    if warns:
        return "warn", warns
    return "ok", []


def judge_live(
    rfi_level: float, noise_floor: float, limits: HealthThresholds
) -> tuple[ElementHealth, tuple[str, ...]]:
    """:func:`classify` of an element that is not stale, with one shared answer for ``ok``.

    Most elements are ok most of the time: they cost four comparisons and no allocation.
    """
    if (
        rfi_level <= limits.rfi_warn_dbm
        and limits.noise_low_dbm <= noise_floor <= limits.noise_warn_dbm
    ):
        return _OK
    health, reasons = classify(rfi_level, noise_floor, 0.0, limits)
    return health, tuple(reasons)
