"""Seeded model faults as a FakeOpenAI default responder that keeps count of what it served.

FakeOpenAI.set_fault_rates injects the same three faults, but does not say which request got
which; this responder records it, so the test can tell a model call that produced a usable
answer from one that failed, per job input, and report each fault's count exactly.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

from tests.support.fake_openai import Behaviour, FakeOpenAI

KINDS = ("429", "timeout", "bad_class")


class ModelFaults:
    def __init__(
        self,
        fake: FakeOpenAI,
        *,
        rate_429: float,
        rate_timeout: float,
        rate_bad_class: float,
        seed: int,
        stall_seconds: float,
    ) -> None:
        self.fake = fake
        self.rates = {"429": rate_429, "timeout": rate_timeout, "bad_class": rate_bad_class}
        self.stall_seconds = stall_seconds
        self.served: Counter[str] = Counter()  # fault kind (or "ok") -> requests
        self.answered: Counter[str] = Counter()  # job input -> usable answers given
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Behaviour:
        text = item_text(body)
        with self._lock:
            roll = self._rng.random()
            kind = "ok"
            for name in KINDS:
                if roll < self.rates[name]:
                    kind = name
                    break
                roll -= self.rates[name]
            self.served[kind] += 1
            if kind == "ok":
                self.answered[text] += 1
        if kind == "429":
            return self.fake.make_error(429, "Rate limit reached (injected)", retry_after_ms=20)
        if kind == "timeout":
            # Answered, but only after the client has given up on it.
            return Behaviour(
                "delay", seconds=self.stall_seconds, then=self.fake.answer_first_class(body)
            )
        if kind == "bad_class":
            return self.fake.make_reply(
                {"value": "NOT-A-CLASS", "explanation": "", "confidence": 0.5}
            )
        return self.fake.answer_first_class(body)

    @property
    def faults(self) -> int:
        return sum(self.served[k] for k in KINDS)


def item_text(body: dict[str, Any]) -> str:
    """The item's text in a request built from `user_message: "...\\n{text}"`."""
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "user":
            return str(message.get("content", "")).split("\n", 1)[-1]
    return ""
