"""The crash-safety test hook: read by the CLI only, handed to the archiver as a callback."""

from __future__ import annotations

import pytest

from cosmic_horizons.cli.archive import CRASH_HOOK_ENV, crash_hook
from cosmic_horizons.errors import ConfigError


def test_no_hook_unless_asked_for() -> None:
    assert crash_hook(None) is None
    assert crash_hook("") is None


@pytest.mark.parametrize("spec", ["store", "write:x", "commit:-1"])
def test_a_bad_hook_is_a_config_error_naming_the_variable(spec: str) -> None:
    with pytest.raises(ConfigError, match=f"{CRASH_HOOK_ENV}=.*expected one of dlq, write, commit"):
        crash_hook(spec)


def test_the_hook_kills_at_the_nth_time_its_point_is_reached() -> None:
    kills: list[int] = []
    hook = crash_hook("write:2", kill=lambda: kills.append(1))
    assert hook is not None
    hook("dlq")
    hook("write")
    hook("commit")
    assert kills == []
    hook("write")
    assert kills == [1]


def test_the_archiver_reads_no_environment_for_it() -> None:
    import inspect

    from cosmic_horizons.archiver import archiver

    assert "environ" not in inspect.getsource(archiver)
    assert CRASH_HOOK_ENV not in inspect.getsource(archiver)
