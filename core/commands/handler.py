"""The command router: who may run what, running it, and the audit line it leaves."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog

from core.commands import admin, answers, history, ingest, privacy, unanswered
from core.commands.context import (
    CommandContext,
    CommandOptions,
    CommandServices,
    actor_name,
    is_configured_admin,
)
from core.commands.help import CommandSpec, help_reply, unknown_reply
from core.commands.reply import CommandAction, CommandReply, CommandRequest, unwrap
from core.commands.stores import AuditEntry, ProgressCallback
from core.conversations import UserRecord
from core.errors import SwitchboardError

log = structlog.get_logger(__name__)
# A refused command's target (its first argument) is kept up to this many characters.
_TARGET_CHARS = 200

Clock = Callable[[], datetime]
# Puts a reply's file where the person finds it (name, content, content type); raises
# ``PlatformError`` when the platform would not take it.
FileDelivery = Callable[[str, bytes, str | None], Awaitable[None]]
NOT_DELIVERED = (
    "I couldn't put the file in your messages: {why} Nothing was lost — press *Try again*, "
    "or run `{command}` again in a moment."
)

REFUSED = (
    "Sorry — `{name}` is for Switchboard admins only. If you need it, ask one of your "
    "admins to run it for you or to give you the admin role."
)
FAILED = "Sorry — something went wrong while running `{name}`. Please try again in a moment."

COMMANDS: tuple[CommandSpec, ...] = (
    *history.COMMANDS,
    *privacy.COMMANDS,
    *admin.COMMANDS,
    *ingest.COMMANDS,
    *answers.COMMANDS,
    *unanswered.COMMANDS,
)


_SPECS: dict[str, CommandSpec] = {
    name: spec for spec in COMMANDS for name in (spec.name, *spec.aliases)
}


def is_command(text: str) -> bool:
    """Whether a chat message is a command rather than a question.

    A leading ``/`` always makes one. Otherwise the first word must name a command and the
    rest fit it: "stats 30d" and "history vpn" are commands; "help me reset my password"
    and "history of the company?" are questions.
    """
    words = text.strip().split()
    if not words:
        return False
    if words[0].startswith("/"):
        return True
    spec = _SPECS.get(words[0].lower())
    if spec is None:
        return words[0].lower() == "help" and len(words) == 1
    return re.fullmatch(spec.args, " ".join(words[1:]), re.IGNORECASE) is not None


@dataclass(frozen=True, slots=True)
class _Outcome:
    reply: CommandReply
    outcome: str


class CommandHandler:
    """Answers commands from any platform.

    ``services`` are the stores and workers (None: only ``help`` works, as in a bare test);
    ``options`` come from Settings (admins, page size, timezone, ingest roots). Admin commands
    from non-admins are refused politely and the attempt is audited; every admin action, and
    every ``forget-me`` and ``export``, leaves one audit line with who, what, when and outcome.
    """

    def __init__(
        self,
        services: CommandServices | None = None,
        *,
        options: CommandOptions | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._services = services
        self._options = options or CommandOptions()
        self._clock = clock or (lambda: datetime.now(UTC))

    def is_command(self, text: str) -> bool:
        """Whether a chat message (Teams personal chat, a DM) is a command, not a question."""
        return is_command(text)

    async def handle(
        self,
        request: CommandRequest,
        *,
        progress: ProgressCallback | None = None,
        deliver: FileDelivery | None = None,
    ) -> CommandReply:
        """Run ``request``. ``progress`` receives lines while a long command works (ingest,
        reindex); the returned reply is the result message. A reply with a file is handed to
        ``deliver`` before it is audited: when the platform refuses the file, the reply says
        so and offers to try again, and the audit line says ``failed``."""
        services = self._services
        if services is None:
            # A bare handler (no stores) can still explain itself.
            is_admin = is_configured_admin(request.person, self._options.admins)
            if request.name == "help":
                return help_reply(COMMANDS, is_admin=is_admin)
            return unknown_reply(
                request.name, COMMANDS, is_admin=is_admin, exists=request.name in _SPECS
            )

        if services.people is not None:
            # Admins by email, `role` by email, one person across platforms: who is this?
            person = await services.people.identified(request.person, request.extras)
            request = replace(request, person=person)
        user = await services.users.upsert_user(request.person)
        is_admin = user.role == "admin" or is_configured_admin(request.person, self._options.admins)
        spec = _SPECS.get(request.name)
        if request.name == "help":
            return help_reply(COMMANDS, is_admin=is_admin)
        if spec is None:
            return unknown_reply(request.name, COMMANDS, is_admin=is_admin)

        if spec.admin and not is_admin:
            # What they tried to act on: the first word as typed (whom for `role`, the address
            # for `ingest`, the period for `stats`) — never the rest, which may be content.
            first = request.mentions[0] if request.mentions else (
                unwrap(request.args[0]) if request.args else ""
            )
            target = first[:_TARGET_CHARS] or None
            details: dict[str, object] = {"mentions": list(request.mentions)} if request.mentions else {}
            await self._audit(request, user, spec.name, "refused", target, details)
            log.info("command_refused", command=spec.name, actor=actor_name(request.person))
            return CommandReply(
                title="That one is for admins",
                sections=[REFUSED.format(name=spec.name)],
                ok=False,
            )

        ctx = CommandContext(
            request=request,
            user=user,
            is_admin=is_admin,
            services=services,
            options=self._options,
            now=self._clock(),
            progress=progress,
        )
        result = await self._run(spec, ctx)
        if deliver is not None:
            result = await self._deliver(result, request, ctx, deliver)
        if spec.admin or spec.audited:
            await self._audit(
                request, user, spec.name, result.outcome, ctx.audit_target, ctx.audit_details
            )
        return result.reply

    async def _deliver(
        self,
        result: _Outcome,
        request: CommandRequest,
        ctx: CommandContext,
        deliver: FileDelivery,
    ) -> _Outcome:
        reply = result.reply
        if reply.file_content is None or not reply.file_name:
            return result
        try:
            await deliver(reply.file_name, reply.file_content, reply.file_type)
        except SwitchboardError as exc:
            log.warning("command_file_not_delivered", command=request.name, error=str(exc))
            ctx.audit_details.update(delivered=False, error=str(exc))
            command = " ".join((request.name, *request.args))
            return _Outcome(
                CommandReply(
                    title=f"`{request.name}` is ready, but the file did not arrive",
                    sections=[NOT_DELIVERED.format(why=_sentence(str(exc)), command=command)],
                    ok=False,
                    actions=[CommandAction("Try again", command, style="primary")],
                ),
                "failed",
            )
        ctx.audit_details["delivered"] = True
        return result

    async def _run(self, spec: CommandSpec, ctx: CommandContext) -> _Outcome:
        try:
            reply = await spec.run(ctx)
        except SwitchboardError as exc:
            # Our own errors carry a message fit for the user.
            ctx.audit_details.setdefault("error", type(exc).__name__)
            return _Outcome(
                CommandReply(title=f"`{spec.name}` failed", sections=[str(exc)], ok=False), "failed"
            )
        except Exception as exc:
            log.exception("command_failed", command=spec.name, actor=ctx.actor)
            ctx.audit_details.setdefault("error", type(exc).__name__)
            return _Outcome(
                CommandReply(
                    title=f"`{spec.name}` failed",
                    sections=[FAILED.format(name=spec.name)],
                    ok=False,
                ),
                "failed",
            )
        return _Outcome(reply, ctx.audit_outcome or ("ok" if reply.ok else "rejected"))

    async def _audit(
        self,
        request: CommandRequest,
        user: UserRecord,
        action: str,
        outcome: str,
        target: str | None,
        details: dict[str, object],
    ) -> None:
        assert self._services is not None
        entry = AuditEntry(
            actor=actor_name(request.person),
            actor_id=user.id,
            action=action,
            outcome=outcome,
            target=target,
            details=details,
        )
        await self._services.audit.record(entry)


def _sentence(text: str) -> str:
    text = text.strip() or "the platform refused it."
    return text if text.endswith((".", "!", "?")) else text + "."
