from typing import Any

def setup(
    payload_type: type[Any],
    payload_fields: tuple[str, ...],
    metrics_type: type[Any],
    metrics_fields: tuple[str, ...],
    payload_slow: Any,
    metrics_slow: Any,
    stamp_cache: dict[str, int],
    routes: tuple[str, str],
    max_id: int,
    max_chunk: int,
) -> None: ...
def check_payload(obj: Any, /) -> None: ...
def check_metrics(obj: Any, /) -> None: ...
