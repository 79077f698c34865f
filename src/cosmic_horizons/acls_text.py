"""The ACL plan of :mod:`cosmic_horizons.acls` as text: ``kafka-acls`` commands, Strimzi
``KafkaUser`` resources and the Markdown table of docs/security.md."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Final

from .acls import RoleAcls
from .errors import ConfigError

__all__ = ["kafka_acls_commands", "markdown_table", "strimzi_users"]

_USERS: Final = re.compile(r"^User:[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")


def kafka_acls_commands(plan: Iterable[RoleAcls], bootstrap: str = "$BOOTSTRAP") -> str:
    """The plan as ``kafka-acls.sh --add`` commands (one a grant)."""
    lines = [
        "# Run as a super user; admin.properties holds that user's client settings.",
    ]
    for role in plan:
        lines.append(f"# {role.role}: {role.runs}")
        for g in role.grants:
            parts = [
                "kafka-acls.sh",
                f"--bootstrap-server {bootstrap}",
                "--command-config admin.properties",
                "--add",
                f"--allow-principal {role.principal}",
                *(f"--operation {op}" for op in g.operations),
            ]
            if g.resource == "cluster":
                parts.append("--cluster")
            else:
                name = f"'{g.name}'" if g.name == "*" else g.name
                parts.append(f"--{g.resource} {name}")
            if g.pattern == "prefixed":
                parts.append("--resource-pattern-type prefixed")
            lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"


def strimzi_users(
    plan: Iterable[RoleAcls], *, cluster: str = "horizons", namespace: str = "data-plane"
) -> str:
    """The plan as Strimzi ``KafkaUser`` resources (SCRAM-SHA-512, simple authorization)."""
    docs: list[str] = []
    for role in plan:
        if not _USERS.match(role.principal):
            raise ConfigError(
                f"principal {role.principal!r} of {role.role}: a KafkaUser needs "
                "User:NAME with NAME a lower-case DNS name"
            )
        lines = [
            "apiVersion: kafka.strimzi.io/v1beta2",
            "kind: KafkaUser",
            "metadata:",
            f"  name: {role.user}",
            f"  namespace: {namespace}",
            "  labels:",
            f"    strimzi.io/cluster: {cluster}",
            "    app.kubernetes.io/part-of: cosmic-horizons",
            f"    app.kubernetes.io/component: {role.role}",
            "spec:",
            "  authentication:",
            "    type: scram-sha-512",
            "  authorization:",
            "    type: simple",
            "    acls:",
        ]
        for g in role.grants:
            lines.append(f"      # {g.why}")
            lines.append("      - resource:")
            lines.append(f"          type: {g.resource}")
            if g.resource != "cluster":
                lines.append(f"          name: {json.dumps(g.name)}")
                lines.append(
                    f"          patternType: {'prefix' if g.pattern == 'prefixed' else 'literal'}"
                )
            lines.append(f"        operations: [{', '.join(g.operations)}]")
            lines.append('        host: "*"')
        docs.append("\n".join(lines))
    return "---\n".join(d + "\n" for d in docs)


def markdown_table(plan: Iterable[RoleAcls]) -> str:
    """The plan as the Markdown table of docs/security.md."""
    rows = [
        "| Principal | Runs | Resource | Operations | Why |",
        "|---|---|---|---|---|",
    ]
    for role in plan:
        for i, g in enumerate(role.grants):
            first = i == 0
            if g.resource == "cluster":
                res = "cluster"
            else:
                res = f"{g.resource} `{g.name}`" + (" (prefix)" if g.pattern == "prefixed" else "")
            rows.append(
                f"| {f'`{role.principal}`' if first else ''} | {role.runs if first else ''} "
                f"| {res} | {', '.join(g.operations)} | {g.why} |"
            )
    return "\n".join(rows) + "\n"
