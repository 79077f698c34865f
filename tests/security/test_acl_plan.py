"""The ACL plan as data (no broker: runs on every engine): its forms agree with each other,
with the code's names, and with docs/security.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from cosmic_horizons.acls import ARCHIVER_GROUP, Principals, acl_plan, bindings, default_users
from cosmic_horizons.acls_text import kafka_acls_commands, markdown_table, strimzi_users
from cosmic_horizons.archiver.archiver import DEFAULT_GROUP
from cosmic_horizons.config import DEFAULT_TOPIC
from cosmic_horizons.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_security_page_shows_the_plan_the_code_gives() -> None:
    text = DOCS.read_text()
    found = re.search(r"<!-- acls: [^>]*-->\n(.*?)<!-- /acls -->", text, re.S)
    assert found, "docs/security.md lost its ACL table markers"
    assert found.group(1) == markdown_table(acl_plan(DEFAULT_TOPIC))


def test_names_match_the_components() -> None:
    assert ARCHIVER_GROUP == DEFAULT_GROUP
    assert default_users() == (
        "horizons-publisher", "horizons-archiver", "horizons-monitor", "horizons-operator"
    )  # fmt: skip


def test_prod_adds_idempotent_write_for_the_publisher_only() -> None:
    def ops(profile: str, role: str) -> set[str]:
        plan = {r.role: r for r in acl_plan("t", profile)}  # type: ignore[arg-type]
        return {f"{g.resource}:{op}" for g in plan[role].grants for op in g.operations}

    assert "cluster:IdempotentWrite" in ops("prod", "publisher")
    assert "cluster:IdempotentWrite" not in ops("dev", "publisher")
    assert ops("prod", "archiver") == ops("dev", "archiver")


def test_every_form_carries_every_grant() -> None:
    plan = acl_plan("t", "prod", principals=Principals.parse(["monitor=User:site-b-api"]))
    total = len(bindings(plan))
    commands = kafka_acls_commands(plan)
    assert commands.count("--operation ") == total
    assert "--allow-principal User:site-b-api" in commands
    assert "--group horizons-console- --resource-pattern-type prefixed" in commands
    users = [d for d in yaml.safe_load_all(strimzi_users(plan)) if d]
    assert [u["metadata"]["name"] for u in users][2] == "site-b-api"
    assert (
        sum(len(a["operations"]) for u in users for a in u["spec"]["authorization"]["acls"])
        == total
    )


@pytest.mark.parametrize(
    ("pairs", "needle"),
    [(["nobody=User:x"], "ROLE one of"), (["publisher"], "ROLE=User:NAME"),
     (["archiver=x"], "expected User:NAME")],
)  # fmt: skip
def test_bad_principal_names_the_option(pairs: list[str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Principals.parse(pairs)


def test_a_kafka_user_needs_a_dns_name() -> None:
    plan = acl_plan("t", principals=Principals(operator="User:CN=ops,O=site"))
    with pytest.raises(ConfigError, match="principal 'User:CN=ops,O=site' of operator"):
        strimzi_users(plan)
