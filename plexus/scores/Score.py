"""`Score`: what every score class is, and the names Plexus's Python code nodes use.

A `LogicalClassifier`'s `code:` is written against Plexus's own classes:

    def score(parameters: Score.Parameters, input: Score.Input) -> Score.Result:
        return Score.Result(parameters=parameters, value="Yes",
                            metadata={"explanation": "..."})

`Score.Parameters`, `Score.Input` and `Score.Result` here accept what those calls pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

if TYPE_CHECKING:
    from plexus.scores.result import ScoreResult
    from plexus.scores.run import Run


class _Parameters:
    """A score's or node's configuration, readable as attributes (`parameters.name`)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        # Plexus's pydantic Parameters answer None for an optional field that is unset.
        if name.startswith("__"):
            raise AttributeError(name)
        return None

    def model_dump(self) -> dict[str, Any]:
        return dict(self.__dict__)

    dict = model_dump

    def __repr__(self) -> str:
        return f"Score.Parameters(name={self.__dict__.get('name')!r})"


class _Input:
    """What a score sees of an item: its text, metadata and earlier scores' results."""

    def __init__(
        self,
        text: str = "",
        metadata: dict[str, Any] | None = None,
        results: list[Any] | None = None,
        **extra: Any,
    ) -> None:
        self.text = text
        self.metadata = metadata if metadata is not None else {}
        self.results = results
        self.__dict__.update(extra)

    def __repr__(self) -> str:
        return f"Score.Input(text={self.text[:40]!r}..., metadata keys={sorted(self.metadata)})"


class _Result:
    """A classification, as Plexus's `Score.Result` (value, explanation, confidence,
    metadata, error, code). `explanation` may also come in `metadata["explanation"]`."""

    def __init__(
        self,
        parameters: Any = None,
        value: Any = None,
        explanation: str | None = None,
        confidence: float | None = None,
        metadata: dict[str, Any] | None = None,
        error: str | None = None,
        code: str | None = None,
        **extra: Any,
    ) -> None:
        self.parameters = parameters
        self.value = value
        self.explanation = explanation
        self.confidence = confidence
        self.metadata = dict(metadata or {})
        self.error = error
        self.code = code
        self.__dict__.update(extra)

    def is_yes(self) -> bool:
        return str(self.value).lower() == "yes"

    def is_no(self) -> bool:
        return str(self.value).lower() == "no"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Result):
            return str(self.value).lower() == str(other.value).lower()
        if isinstance(other, str):
            return str(self.value).lower() == other.lower()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Score.Result(value={self.value!r}, explanation={self.explanation!r})"


class Score:
    """The base of every score class this worker runs."""

    Parameters: TypeAlias = _Parameters
    Input: TypeAlias = _Input
    Result: TypeAlias = _Result

    # The class name as a score's `class:` says it.
    kind: ClassVar[str] = "Score"
    name: str | None = None
    # Names of the scorecard's other scores this one needs first (`depends_on`).
    depends_on: dict[str, dict[str, Any] | None]

    def uses_model(self) -> bool:
        """Whether scoring may call a model (decides the model-output store's use)."""
        return False

    def input_source(self) -> Any:
        """The `item:` input source (TextFileInputSource, DeepgramInputSource) or None."""
        return None

    async def predict(self, score_input: _Input, run: Run) -> ScoreResult:
        raise NotImplementedError
