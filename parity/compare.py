"""What is compared between the two engines, and how each engine's outcome is read.

An outcome is reduced to a view of the compared fields:
- `value`, `explanation`: the result; a run that did not produce a result is `failed: true`
  (Plexus's `value: "ERROR"` with an `error`, or a crash; this project's FAILED job);
- `path`: the graph's own nodes in the order they ran (LangGraph's helper nodes, such as
  `<node>_value_setter` and `output_aliasing`, left out);
- `requests`: each model request in order: endpoint, messages (role and text) and every other
  body field (model, temperature, top_p, max_completion_tokens, ...);
- `calls`: how many model requests; `tokens`: prompt, completion, total; `cost`: USD total.
"""

from __future__ import annotations

from typing import Any

FIELDS = ("failed", "value", "explanation", "path", "requests", "calls", "tokens", "cost")


def _text(content: Any) -> Any:
    if isinstance(content, list):  # content parts (Responses API input, multimodal)
        return "".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return content


def request_view(request: dict[str, Any]) -> dict[str, Any]:
    body = dict(request.get("body") or {})
    messages = body.pop("messages", None)
    if messages is None:
        messages = body.pop("input", None)
    shown = []
    for message in messages or []:
        if isinstance(message, dict):
            shown.append({"role": message.get("role"), "content": _text(message.get("content"))})
        else:
            shown.append({"role": None, "content": str(message)})
    return {"endpoint": request.get("path"), "messages": shown, "params": body}


def view(
    outcome: dict[str, Any], requests: list[dict[str, Any]], nodes: list[str]
) -> dict[str, Any]:
    failed = bool(
        outcome.get("crash")
        or outcome.get("failed")
        or (outcome.get("value") == "ERROR" and outcome.get("error"))
    )
    usage = outcome.get("usage") or {}
    cost = outcome.get("cost") or {}
    known = set(nodes)
    return {
        "failed": failed,
        "value": None if failed else outcome.get("value"),
        "explanation": None if failed else outcome.get("explanation"),
        "path": [n for n in outcome.get("path") or [] if n in known],
        "requests": [request_view(r) for r in requests],
        "calls": len(requests),
        "tokens": None
        if failed
        else {
            "prompt": int(usage.get("prompt_tokens") or 0),
            "completion": int(usage.get("completion_tokens") or 0),
            "total": int(usage.get("total_tokens") or 0),
        },
        "cost": None if failed else round(float(cost.get("total_cost") or 0.0), 10),
    }


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """The compared fields on which the two views disagree."""
    return [f for f in FIELDS if expected.get(f) != actual.get(f)]
