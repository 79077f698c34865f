"""HTTP monitoring API, Prometheus metrics and the array dashboard.

``create_app(state)`` builds the FastAPI app over an :class:`ApiState`; :class:`ApiServer` runs
it in a background thread; :func:`start_api` wires a monitor, an array view and a server in one
call (``horizons serve`` and ``horizons up`` use it).
"""

from .app import create_app
from .runtime import RunningApi, start_api
from .server import ApiServer
from .state import ApiState, StatsProvider

__all__ = ["ApiServer", "ApiState", "RunningApi", "StatsProvider", "create_app", "start_api"]
