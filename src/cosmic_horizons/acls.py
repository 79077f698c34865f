"""Least privilege as data: each component's principal and the smallest ACL set it needs.

:func:`acl_plan` gives, for a topic and a profile, one :class:`RoleAcls` per component
(``publisher``, ``archiver``, ``monitor``, ``operator``): its principal (configurable, default
``User:horizons-<role>``) and its :class:`Grant` s. The same plan is written as
``kafka-acls`` commands (:func:`kafka_acls_commands`), as Strimzi ``KafkaUser`` resources
(:func:`strimzi_users`), as Admin API bindings (:func:`bindings`, for ``horizons acls apply``
and ``check``) and as the table of docs/security.md (:func:`markdown_table`), so none of them
can drift from the others. The tests of ``tests/security`` run every component with its set
alone against a broker whose authorizer refuses whatever no ACL allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from .config import KafkaSettings, Profile
from .errors import AuthorizationError, ConfigError, kafka_errors
from .topics.models import dlq_topic_name

__all__ = [
    "ROLES",
    "Grant",
    "Principals",
    "Role",
    "RoleAcls",
    "acl_plan",
    "apply_acls",
    "binding_key",
    "bindings",
    "check_acls",
    "default_users",
    "lacking",
    "principal_of",
]

Role = Literal["publisher", "archiver", "monitor", "operator"]
ROLES: Final[tuple[Role, ...]] = ("publisher", "archiver", "monitor", "operator")
Resource = Literal["topic", "group", "cluster"]
Pattern = Literal["literal", "prefixed"]

#: Group-name prefixes the commands use for their throwaway consumer groups.
CONSOLE_GROUP_PREFIX: Final = "horizons-console-"
DASHBOARD_GROUP_PREFIX: Final = "cosmic-horizons-dashboard"
PEEK_GROUP_PREFIX: Final = "horizons-peek-"
#: The archiver's default group (``archiver.archiver.DEFAULT_GROUP``; a unit test keeps them equal).
ARCHIVER_GROUP: Final = "cosmic-horizons-archiver"
#: The Kafka cluster resource's one name.
CLUSTER: Final = "kafka-cluster"


@dataclass(frozen=True, slots=True)
class Grant:
    """``operations`` allowed on one resource (``name``, literal or a prefix), and why."""

    resource: Resource
    name: str
    operations: tuple[str, ...]
    why: str
    pattern: Pattern = "literal"


@dataclass(frozen=True, slots=True)
class RoleAcls:
    """One component: its principal, what runs as it, and its grants."""

    role: Role
    principal: str
    runs: str
    grants: tuple[Grant, ...]

    @property
    def user(self) -> str:
        """The principal's name without ``User:`` (a Strimzi ``KafkaUser`` name)."""
        return self.principal.split(":", 1)[1]


@dataclass(frozen=True, slots=True)
class Principals:
    """The principal of each role (``User:NAME``); default ``User:horizons-<role>``."""

    publisher: str = "User:horizons-publisher"
    archiver: str = "User:horizons-archiver"
    monitor: str = "User:horizons-monitor"
    operator: str = "User:horizons-operator"

    def __post_init__(self) -> None:
        for role in ROLES:
            value = getattr(self, role)
            if not value.startswith("User:") or len(value) <= len("User:"):
                raise ConfigError(f"--principal {role}={value!r}: expected User:NAME")

    @classmethod
    def parse(cls, pairs: Iterable[str]) -> Principals:
        """From ``ROLE=User:NAME`` pairs (``--principal``); unnamed roles keep the default."""
        given: dict[str, str] = {}
        for pair in pairs:
            role, sep, principal = pair.partition("=")
            if not sep or role.strip() not in ROLES:
                raise ConfigError(
                    f"--principal {pair!r}: expected ROLE=User:NAME, ROLE one of "
                    + ", ".join(ROLES)
                )
            given[role.strip()] = principal.strip()
        return cls(**given)

    def of(self, role: Role) -> str:
        return str(getattr(self, role))


@dataclass(frozen=True, slots=True)
class _Names:
    topic: str
    dlq: str
    archiver_group: str
    profile: Profile
    extra: Mapping[str, str] = field(default_factory=dict)


def _publisher(n: _Names) -> tuple[Grant, ...]:
    grants = [
        Grant("topic", n.topic, ("Write", "Describe"), "produce packets; its metadata"),
        Grant("topic", n.topic, ("DescribeConfigs",), "check the topic's layout before sending"),
    ]
    if n.profile == "prod":
        grants.append(
            Grant("cluster", CLUSTER, ("IdempotentWrite",), "the prod producer is idempotent")
        )
    return tuple(grants)


def _archiver(n: _Names) -> tuple[Grant, ...]:
    return (
        Grant("topic", n.topic, ("Read", "Describe"), "consume; offsets and the topic id"),
        Grant("group", n.archiver_group, ("Read", "Describe"), "join, commit, fetch offsets"),
        Grant("topic", n.dlq, ("Write", "Describe"), "dead letters"),
        Grant("topic", n.dlq, ("DescribeConfigs",), "check the dead-letter topic exists"),
    )


def _monitor(n: _Names) -> tuple[Grant, ...]:
    return (
        Grant("topic", n.topic, ("Read", "Describe"), "offsets, last records, the array view"),
        Grant("topic", n.topic, ("DescribeConfigs",), "retention and layout in reports"),
        Grant("topic", n.dlq, ("Describe",), "the dead-letter topic's offsets"),
        Grant("group", "*", ("Describe",), "every group's state and committed offsets"),
        Grant(
            "group",
            DASHBOARD_GROUP_PREFIX,
            ("Read",),
            "the array view's consumer",
            pattern="prefixed",
        ),
        Grant(
            "group",
            CONSOLE_GROUP_PREFIX,
            ("Read",),
            "consume's throwaway group",
            pattern="prefixed",
        ),
        Grant("cluster", CLUSTER, ("Describe",), "brokers, controller, the group list"),
    )


def _operator(n: _Names) -> tuple[Grant, ...]:
    ops = ("Create", "Describe", "DescribeConfigs", "AlterConfigs", "Alter", "Delete")
    why = "create, describe, alter configs, add partitions (Alter), delete records (Delete)"
    return (
        Grant("topic", n.topic, ops, why),
        Grant("topic", n.dlq, ops, why),
        Grant("topic", n.topic, ("Read",), "oldest-record ages (describe, trim)"),
        Grant("group", "*", ("Describe",), "committed offsets that trim keeps"),
        Grant("group", PEEK_GROUP_PREFIX, ("Read",), "the age reader", pattern="prefixed"),
        Grant("cluster", CLUSTER, ("Describe",), "broker count and versions"),
    )


_RUNS: Final[Mapping[Role, str]] = {
    "publisher": "Publisher, simulate, produce",
    "archiver": "archive run",
    "monitor": "monitor, lag, serve, consume",
    "operator": "topics ensure/list/describe/alter/trim",
}
_GRANTS = {
    "publisher": _publisher,
    "archiver": _archiver,
    "monitor": _monitor,
    "operator": _operator,
}


def acl_plan(
    topic: str,
    profile: Profile = "dev",
    *,
    principals: Principals | None = None,
    archiver_group: str = ARCHIVER_GROUP,
) -> tuple[RoleAcls, ...]:
    """Every role's principal and grants for ``topic`` (and its dead-letter topic)."""
    if not topic:
        raise ConfigError("acls: empty topic name")
    who = principals or Principals()
    names = _Names(topic, dlq_topic_name(topic), archiver_group, profile)
    return tuple(RoleAcls(r, who.of(r), _RUNS[r], _GRANTS[r](names)) for r in ROLES)


# -- the Admin API -------------------------------------------------------------------------

_RESOURCE_TYPE = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "cluster": ResourceType.BROKER,
}
_PATTERN_TYPE = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}


def _operation(name: str) -> AclOperation:
    upper = re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()
    return AclOperation[upper]


def bindings(plan: Iterable[RoleAcls]) -> list[AclBinding]:
    """One ALLOW binding per (principal, resource, operation), host ``*``."""
    out: list[AclBinding] = []
    for role in plan:
        for grant in role.grants:
            for op in grant.operations:
                out.append(
                    AclBinding(
                        _RESOURCE_TYPE[grant.resource],
                        grant.name,
                        _PATTERN_TYPE[grant.pattern],
                        role.principal,
                        "*",
                        _operation(op),
                        AclPermissionType.ALLOW,
                    )
                )
    return out


BindingKey = tuple[str, str, str, str, str, str, str]


def _name(value: object) -> str:
    """An enum member's name (the bindings' fields are typed loosely)."""
    return str(getattr(value, "name", value))


def binding_key(b: AclBinding) -> BindingKey:
    """A comparable identity of a binding (what the broker lists back)."""
    return (
        _name(b.restype),
        b.name,
        _name(b.resource_pattern_type),
        b.principal,
        b.host,
        _name(b.operation),
        _name(b.permission_type),
    )


def describe(b: AclBinding) -> str:
    """``Write on topic element.raw_data`` (``prefix`` named for a prefixed pattern)."""
    op = "".join(part.capitalize() for part in _name(b.operation).split("_"))
    kind = {"TOPIC": "topic", "GROUP": "group", "BROKER": "cluster"}.get(_name(b.restype), "")
    if kind == "cluster":
        return f"{op} on the cluster"
    prefix = " (prefix)" if _name(b.resource_pattern_type) == "PREFIXED" else ""
    return f"{op} on {kind} {b.name}{prefix}"


def principal_of(settings: KafkaSettings) -> str:
    """The principal the brokers see for ``settings``, as far as the client can tell."""
    if "SASL" in settings.security_protocol and settings.sasl_username:
        return f"User:{settings.sasl_username}"
    if "SASL" in settings.security_protocol and settings.sasl_mechanism == "OAUTHBEARER":
        return "the OAUTHBEARER token's principal"
    if settings.ssl_certificate_location:
        return f"the principal of {settings.ssl_certificate_location}"
    return "User:ANONYMOUS"


def lacking(
    refused: AuthorizationError,
    settings: KafkaSettings,
    operation: str,
    resource: Resource,
    name: str = "",
) -> AuthorizationError:
    """``refused`` naming the ACL it lacks (``Write`` on ``topic`` ``name``) and the principal."""
    acl = (
        f"{operation} on the cluster"
        if resource == "cluster"
        else f"{operation} on {resource} {name}"
    )
    return refused.naming(acl, principal_of(settings))


# -- applied on a cluster --------------------------------------------------------------


def default_users() -> tuple[str, ...]:
    """The SCRAM user names of the default principals (the secured local cluster makes them)."""
    who = Principals()
    return tuple(who.of(r).split(":", 1)[1] for r in ROLES)


def _present(admin: AdminClient, principal: str, bootstrap: str, timeout: float) -> set[BindingKey]:
    wanted = AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]  # any name
        ResourcePatternType.ANY,
        principal,
        None,  # type: ignore[arg-type]  # any host
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    with kafka_errors("DescribeAcls", f"principal {principal}", client=admin, bootstrap=bootstrap):
        found = admin.describe_acls(wanted, request_timeout=timeout).result(timeout + 5)
    return {binding_key(b) for b in found}


def check_acls(
    admin: AdminClient, plan: Iterable[RoleAcls], *, bootstrap: str, timeout: float = 10.0
) -> dict[str, list[AclBinding]]:
    """Per principal, the plan's bindings the cluster does not hold (DescribeAcls)."""
    missing: dict[str, list[AclBinding]] = {}
    for role in plan:
        present = _present(admin, role.principal, bootstrap, timeout)
        missing[role.principal] = [b for b in bindings([role]) if binding_key(b) not in present]
    return missing


def apply_acls(
    admin: AdminClient, plan: Iterable[RoleAcls], *, bootstrap: str, timeout: float = 10.0
) -> list[AclBinding]:
    """Create the plan's bindings the cluster lacks (CreateAcls); those created."""
    roles = tuple(plan)
    todo = [
        b
        for found in check_acls(admin, roles, bootstrap=bootstrap, timeout=timeout).values()
        for b in found
    ]
    if not todo:
        return []
    with kafka_errors("CreateAcls", f"{len(todo)} ACL(s)", client=admin, bootstrap=bootstrap):
        for future in admin.create_acls(todo, request_timeout=timeout).values():
            future.result(timeout + 5)
    return todo
