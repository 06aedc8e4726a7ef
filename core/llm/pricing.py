"""What a model call costs, from a configurable price table."""

from __future__ import annotations

from collections.abc import Mapping


class PriceTable:
    """USD per million tokens, ``(input, output)``, by model name.

    A model matches its exact name first, then the longest listed prefix, so a dated snapshot
    ("gpt-4o-mini-2024-07-18") costs what its family costs. Unlisted models (local ones) are free.
    """

    def __init__(self, prices: Mapping[str, tuple[float, float]]) -> None:
        self._prices = dict(prices)
        self._by_length = sorted(self._prices, key=len, reverse=True)

    def rates(self, model: str | None) -> tuple[float, float] | None:
        if not model:
            return None
        if model in self._prices:
            return self._prices[model]
        for name in self._by_length:
            if model.startswith(name):
                return self._prices[name]
        return None

    def cost(self, model: str | None, input_tokens: int, output_tokens: int) -> float:
        rates = self.rates(model)
        if rates is None:
            return 0.0
        return round((input_tokens * rates[0] + output_tokens * rates[1]) / 1_000_000, 6)
