"""A week of questions people might really ask, around twelve topics of known sizes."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    domain: str
    size: int
    keywords: tuple[str, ...]  # a prompt about this topic names at least one of these
    phrasings: tuple[str, ...]


# Sizes fall off so the nine largest are clear; phrasings vary the way people's do.
TOPICS = (
    Topic("password", "it", 50, ("password",), (
        "How do I reset my password?",
        "I forgot my password",
        "password reset link is not working",
        "how can I change my password",
        "my password expired, what now?",
        "Where do I reset my Windows password?",
        "reset password for my account",
        "I'm locked out after too many password attempts",
        "how often do I have to change my password",
        "can you help me reset my password please",
    )),
    Topic("vacation", "hr", 42, ("vacation", "holiday", "pto", "time off", "leave"), (
        "How many vacation days do I get?",
        "how much vacation do I have left",
        "Can I carry over unused vacation days?",
        "how do I request vacation",
        "vacation days per year for new hires?",
        "who approves my vacation request",
        "do vacation days roll over to next year",
        "how do I book vacation in the HR portal",
    )),
    Topic("vpn", "it", 36, ("vpn",), (
        "How do I connect to the VPN?",
        "VPN keeps disconnecting",
        "vpn not working from home",
        "which VPN client should I install",
        "cannot connect to vpn on my mac",
        "how to set up the VPN at home",
        "VPN connection fails with an error",
    )),
    Topic("expenses", "hr", 31, ("expense", "reimburse"), (
        "How do I submit an expense report?",
        "how long until my expenses are reimbursed",
        "what receipts do I need for expenses",
        "where do I file travel expenses",
        "expense report was rejected, why?",
        "can I expense a client dinner",
        "how to get reimbursed for expenses",
    )),
    Topic("payroll", "hr", 27, ("pay", "salary", "payslip", "payroll"), (
        "When is payday?",
        "where can I see my payslip",
        "my payslip shows the wrong salary",
        "how do I download my payslip",
        "when is the next payday",
        "who do I contact about a payslip error",
    )),
    Topic("laptop", "it", 24, ("laptop", "hardware", "computer"), (
        "How do I request a new laptop?",
        "my laptop is very slow",
        "can I get a second monitor for my laptop",
        "how to order a new laptop",
        "laptop replacement policy",
        "my laptop screen is broken",
    )),
    Topic("benefits", "hr", 21, ("benefit", "insurance", "health", "dental"), (
        "What health insurance benefits do we have?",
        "how do I enroll in dental insurance",
        "does our health insurance cover glasses",
        "when is benefits open enrollment",
        "how do I add my partner to my health insurance",
    )),
    Topic("phishing", "it", 19, ("phishing", "suspicious", "scam"), (
        "How do I report a phishing email?",
        "I clicked a link in a phishing email",
        "is this email phishing or real",
        "where to forward suspicious phishing emails",
        "got a suspicious email asking for my login",
    )),
    Topic("wifi", "it", 17, ("wifi", "wi-fi", "wireless"), (
        "What is the office wifi password?",
        "wifi is not working in the office",
        "how do I connect to the guest wifi",
        "office wifi keeps dropping",
    )),
    Topic("parking", "general", 12, ("parking", "park"), (
        "Where can I park at the office?",
        "how do I get a parking permit",
        "is there visitor parking",
    )),
    Topic("parental", "hr", 11, ("parental", "maternity", "paternity"), (
        "How long is parental leave?",
        "how do I apply for maternity leave",
        "is paternity leave paid",
    )),
    Topic("printer", "it", 10, ("printer", "print"), (
        "How do I add a printer?",
        "printer says offline",
        "where is the nearest color printer",
    )),
)

_OPENERS = ("", "", "", "hi, ", "quick question: ", "hello! ", "urgent: ")


def week_of_questions(seed: int = 8) -> list[tuple[Topic, str]]:
    """300 questions: each topic's size, phrasings varied with openers and case."""
    rng = random.Random(seed)
    questions = []
    for topic in TOPICS:
        for n in range(topic.size):
            text = topic.phrasings[n % len(topic.phrasings)]
            text = rng.choice(_OPENERS) + (text.lower() if rng.random() < 0.3 else text)
            questions.append((topic, text))
    rng.shuffle(questions)
    return questions


async def seed_questions(
    pool: AsyncConnectionPool,
    questions: list[tuple[Topic, str]],
    *,
    now: datetime,
    people: int = 80,
    days_ago: tuple[float, float] = (0.1, 6.9),
    seed: int = 8,
) -> None:
    """Each question in a conversation of its own, asked by one of ``people``, answered."""
    rng = random.Random(seed)
    async with pool.connection() as conn:
        user_ids = []
        for n in range(people):
            cur = await conn.execute(
                """INSERT INTO users (platform, workspace_id, platform_user_id, display_name)
                   VALUES ('slack', 'T1', %s, %s)
                   ON CONFLICT (platform, workspace_id, platform_user_id)
                       DO UPDATE SET display_name = EXCLUDED.display_name
                   RETURNING id""",
                (f"U{n:04d}", f"Person {n}"),
            )
            user_ids.append((await cur.fetchone())[0])
        for i, (topic, text) in enumerate(questions):
            user = rng.choice(user_ids)
            at = now - timedelta(days=rng.uniform(*days_ago))
            cur = await conn.execute(
                """INSERT INTO conversations
                       (platform, workspace_id, channel_id, thread_id, kind, user_id, title,
                        created_at, updated_at)
                   VALUES ('slack', 'T1', 'D1', %s, 'dm', %s, %s, %s, %s) RETURNING id""",
                (f"seed-{seed}-{i}", user, text[:60], at, at),
            )
            conversation = (await cur.fetchone())[0]
            await conn.execute(
                """INSERT INTO messages (conversation_id, user_id, role, text, created_at)
                   VALUES (%s, %s, 'user', %s, %s)""",
                (conversation, user, text, at),
            )
            await conn.execute(
                """INSERT INTO messages (conversation_id, role, text, route, created_at)
                   VALUES (%s, 'assistant', 'Here is what I found.', %s, %s)""",
                (conversation, Jsonb({"domains": [topic.domain], "confidence": 0.9,
                                      "router": "lexical"}), at + timedelta(seconds=3)),
            )


def topic_of(prompt: str) -> str | None:
    """The topic a prompt is about, by its keywords; None when it names none or several."""
    text = prompt.casefold()
    hits = {
        t.name for t in TOPICS if any(re.search(rf"\b{re.escape(k)}", text) for k in t.keywords)
    }
    # "wifi password" names both; wifi is the more specific.
    if hits == {"wifi", "password"}:
        return "wifi"
    if hits == {"parental", "vacation"}:
        return "parental"  # "maternity leave" also says "leave"
    return hits.pop() if len(hits) == 1 else None


def largest(n: int) -> set[str]:
    return {t.name for t in sorted(TOPICS, key=lambda t: -t.size)[:n]}
