"""`LangGraphScore`: Plexus's graph of nodes, run by this project's own small engine.

What it does, after plexus/scores/LangGraphScore.py in Plexus (which builds a LangGraph):

- `graph:` nodes run in order. Each node reads and writes one shared state: `text`,
  `metadata`, `results` (earlier scores, `results["Name"].value`), `classification`,
  `explanation`, `value`, the fields its output mappings name, and `<node name>` holding
  that node's `{classification, explanation, value, confidence}`.
- A node's `input:` copies fields before it runs (`alias: field`); its `output:` copies
  fields after it runs (`alias: field`; a name that is no state field is a literal value).
- After a node, in this order: a node-level `output:` on any but the last node sends it on
  to the next node (Plexus then ignores `conditions:`); `conditions:` compare the node's
  `classification` (case-insensitive) with each `value` and, on a match, apply that
  condition's `output:` and go to its `node` (`END` by default on the last node, the next
  node otherwise); no match takes `edge:` (its `output:` and `node`) or the next node. The
  last node ends the graph, applying its `edge:` output when that edge goes to `END`.
- `END` applies the score-level `output:` (`value: classification`...), except fields an
  `END` condition has just set, and the result is `value` and `explanation`. A graph that
  ends without a value answers "No", as Plexus's predict does.
- `model_provider` (default AzureChatOpenAI, as Plexus), `model_name`, `model_region`,
  `temperature` (0), `max_tokens` (500) and `reasoning_effort` apply to every node unless
  the node sets its own.
- `depends_on` names scores of the same scorecard whose results this one needs; with a
  mapping (`Name: {operator: "==", value: "Yes"}`) this score runs only when it holds
  (otherwise its result is SKIPPED, as Plexus's Scorecard gives it; scores/dependencies.py).
- `parameters.validation` is accepted and not run: Plexus's score parameters have no such
  field, and its check would be handed the coroutine of the async `predict` (Score.py).
- `item:` reads the text from an attachment (TextFileInputSource, DeepgramInputSource).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from plexus.core.cost import Cost
from plexus.core.errors import JobError, JobFailure, ScoreConfigError
from plexus.scores.dependencies import parse_depends_on as _depends_on
from plexus.scores.graph_state import GraphState
from plexus.scores.nodes import REFUSED_NODES, SUPPORTED_NODES, node_class
from plexus.scores.nodes.BaseNode import NodeRecord, mapping
from plexus.scores.result import ScoreResult
from plexus.scores.Score import Score

if TYPE_CHECKING:
    from plexus.scores.nodes.BaseNode import BaseNode
    from plexus.scores.run import Run

log = logging.getLogger(__name__)

END = "END"
# LangGraphScore.GraphState's fields: present (None) in every state from the start.
STATE_FIELDS = (
    "text",
    "metadata",
    "results",
    "messages",
    "is_not_empty",
    "value",
    "explanation",
    "reasoning",
    "chat_history",
    "completion",
    "classification",
    "confidence",
    "retry_count",
    "at_llm_breakpoint",
    "good_call",
    "good_call_explanation",
    "non_qualifying_reason",
    "non_qualifying_explanation",
)
SCORE_DEFAULTS = {
    "model_provider": "AzureChatOpenAI",
    "model_name": None,
    "model_region": None,
    "temperature": 0,
    "max_tokens": 500,
    "reasoning_effort": "low",
    "single_line_messages": False,
}
# Node classes whose Plexus implementation writes an entry into the state's trace (log_state);
# LogicalNode, built with its graph's state class, does not.
TRACED_NODES = frozenset(
    {"Classifier", "Extractor", "FuzzyMatchClassifier", "Generator", "LogicalClassifier"}
)


class LangGraphScore(Score):
    kind: ClassVar[str] = "LangGraphScore"

    def __init__(self, data: dict[str, Any], source: str) -> None:
        self.source = source
        self.name = str(data["name"]) if data.get("name") is not None else None
        self.defaults = {k: data.get(k, v) for k, v in SCORE_DEFAULTS.items()}
        self.output_map = mapping(data.get("output"), source, "output")
        self.depends_on = _depends_on(data.get("depends_on"), source)
        self.item = _input_source(data.get("item"), source)
        self.nodes: list[BaseNode] = []
        self.configs: list[dict[str, Any]] = []
        graph = data.get("graph")
        if not isinstance(graph, list) or not graph:
            raise ScoreConfigError(
                f"{source}: Invalid or missing graph configuration in parameters "
                "(a LangGraphScore needs a graph: list of nodes)"
            )
        names: set[str] = set()
        for index, entry in enumerate(graph):
            node = self._node(entry, index, names)
            self.nodes.append(node)
            self.configs.append(entry)
        self.index = {node.name: i for i, node in enumerate(self.nodes)}
        for entry in self.configs:
            self._check_routes(entry)
        # Every field some mapping names exists (as None) from the start, as in Plexus's
        # combined state class: a mapping source that names one is a field, not a literal.
        self.fields = set(STATE_FIELDS)
        for node, entry in zip(self.nodes, self.configs, strict=True):
            self.fields.update(node.state_fields, getattr(node, "extra_fields", ()))
            for part in [entry, entry.get("edge") or {}, *(entry.get("conditions") or [])]:
                if isinstance(part, dict):
                    self.fields.update((part.get("output") or {}).keys())
        self.fields.update((self.output_map or {}).keys())

    @classmethod
    def from_config(cls, data: dict[str, Any], source: str) -> LangGraphScore:
        return cls(data, source)

    def _node(self, entry: Any, index: int, names: set[str]) -> BaseNode:
        if not isinstance(entry, dict):
            raise ScoreConfigError(f"{self.source}: graph node {index + 1} must be a mapping")
        name, kind = entry.get("name"), entry.get("class")
        if not isinstance(name, str) or not name:
            raise ScoreConfigError(
                f"{self.source}: graph node {index + 1} has no name (Plexus: Node name is "
                "required but not provided in parameters)"
            )
        where = f"{self.source}: node {name!r}"
        if name == END:
            raise ScoreConfigError(f"{where}: END is reserved for the end of the graph")
        if name in names:
            raise ScoreConfigError(f"{where}: two nodes have this name")
        names.add(name)
        if kind in REFUSED_NODES:
            raise ScoreConfigError(
                f"{where}: node class {kind} is not supported: {REFUSED_NODES[kind]}; "
                f"supported: {', '.join(SUPPORTED_NODES)}"
            )
        if kind not in SUPPORTED_NODES:
            shown = repr(kind) if kind is not None else "missing"
            raise ScoreConfigError(
                f"{where}: node class {shown[:100]} is not supported; "
                f"supported: {', '.join(SUPPORTED_NODES)}"
            )
        node: BaseNode = node_class(kind)(entry, self.defaults, f"{where} ({kind})")
        return node

    def _check_routes(self, entry: dict[str, Any]) -> None:
        where = f"{self.source}: node {entry['name']!r}"
        conditions = entry.get("conditions")
        if conditions is not None:
            if not isinstance(conditions, list):
                log.warning("%s: conditions is not a list; ignored, as Plexus does", where)
                conditions = []
            for condition in conditions:
                if not isinstance(condition, dict) or "value" not in condition:
                    raise ScoreConfigError(f"{where}: each condition needs a value")
                mapping(condition.get("output"), where, "condition output")
                self._check_target(condition.get("node"), where)
        edge = entry.get("edge")
        if edge is not None:
            if not isinstance(edge, dict):
                raise ScoreConfigError(f"{where}: edge must be a mapping (node, output)")
            mapping(edge.get("output"), where, "edge output")
            self._check_target(edge.get("node"), where)

    def _check_target(self, target: Any, where: str) -> None:
        if target is not None and not isinstance(target, str):
            raise ScoreConfigError(f"{where}: a route's node must be a node name or END")
        if target is not None and target != END and target not in self.index:
            raise ScoreConfigError(
                f"{where}: routes to {str(target)[:100]!r}, which is neither a node nor END"
            )

    # Score interface ------------------------------------------------------------------

    def uses_model(self) -> bool:
        return any(node.calls_model for node in self.nodes)

    def input_source(self) -> Any:
        return self.item

    async def predict(self, score_input: Score.Input, run: Run) -> ScoreResult:
        state = GraphState(dict.fromkeys(self.fields))
        state.update(
            text=score_input.text,
            metadata=dict(score_input.metadata or {}),
            results=dict(run.results),
            retry_count=0,
            at_llm_breakpoint=False,
            chat_history=[],
        )
        records: list[NodeRecord] = []
        trace: list[TraceEntry] = []  # what Plexus's state.metadata["trace"] would hold
        position: int | None = 0
        steps = 0
        while position is not None:
            steps += 1
            if steps > 20 * len(self.nodes):
                raise JobError(f"{self.source}: the graph did not reach END (a loop of routes?)")
            node, entry = self.nodes[position], self.configs[position]
            record = NodeRecord(node.name, node.kind)
            records.append(record)
            started = time.perf_counter()
            run.progress(f"node {node.name} ({node.kind})")
            try:
                await self._run_node(node, state, run, record)
            except JobFailure as exc:
                exc.nodes_done = exc.nodes_done or tuple(r.name for r in records[:-1])
                raise
            record.seconds = time.perf_counter() - started
            if node.kind in TRACED_NODES:
                trace.append(TraceEntry(node.name, classification=state.get("classification")))
            position = self._route(position, entry, state, record, trace)
            run.progress(
                f"node {node.name}: classification={state.get('classification')!r} -> {record.route}"
            )
        if self.output_map and not self._unconnected(records[-1].name):
            self._final_output(state, trace)
        value = state.get("value")
        if value is None:
            # LangGraphScore.predict: a graph that sets no value answers "No".
            value = "No"
        explanation = state.get("explanation")
        result = ScoreResult(
            value=str(value),
            explanation="" if explanation is None else str(explanation),
            confidence=_confidence(state.get("confidence")),
            cost=sum((r.cost() for r in records), Cost()),
            trace={"score": self.kind, "nodes": [_trace(r) for r in records]},
        )
        return result

    async def _run_node(
        self, node: BaseNode, state: GraphState, run: Run, record: NodeRecord
    ) -> None:
        for alias, original in (node.input_map or {}).items():
            if node.kind == "LogicalNode" and alias not in state:
                # Plexus runs a LogicalNode's input aliasing on its graph's state, which keeps
                # only declared fields: an undeclared alias is dropped (other nodes' input
                # mappings make Plexus fail; README, "a graph Plexus cannot run").
                continue
            if isinstance(original, str) and original in state:
                state[alias] = state[original]
        await node.execute(state, run, record)
        # The node's own output aliasing, inside the node in Plexus (None made "No"/""). A
        # Classifier's subgraph reaches it only after its retries ran out (BaseNode.py wires
        # it after the last core node); otherwise LangGraphScore's value setters apply it.
        own_output = node.output_map if (record.exhausted or node.own_output_always) else None
        for alias, original in (own_output or {}).items():
            if isinstance(original, str) and original in state:
                value = state[original]
                state[alias] = ("No" if alias == "value" else "") if value is None else value
            else:
                state[alias] = original
        # What the trace shows of the node. Plexus's store_node_result has no edge into it,
        # so `{{node_name.classification}}` renders empty there, and so it does here.
        record.result = {
            k: state.get(k)
            for k in ("classification", "explanation", "value", "confidence")
            if state.get(k) is not None
        }

    def _unconnected(self, name: str) -> bool:
        """The graph's last node with `conditions:` that are not a list: Plexus gives it no
        edge out (neither routing nor the fall-through to END), so the graph stops there and
        the score's `output:` is not applied (LangGraphScore.add_edges)."""
        entry = self.configs[-1]
        conditions = entry.get("conditions")
        return (
            name == node_name(entry) and conditions is not None and not isinstance(conditions, list)
        )

    def _final_output(self, state: GraphState, trace: list[TraceEntry]) -> None:
        """The score's `output:` at END, as Plexus's output aliasing applies it: an alias that a
        condition's `output:` names is kept as it stands when that condition fired (whatever
        node it routed to); with no trace at all (no node that records one ran and no
        condition fired), an END condition whose trigger the state now holds sets its own
        output value, and a value equal to an END condition's output is kept. Every other
        alias copies its field (None gives "No" for `value`, "" otherwise) or is a literal."""
        for alias, original in (self.output_map or {}).items():
            if self._condition_kept(state, trace, alias):
                continue
            if isinstance(original, str) and original in state:
                value = state[original]
                if value is None:
                    value = "No" if alias == "value" else ""
                state[alias] = value
            else:
                state[alias] = original

    def _condition_kept(self, state: GraphState, trace: list[TraceEntry], alias: str) -> bool:
        for entry in self.configs:
            conditions = entry.get("conditions")
            for condition in conditions if isinstance(conditions, list) else []:
                output = condition.get("output") or {}
                if alias not in output:
                    continue
                trigger = str(condition["value"]).lower()
                to_end = condition.get("node") == END
                name = node_name(entry)
                if trace:
                    for item in trace:
                        if item.name.startswith(f"{name}_value_setter"):
                            if (item.trigger or "").lower() == trigger and alias in item.outputs:
                                return True
                        elif item.name == name:
                            said = str(item.classification or "").lower()
                            if said == trigger and to_end:
                                return True
                    continue
                # Plexus sets the condition's value here on the state it then discards (its
                # new state was copied before), so the field keeps what it held.
                field = str(condition.get("state") or "classification")
                holds = str(state.get(field) or "").lower() == trigger
                if to_end and holds:
                    return True
                current = state.get(alias)
                if to_end and current == output[alias] and current not in (None, ""):
                    return True
        return False

    def _route(
        self,
        position: int,
        entry: dict[str, Any],
        state: GraphState,
        record: NodeRecord,
        trace: list[TraceEntry],
    ) -> int | None:
        last = position == len(self.nodes) - 1
        following = None if last else self.nodes[position + 1].name
        conditions = entry.get("conditions")
        edge = entry.get("edge")
        target: str | None
        if conditions is not None and not isinstance(conditions, list):
            # Plexus logs "Conditions is not a list" and goes on to the next node, its
            # edge: ignored with them.
            target = END if last else following
        elif not last and "output" in entry:
            _set(state, entry.get("output"))
            target = following
        elif conditions:
            classification = state.get("classification")
            matched = None
            if classification is not None:
                wanted = str(classification).lower()
                matched = next((c for c in conditions if str(c["value"]).lower() == wanted), None)
            if matched is not None:
                record.condition = str(matched["value"])
                target = matched.get("node") or (END if last else following)
                set_fields = _set(state, matched.get("output"))
                # Plexus's condition value setter records itself in the trace.
                trace.append(
                    TraceEntry(
                        f"{node_name(entry)}_value_setter_{conditions.index(matched)}",
                        trigger=str(matched["value"]),
                        outputs=tuple(set_fields),
                    )
                )
            elif edge:
                target = edge.get("node") or (END if last else following)
                _set(state, edge.get("output"))
            else:
                target = END if last else following
        elif edge:
            target = edge.get("node") or (END if last else following)
            if last and target != END:
                target = END  # Plexus adds no route out of the last node but to END
            elif not last or "output" in edge:
                _set(state, edge.get("output"))
        else:
            if last and "output" in entry:
                _set(state, entry.get("output"))
            target = END if last else following
        record.route = target or END
        return None if target in (None, END) else self.index[target]


@dataclass(frozen=True)
class TraceEntry:
    """One entry of Plexus's `metadata["trace"]["node_results"]`, as far as routing reads it:
    a node that records itself (its classification) or a condition's value setter."""

    name: str
    classification: Any = None
    trigger: str | None = None
    outputs: tuple[str, ...] = ()


def node_name(entry: dict[str, Any]) -> str:
    return str(entry["name"])


def _set(state: GraphState, output: dict[str, Any] | None) -> list[str]:
    """A value setter: `alias: field` copies a state field, anything else is a literal."""
    for alias, original in (output or {}).items():
        if isinstance(original, str) and original in state:
            state[alias] = state[original]
        else:
            state[alias] = original
    return list(output or ())


def _confidence(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 1 else None


def _trace(record: NodeRecord) -> dict[str, Any]:
    own = record.result
    cost = record.cost()
    entry: dict[str, Any] = {
        "node": record.name,
        "class": record.kind,
        "classification": own.get("classification"),
        "value": own.get("value"),
        "route": record.route,
        "seconds": round(record.seconds, 3),
    }
    if record.condition is not None:
        entry["condition"] = record.condition
    if record.calls:
        entry.update(
            provider=record.provider,
            model=record.model,
            llm_calls=len(record.calls),
            prompt_tokens=cost.prompt_tokens,
            completion_tokens=cost.completion_tokens,
            cost_usd=float(cost.total_cost),
            completion=record.calls[-1].text[-2000:],
        )
    return entry


def _input_source(item: Any, source: str) -> Any:
    if item is None:
        return None
    if not isinstance(item, dict):
        raise ScoreConfigError(f"{source}: item must be a mapping (class, options, processors)")
    if item.get("processors"):
        processors = (
            item["processors"] if isinstance(item["processors"], list) else [item["processors"]]
        )
        names = [p.get("class") if isinstance(p, dict) else p for p in processors]
        raise ScoreConfigError(
            f"{source}: item processors ({', '.join(str(n) for n in names)}) are not supported "
            "by this worker yet"
        )
    if not item.get("class"):
        return None
    from plexus.scores.input_sources import input_source

    return input_source(item["class"], item.get("options") or {}, source)
