"""``answers add|list|edit|remove``: admins write the answers the assistant gives as written."""

from __future__ import annotations

import re

from core.commands.context import CommandContext
from core.commands.help import CommandSpec
from core.commands.reply import CommandAction, CommandForm, CommandReply, FormField, ReplyItem
from core.identity.principals import UnknownPrincipal, audience_of
from core.verified import KEEP, Author, Keep, VerifiedAnswer, VerifiedAnswers, mark

MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 4000
# A chat message holds this many items with buttons (Slack allows 50 blocks a message).
MAX_LISTED = 20
SEPARATOR = "::"
USAGE = (
    "`answers add <question> :: <answer>` (end with `source: <link>` to cite a page, "
    "`--allow <email or group:Name>` to give it only to them), "
    "`answers list`, `answers edit <id> :: <answer>`, `answers remove <id>`."
)

# A source link at the end: "source: https://…" (Slack may wrap it: <https://…|…>), or a
# wrapped link alone on the answer's last line.
_SOURCE = re.compile(
    r"(?:\s+|^)source:\s*<?(https?://[^\s|>]+)(?:\|[^>]*)?>?\s*$"
    r"|\n\s*<(https?://[^\s|>]+)(?:\|[^>]*)?>\s*$",
    re.IGNORECASE,
)
# A form's source field left empty.
_EMPTY_SOURCE = re.compile(r"\s*\bsource:\s*$", re.IGNORECASE)
# Slack writes links as <url|label> or <url>; stored as Markdown so every platform shows them.
_SLACK_LINK = re.compile(r"<(https?://[^\s|>]+)\|([^>]+)>")
_ID = re.compile(r"^#?(\d{1,12})\b\s*(.*)$", re.DOTALL)
# "--allow group:HR Managers --allow ana@example.com" (or comma-separated) at the end.
_ALLOW = re.compile(r"(?:^|\s)--allow(?:\s+|$)", re.IGNORECASE)
AUDIENCE_HINT = "emails or group:Name, comma-separated; empty: everyone"


def split_audience(answer: str) -> tuple[str, tuple[str, ...] | None | Keep]:
    """``"… --allow group:HR, a@b.c"`` → (``"…"``, ``("a@b.c", "group:hr")``); ``KEEP`` when
    no ``--allow`` is given (or it is empty), None for ``--allow everyone``. Raises
    ``UnknownPrincipal`` for anything that is not an email, group or everyone."""
    match = _ALLOW.search(answer)
    if match is None:
        return answer, KEEP
    given = [
        p.strip()
        for part in _ALLOW.split(answer[match.start() :])
        for p in part.split(",")
        if p.strip()
    ]
    if not given:
        return answer[: match.start()].rstrip(), KEEP
    return answer[: match.start()].rstrip(), audience_of(given)


def split_extras(text: str) -> tuple[str, str | None, tuple[str, ...] | None | Keep]:
    """An answer's text, its source link and its audience, in whichever order they end it."""
    text, source = split_source(text)
    text, audience = split_audience(text)
    if source is None:
        text, source = split_source(text)
    return text, source, audience


def split_source(answer: str) -> tuple[str, str | None]:
    """``"… source: https://x"`` → (``"…"``, ``"https://x"``)."""
    answer = _EMPTY_SOURCE.sub("", answer)
    match = _SOURCE.search(answer)
    if not match:
        return answer, None
    return answer[: match.start()].rstrip(), match.group(1) or match.group(2)


def _tidy(answer: str) -> str:
    return _SLACK_LINK.sub(lambda m: f"[{m.group(2)}]({m.group(1)})", answer).strip()


def _author(ctx: CommandContext) -> Author:
    person = ctx.person
    return Author(ctx.user.id, person.display_name or person.email or person.user_id)


def _problem(title: str, why: str) -> CommandReply:
    return CommandReply(title=title, sections=[why, USAGE], ok=False)


def _excerpt(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def edit_form(answer: VerifiedAnswer) -> CommandForm:
    return CommandForm(
        title="Edit the verified answer",
        fields=(
            FormField("answer", "Answer", answer.answer, multiline=True),
            FormField("source", "Source link", answer.source_url or "", optional=True),
            FormField(
                "audience",
                "Only for (emails or group:Name, comma-separated, or everyone)",
                ", ".join(answer.audience) if answer.audience is not None else "everyone",
                optional=True,
            ),
        ),
        template=f"answers edit {answer.id} :: {{answer}}\n--allow {{audience}}\nsource: {{source}}",
    )


def write_form(question: str) -> CommandForm:
    """The form behind "Write a verified answer", prefilled with the question."""
    return CommandForm(
        title="Write a verified answer",
        fields=(
            FormField("question", "Question", question),
            FormField("answer", "Answer", multiline=True),
            FormField("source", "Source link", optional=True),
            FormField("audience", f"Only for ({AUDIENCE_HINT})", optional=True),
        ),
        template="answers add {question} :: {answer}\n--allow {audience}\nsource: {source}",
    )


def _item(answer: VerifiedAnswer) -> ReplyItem:
    used = f"given {answer.uses:,} time{'s' * (answer.uses != 1)}"
    lines = [
        f"*#{answer.id}* {_excerpt(answer.question, 200)}",
        _excerpt(answer.answer, 300),
        f"_{mark(answer)} · {used}_"
        + (f" · only for {', '.join(answer.audience)}" if answer.audience is not None else "")
        + (f" · <{answer.source_url}>" if answer.source_url else ""),
    ]
    return ReplyItem(
        "\n".join(lines),
        actions=(
            CommandAction("Edit", f"answers edit {answer.id}", form=edit_form(answer)),
            CommandAction("Remove", f"answers remove {answer.id}", style="danger"),
        ),
    )


async def _add(ctx: CommandContext, verified: VerifiedAnswers, rest: str) -> CommandReply:
    question, sep, answer = rest.partition(SEPARATOR)
    question = " ".join(question.split())
    try:
        answer, source, audience = split_extras(answer.strip())
    except UnknownPrincipal as exc:
        return _problem("Who is it for?", str(exc).replace(" Nothing was ingested.", ""))
    answer = _tidy(answer)
    if not sep or not question or not answer:
        return _problem("What is the question, and its answer?", "Put `::` between them.")
    if len(question) > MAX_QUESTION_CHARS or len(answer) > MAX_ANSWER_CHARS:
        return _problem(
            "That is too long",
            f"A question may have {MAX_QUESTION_CHARS} characters and an answer "
            f"{MAX_ANSWER_CHARS}.",
        )
    added = await verified.add(
        question,
        answer,
        source_url=source,
        author=_author(ctx),
        audience=None if isinstance(audience, Keep) else audience,
    )
    ctx.audit_target = f"verified:{added.id}"
    ctx.audit_details.update(
        op="add",
        id=added.id,
        source=source is not None,
        audience=len(added.audience) if added.audience is not None else "everyone",
    )
    return CommandReply(
        title=f"Verified answer #{added.id} saved",
        sections=[
            (
                f"From now on, questions that mean “{_excerpt(question, 200)}” get this answer "
                "as written, marked:"
            ),
            f"_{mark(added)}_",
        ],
        items=[_item(added)],
    )


async def _edit(ctx: CommandContext, verified: VerifiedAnswers, rest: str) -> CommandReply:
    match = _ID.match(rest)
    if not match:
        return _problem("Which answer?", "Give its number from `answers list`.")
    answer_id = int(match.group(1))
    ctx.audit_target = f"verified:{answer_id}"
    ctx.audit_details.update(op="edit", id=answer_id)
    try:
        answer, source, audience = split_extras(
            match.group(2).strip().removeprefix(SEPARATOR).strip()
        )
    except UnknownPrincipal as exc:
        return _problem("Who is it for?", str(exc).replace(" Nothing was ingested.", ""))
    answer = _tidy(answer)
    if not answer:
        return _problem("What should it say?", f"`answers edit {answer_id} :: <answer>`.")
    if len(answer) > MAX_ANSWER_CHARS:
        return _problem("That is too long", f"An answer may have {MAX_ANSWER_CHARS} characters.")
    edited = await verified.edit(
        answer_id, answer, source_url=source, author=_author(ctx), audience=audience
    )
    if edited is None:
        return _problem(f"There is no verified answer #{answer_id}", "See `answers list`.")
    return CommandReply(title=f"Verified answer #{answer_id} updated", items=[_item(edited)])


async def _remove(ctx: CommandContext, verified: VerifiedAnswers, rest: str) -> CommandReply:
    match = _ID.match(rest)
    if not match or match.group(2).strip():
        return _problem("Which answer?", "Give its number from `answers list`.")
    answer_id = int(match.group(1))
    ctx.audit_target = f"verified:{answer_id}"
    ctx.audit_details.update(op="remove", id=answer_id)
    removed = await verified.remove(answer_id)
    if removed is None:
        return _problem(f"There is no verified answer #{answer_id}", "See `answers list`.")
    return CommandReply(
        title=f"Verified answer #{answer_id} removed",
        sections=[
            (
                f"Questions like “{_excerpt(removed.question, 200)}” are answered from the "
                "documents again."
            )
        ],
    )


async def _list(ctx: CommandContext, verified: VerifiedAnswers) -> CommandReply:
    answers = await verified.live()
    ctx.audit_details.update(op="list", count=len(answers))
    if not answers:
        return CommandReply(
            title="No verified answers yet",
            sections=["Write one with " + USAGE.split(",")[0] + "."],
        )
    newest = list(reversed(answers))[:MAX_LISTED]
    return CommandReply(
        title=f"{len(answers)} verified answer{'s' * (len(answers) != 1)}",
        sections=[f"The {MAX_LISTED} newest are shown."] if len(answers) > MAX_LISTED else [],
        items=[_item(a) for a in newest],
    )


async def run_answers(ctx: CommandContext) -> CommandReply:
    verified = ctx.services.verified
    if verified is None:
        return CommandReply(
            title="Verified answers are not set up here",
            sections=["This deployment has no store for them."],
            ok=False,
        )
    op, rest = (ctx.request.text.split(None, 1) + ["", ""])[:2]
    op = op.lower() or "list"
    rest = rest.strip()
    if op == "add":
        return await _add(ctx, verified, rest)
    if op == "edit":
        return await _edit(ctx, verified, rest)
    if op in ("remove", "delete"):
        return await _remove(ctx, verified, rest)
    if op == "list" and not rest:
        return await _list(ctx, verified)
    return _problem("What should I do with verified answers?", f"I don't know “{op}”.")


COMMANDS = (
    CommandSpec(
        "answers",
        "answers add <question> :: <answer> | list | edit <id> :: <answer> | remove <id>",
        "verified answers, given as written to questions that mean the same",
        run_answers,
        admin=True,
        args=r"(list|add .+::.*|edit #?\d+ .+|(remove|delete) #?\d+)?",
    ),
)
