"""What every node of a LangGraphScore graph has: a name, prompts, a model, `input:` and
`output:` mappings (plexus/scores/nodes/BaseNode.py in Plexus)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from plexus.core.cost import Cost
from plexus.core.errors import JobError, ScoreConfigError
from plexus.scores.providers import (
    COST_PROVIDER,
    Completion,
    ModelChoice,
    check_provider,
    plexus_responses_api,
    price_usd,
)
from plexus.scores.templates import Prompt

if TYPE_CHECKING:
    from plexus.scores.graph_state import GraphState
    from plexus.scores.run import Run

# Options every node may carry that only steer the graph (read by LangGraphScore).
GRAPH_OPTIONS = ("name", "class", "input", "output", "conditions", "edge")
# LangChainUser.Parameters.top_p: Plexus samples almost greedily unless a node says otherwise.
PLEXUS_TOP_P = 0.03
MODEL_OPTIONS = (
    "model_provider",
    "model_name",
    "model_region",
    "temperature",
    "max_tokens",
    "reasoning_effort",
)


@dataclass
class NodeRecord:
    """What one node's run did, for the trace, the route printout and the cost."""

    name: str
    kind: str
    calls: list[Completion] = field(default_factory=list)
    provider: str | None = None
    model: str | None = None
    route: str | None = None
    condition: str | None = None
    seconds: float = 0.0
    # The node's classification, explanation, value and confidence when it finished.
    result: dict[str, Any] = field(default_factory=dict)
    # The node ran out of retries (Plexus's max_retries branch).
    exhausted: bool = False

    def cost(self) -> Cost:
        """This node's calls as one `api_call` component, as LangGraphScore reports a node."""
        if not self.calls:
            return Cost()
        prompt = sum(c.prompt_tokens for c in self.calls)
        completion = sum(c.completion_tokens for c in self.calls)
        cached = sum(c.cached_tokens for c in self.calls)
        input_cost = output_cost = Decimal(0)
        for call in self.calls:
            prices = price_usd(
                call.model, call.prompt_tokens, call.completion_tokens, self.provider or ""
            )
            if prices is not None:
                input_cost += prices[0]
                output_cost += prices[1]
        return Cost(
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=cached,
            llm_calls=len(self.calls),
            input_cost=input_cost,
            output_cost=output_cost,
            components=(
                {
                    "type": "api_call",
                    "provider": COST_PROVIDER.get(self.provider or "", self.provider),
                    "model": self.model,
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "cached_tokens": cached,
                    "llm_calls": len(self.calls),
                    "usd": float(input_cost + output_cost),
                    "metadata": {"node_name": self.name},
                },
            ),
        )


def mapping(value: Any, where: str, key: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ScoreConfigError(f"{where}: {key} must map field names to fields or values")
    return dict(value)


class BaseNode:
    kind: ClassVar[str] = "BaseNode"
    # State fields the node's GraphState declares beyond LangGraphScore.GraphState's.
    state_fields: ClassVar[tuple[str, ...]] = ()
    calls_model: ClassVar[bool] = True
    # Whether the node's own `output:` applies inside the node on every run (see Classifier).
    own_output_always: ClassVar[bool] = True
    # Real options this worker does not implement: option -> why (refused when set).
    refused_options: ClassVar[dict[str, str]] = {
        "batch": "batch mode pauses the graph for Plexus's batch API, which this worker does not run",
    }

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
        self.config = config
        self.name = str(config["name"])
        self.where = where
        for option, why in self.refused_options.items():
            if config.get(option):
                raise ScoreConfigError(f"{where}: option {option} is not supported: {why}")
        self.input_map = mapping(config.get("input"), where, "input")
        self.output_map = mapping(config.get("output"), where, "output")
        self.model: ModelChoice | None = None
        self.prompts: list[tuple[str, Prompt]] = []
        if self.calls_model:
            merged = {k: config.get(k, defaults.get(k)) for k in MODEL_OPTIONS}
            provider = check_provider(merged["model_provider"], where)
            for key in ("model_name", "model_region", "reasoning_effort"):
                if merged[key] is not None and not isinstance(merged[key], str | int | float):
                    raise ScoreConfigError(f"{where}: {key} must be text, got {merged[key]!r}")
            if not merged["model_name"]:
                raise ScoreConfigError(f"{where}: model_name is not set (here or on the score)")
            # top_p and verbosity are node options only: LangGraphScore copies neither down.
            top_p = _number(config.get("top_p", PLEXUS_TOP_P), where, "top_p")
            verbosity = config.get("verbosity")
            self.model = ModelChoice(
                provider=provider,
                name=str(merged["model_name"]),
                top_p=top_p,
                verbosity=None if verbosity is None else str(verbosity),
                responses_api=plexus_responses_api(provider, str(merged["model_name"])),
                temperature=_number(merged["temperature"], where, "temperature"),
                max_tokens=_int(merged["max_tokens"], where, "max_tokens"),
                region=None if merged["model_region"] is None else str(merged["model_region"]),
                reasoning_effort=(
                    None if merged["reasoning_effort"] is None else str(merged["reasoning_effort"])
                ),
            )
            # Only the node's own setting: LangGraphScore does not pass the score's down.
            single_line = bool(config.get("single_line_messages"))
            for key, role in (("system_message", "system"), ("user_message", "user")):
                text = config.get(key)
                if text is None or text == "":
                    continue
                if not isinstance(text, str):
                    raise ScoreConfigError(f"{where}: {key} must be text")
                if single_line:
                    text = " ".join(text.split())
                self.prompts.append((role, Prompt(text, f"{where} {key}")))

    # helpers for subclasses -------------------------------------------------------------

    def render_messages(
        self, state: GraphState, extra: dict[str, Any] | None = None
    ) -> list[dict[str, str]]:
        if not self.prompts:
            raise JobError(f"{self.where}: has neither system_message nor user_message")
        variables = {**state, **(extra or {})}
        messages = []
        for index, (role, prompt) in enumerate(self.prompts):
            content = prompt.render(variables)
            if not content.strip():
                raise JobError(f"{self.where}: message {index} ({role}) renders empty")
            messages.append({"role": role, "content": content})
        return messages

    async def call_model(
        self,
        run: Run,
        record: NodeRecord,
        messages: list[dict[str, str]],
        model: ModelChoice | None = None,
        **extra: Any,
    ) -> Completion:
        assert self.model is not None
        record.provider, record.model = self.model.provider, self.model.name
        completion = await run.models.complete(model or self.model, messages, **extra)
        record.calls.append(completion)
        return completion

    def second_model(self, settings: Any) -> ModelChoice | None:
        """`explanation_model:` (provider, name, temperature, max_tokens over the node's
        model): the model Plexus's legacy classifiers ask for the explanation."""
        if settings is None:
            return None
        if not isinstance(settings, dict) or self.model is None:
            raise ScoreConfigError(f"{self.where}: explanation_model must be a mapping")
        provider = check_provider(settings.get("model_provider", self.model.provider), self.where)
        name = str(settings.get("model_name") or self.model.name)
        return replace(
            self.model,
            provider=provider,
            name=name,
            responses_api=plexus_responses_api(provider, name),
            temperature=_number(
                settings.get("temperature", self.model.temperature), self.where, "temperature"
            ),
            max_tokens=_int(
                settings.get("max_tokens", self.model.max_tokens), self.where, "max_tokens"
            ),
        )

    def explanation_message(self, config: dict[str, Any]) -> Prompt | None:
        """The classifiers' `explanation_message`: a follow-up asking the model why."""
        message = config.get("explanation_message")
        return Prompt(str(message), f"{self.where} explanation_message") if message else None

    async def explain(
        self,
        prompt: Prompt,
        state: GraphState,
        run: Run,
        record: NodeRecord,
        messages: list[dict[str, str]],
        answer: str,
        value: str,
        model: ModelChoice | None = None,
    ) -> str:
        """Ask `prompt` after the model's `answer`, in the same conversation."""
        follow_up = prompt.render({**state, "classification": value})
        conversation = [
            *messages,
            {"role": "assistant", "content": answer},
            {"role": "user", "content": follow_up},
        ]
        return (await self.call_model(run, record, conversation, model=model)).text

    async def execute(self, state: GraphState, run: Run, record: NodeRecord) -> None:
        """Read and update the state (the node's core; mappings are LangGraphScore's)."""
        raise NotImplementedError


def _number(value: Any, where: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScoreConfigError(f"{where}: {key} must be a number, got {value!r}")
    return float(value)


def _int(value: Any, where: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScoreConfigError(f"{where}: {key} must be a positive integer, got {value!r}")
    return value


def int_option(config: dict[str, Any], key: str, default: int, where: str, minimum: int = 0) -> int:
    value = config.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ScoreConfigError(f"{where}: {key} must be an integer >= {minimum}, got {value!r}")
    return value


def classes_option(config: dict[str, Any], where: str, required: bool = True) -> list[str]:
    classes = config.get("valid_classes")
    if classes is None and not required:
        return []
    if classes is None:
        # Plexus's pydantic parameters say "valid_classes\n  Field required".
        raise ScoreConfigError(f"{where}: valid_classes: Field required (a non-empty list)")
    if not isinstance(classes, list) or not classes:
        raise ScoreConfigError(f"{where}: valid_classes must be a non-empty list")
    out = []
    for c in classes:
        if isinstance(c, dict | list) or c is None:
            raise ScoreConfigError(f"{where}: valid_classes entries must be text, got {c!r}")
        out.append(str(c))
    if len(set(out)) != len(out):
        raise ScoreConfigError(f"{where}: valid_classes has duplicates")
    return out
