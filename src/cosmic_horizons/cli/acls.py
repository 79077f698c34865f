"""``horizons acls``: each component's least-privilege ACLs, printed, applied or checked.

``--print`` writes them as ``kafka-acls`` commands or Strimzi ``KafkaUser`` resources;
``apply`` creates the missing ones (CreateAcls; a second run creates nothing); ``check`` lists,
per principal, what is missing (DescribeAcls) and exits 1 when anything is.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from ..acls import Principals, RoleAcls, acl_plan, apply_acls, check_acls, describe
from ..acls_text import kafka_acls_commands, markdown_table, strimzi_users
from ..archiver.archiver import DEFAULT_GROUP
from ..cluster import make_admin
from ..errors import HorizonsError
from .common import (
    BootstrapOpt,
    JsonOpt,
    ProfileOpt,
    TopicOpt,
    err_console,
    load_settings,
    out_console,
    print_json,
)
from .exits import Exit, fail_with

__all__ = ["app"]


class Format(StrEnum):
    kafka_acls = "kafka-acls"
    strimzi = "strimzi"
    markdown = "markdown"


PrincipalOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--principal",
        help="ROLE=User:NAME for a role (publisher, archiver, monitor, operator); repeatable "
        "\\[default: User:horizons-<role>].",
        show_default=False,
    ),
]
GroupOpt = Annotated[str, typer.Option("--group", "-g", help="The archiver's consumer group.")]

app = typer.Typer(
    help="Least-privilege ACLs per component: --print them, apply them, check them.",
    no_args_is_help=False,
    invoke_without_command=True,
)


def _plan(
    topic: str | None, profile: str | None, principal: list[str] | None, group: str
) -> tuple[RoleAcls, ...]:
    settings = load_settings(topic=topic, profile=profile)
    return acl_plan(
        settings.topic,
        settings.profile,
        principals=Principals.parse(principal or ()),
        archiver_group=group,
    )


@app.callback()
def acls(
    ctx: typer.Context,
    print_: Annotated[
        bool, typer.Option("--print", help="Print the ACLs (see --format); change nothing.")
    ] = False,
    fmt: Annotated[
        Format,
        typer.Option("--format", help="kafka-acls commands, Strimzi KafkaUser YAML, or a table."),
    ] = Format.kafka_acls,
    cluster: Annotated[
        str, typer.Option("--cluster", help="Strimzi cluster name (the strimzi.io/cluster label).")
    ] = "horizons",
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
    principal: PrincipalOpt = None,
    group: GroupOpt = DEFAULT_GROUP,
) -> None:
    """Each component's principal and its smallest ACL set, for the topic and profile."""
    if ctx.invoked_subcommand is not None:
        return
    if not print_:
        err_console.print(ctx.get_help())
        raise typer.Exit(Exit.USAGE)
    try:
        plan = _plan(topic, profile, principal, group)
        if fmt is Format.strimzi:
            text = strimzi_users(plan, cluster=cluster)
        elif fmt is Format.markdown:
            text = markdown_table(plan)
        else:
            text = kafka_acls_commands(plan)
    except HorizonsError as exc:  # a callback is not wrapped by guarded()
        raise fail_with(exc) from None
    typer.echo(text, nl=False)


@app.command("apply")
def apply(
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
    principal: PrincipalOpt = None,
    group: GroupOpt = DEFAULT_GROUP,
) -> None:
    """Create the ACLs the cluster lacks (CreateAcls), as a principal allowed to (Alter on the
    cluster); a second run creates nothing and says so."""
    settings = load_settings(bootstrap=bootstrap, topic=topic, profile=profile)
    plan = _plan(settings.topic, settings.profile, principal, group)
    bootstrap_list = settings.require_bootstrap()
    created = apply_acls(make_admin(settings, timeout_ms=10_000), plan, bootstrap=bootstrap_list)
    total = sum(len(g.operations) for r in plan for g in r.grants)
    for binding in created:
        err_console.print(f"created: {binding.principal} {describe(binding)}")
    if created:
        err_console.print(f"created {len(created)} of {total} ACL(s); the rest were present")
    else:
        err_console.print(f"nothing to create: all {total} ACL(s) are present")


@app.command("check")
def check(
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
    principal: PrincipalOpt = None,
    group: GroupOpt = DEFAULT_GROUP,
    as_json: JsonOpt = False,
) -> None:
    """Per principal, the ACLs the cluster lacks (DescribeAcls); exit 1 when any is missing."""
    settings = load_settings(bootstrap=bootstrap, topic=topic, profile=profile)
    plan = _plan(settings.topic, settings.profile, principal, group)
    missing = check_acls(
        make_admin(settings, timeout_ms=10_000), plan, bootstrap=settings.require_bootstrap()
    )
    if as_json:
        print_json(
            {
                "principals": {p: [describe(b) for b in found] for p, found in missing.items()},
                "missing": sum(len(found) for found in missing.values()),
            }
        )
    else:
        for role in plan:
            found = missing[role.principal]
            if not found:
                out_console.print(f"{role.principal} ({role.role}): ok")
            for binding in found:
                out_console.print(f"{role.principal} ({role.role}): missing {describe(binding)}")
    if any(missing.values()):
        raise typer.Exit(Exit.PROBLEM)
