"""How long an endpoint takes to read a prompt before it writes the first token.

A CPU llama.cpp server reads about 150 prompt tokens a second: a 1,600-token prompt takes
over ten seconds before anything is written, while a hosted model takes a fraction of one. A
fixed first-token timeout either fires on every long prompt of the first or waits far too long
for the second, so the wait grows with the prompt.
"""

from __future__ import annotations

from collections import deque

# Rates measured on short prompts are mostly network and queueing, not reading.
_MIN_MEASURED_TOKENS = 200


class PromptReadingPace:
    """The endpoint's prompt-reading speed in tokens a second: the configured one when given,
    else the slowest of its last few measured first tokens (slowest, so a prompt the server
    had cached does not make the next, uncached one look late)."""

    def __init__(self, configured: float | None = None, *, window: int = 8) -> None:
        self._configured = configured
        self._rates: deque[float] = deque(maxlen=window)

    @property
    def tokens_per_s(self) -> float | None:
        if self._configured:
            return self._configured
        return min(self._rates) if self._rates else None

    def observe(self, prompt_tokens: int | None, seconds: float) -> None:
        """Note that a prompt of ``prompt_tokens`` got its first token after ``seconds``."""
        if prompt_tokens and prompt_tokens >= _MIN_MEASURED_TOKENS and seconds > 0:
            self._rates.append(prompt_tokens / seconds)

    def observe_timeout(self, prompt_tokens: int | None, waited: float) -> None:
        """Note that a prompt of ``prompt_tokens`` got no first token within ``waited`` s: the
        endpoint reads slower than that, so the next wait assumes half that pace. Without this
        a server too slow for its very first prompt would never be measured at all."""
        if prompt_tokens and prompt_tokens >= _MIN_MEASURED_TOKENS and waited > 0:
            self._rates.append(prompt_tokens / (2 * waited))

    def reading_time(self, prompt_tokens: int | None) -> float:
        """Seconds the endpoint is expected to spend reading a prompt this long (0 unknown)."""
        rate = self.tokens_per_s
        if not prompt_tokens or not rate:
            return 0.0
        return prompt_tokens / rate
