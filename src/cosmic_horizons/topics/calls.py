"""One admin client's calls: bounded in time, their librdkafka errors translated.

:class:`AdminCalls` is the base of :class:`~cosmic_horizons.topics.admin.TopicAdmin`: it owns
the client and its lifecycle, waits for each request's future within the timeout (ending the
wait at once on a SASL/TLS failure) and names the operation in every error.
"""

from __future__ import annotations

import builtins
import concurrent.futures
import contextlib
import time
from concurrent.futures import Future
from typing import Self, TypeVar

from confluent_kafka.admin import AdminClient

from ..cluster import make_admin, raise_if_refused
from ..config import KafkaSettings
from ..errors import (
    BrokerError,
    BrokerUnavailableError,
    HorizonsError,
    from_kafka_error,
    kafka_errors,
    recent_security_error,
)

__all__ = ["AdminCalls"]

T = TypeVar("T")


class AdminCalls:
    """Calls on one cluster through a single admin client.

    ``timeout`` (seconds) bounds each broker request; nothing waits forever.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        timeout: float = 10.0,
        admin: AdminClient | None = None,
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        if admin is None:
            raise_if_refused(settings)  # nothing listens: say so now, not after the timeout
        self._client: AdminClient | None = admin or make_admin(
            settings, timeout_ms=int(timeout * 1000)
        )

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def _admin(self) -> AdminClient:
        if self._client is None:
            raise HorizonsError("the topic admin is closed")
        return self._client

    def close(self) -> None:
        """Release the admin client (librdkafka frees it with its last reference); later
        operations raise :class:`~cosmic_horizons.errors.HorizonsError`. Idempotent."""
        self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls ---------------------------------------------------------------------------

    def _errors(
        self,
        operation: str,
        target: str = "",
        *,
        error_type: builtins.type[BrokerError] = BrokerError,
    ) -> contextlib.AbstractContextManager[None]:
        """:func:`kafka_errors` for a call of this client (a SASL/TLS failure named as such)."""
        return kafka_errors(
            operation,
            target,
            error_type=error_type,
            client=self._admin,
            bootstrap=self._bootstrap,
        )

    def _translate(
        self,
        exc: BaseException,
        *,
        operation: str,
        target: str = "",
        error_type: builtins.type[BrokerError] = BrokerError,
    ) -> BrokerError:
        """``exc`` in this package's tree; a SASL/TLS failure behind it is named as such."""
        return from_kafka_error(
            exc,
            operation=operation,
            target=target,
            error_type=error_type,
            client=self._admin,
            bootstrap=self._bootstrap,
        )

    @property
    def _bootstrap(self) -> str:
        return self.settings.bootstrap_servers or ""

    def _result(self, future: Future[T]) -> T:
        started = time.monotonic()
        deadline = started + self.timeout + 5
        try:
            # In slices: a SASL/TLS failure reported meanwhile ends the wait at once (it will
            # not heal by waiting), instead of after the whole timeout.
            while True:
                try:
                    return future.result(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
                except concurrent.futures.TimeoutError:
                    if time.monotonic() >= deadline:
                        raise
                with contextlib.suppress(Exception):
                    self._admin.poll(0)
                seen = recent_security_error(self._bootstrap, time.monotonic() - started)
                if seen is not None:
                    future.cancel()
                    raise seen.at(f"request to {self._bootstrap}")
        except concurrent.futures.TimeoutError as exc:
            with contextlib.suppress(Exception):
                self._admin.poll(0)  # serve queued error callbacks: a SASL/TLS failure?
            seen = recent_security_error(self._bootstrap)
            if seen is not None:
                raise seen.at(f"request to {self._bootstrap}") from exc
            raise BrokerUnavailableError(
                f"no answer from {self._bootstrap} within {self.timeout + 5:.0f} s"
            ) from exc
