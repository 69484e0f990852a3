"""Real score configurations from AnthusAI/Plexus (tests/scores/data) through the real
openai client against the test model server."""

from __future__ import annotations

import pytest

from plexus.scores import parse_score_config
from plexus.scores.config import load_yaml
from plexus.scores.providers import price_usd
from plexus.scores.scorecard import parse_scorecard, score_with_dependencies, scorecard_scores
from tests.scores.conftest import data, run_async, score_text

TRANSCRIPT = "Agent: if you have copays now, that stays the same. Nothing changes.\nCustomer: ok"


def test_dashboard_score_classifier_then_logical_classifier(scoring, openai):
    score = parse_score_config(data("agent_misrepresentation.yaml"), "dashboard score")
    openai.reply("The agent guarantees the copay stays the same.\n\nCopay Guarantee", 900, 40)
    result = score_text(score, scoring, TRANSCRIPT)

    # The LogicalClassifier's code turns the Classifier's type into the final answer.
    assert result.value == "No"
    assert result.explanation.startswith("**Copay Guarantee**: The agent guarantees")
    [request] = openai.requests
    system, user = request["body"]["messages"]
    assert system["role"] == "system" and "Misrepresentation Types" in system["content"]
    # Jinja2 put the transcript where {{text}} stood, braces and all gone.
    assert f"<transcript>\n{TRANSCRIPT}\n</transcript>" in user["content"]
    assert "{" not in user["content"]
    assert request["body"]["model"] == "gpt-4o-mini"
    # As Plexus's ChatOpenAI sends them (LangChainUser.py, langchain-openai 0.3.35).
    assert request["body"]["temperature"] == 0 and request["body"]["max_completion_tokens"] == 500
    assert request["body"]["top_p"] == 0.03
    assert [(n["node"], n["route"]) for n in result.routes] == [
        ("misrepresentation_analysis", "final_classification"),
        ("final_classification", "END"),
    ]
    cost = result.cost.to_json()
    input_usd, output_usd = price_usd("gpt-4o-mini", 900, 40)
    assert cost["llm_calls"] == 1 and cost["prompt_tokens"] == 900
    assert cost["input_cost"] == pytest.approx(float(input_usd))
    assert cost["total_cost"] == pytest.approx(float(input_usd + output_usd))
    [component] = cost["components"]
    assert component["metadata"] == {"node_name": "misrepresentation_analysis"}
    assert component["provider"] == "openai"


def test_dashboard_score_none_is_compliant(scoring, openai):
    score = parse_score_config(data("agent_misrepresentation.yaml"), "dashboard score")
    openai.reply("Standard scripting only; nothing misleading. None")
    result = score_text(score, scoring, "Agent: your copays are determined by your insurance")
    assert result.value == "Yes"
    assert result.explanation == "Agent followed appropriate scripting without misrepresentations."


def _scorecard(name: str):
    """A Plexus test scorecard whose scores map their classification to the value: as
    written they set none, and Plexus answers "No" for each (parity case no_score_output);
    these tests are about dependencies."""
    loaded = load_yaml(data(name), name)
    entries = scorecard_scores(loaded)
    for entry in entries:
        entry.setdefault("output", {"value": "classification", "explanation": "explanation"})
    return parse_scorecard(entries, name)


def test_linear_dependency_chain_scores_dependencies_first(scoring, openai):
    scores = _scorecard("test_scorecard_linear.yaml")
    openai.when("complexity of this text", "Mostly plain words. Low")
    openai.when("clarity of this text", "Clear enough. High")
    openai.when("conciseness of this text", "Medium")
    openai.when("overall assessment", "All things weighed: Good")

    results = run_async(
        scoring, lambda run: score_with_dependencies(scores, "Score D", {"text": "Short."}, run)
    )

    assert list(results) == ["Score A", "Score B", "Score C", "Score D"]
    assert [r.value for r in results.values()] == ["Low", "High", "Medium", "Good"]
    prompts = [r["body"]["messages"][1]["content"] for r in openai.requests]
    assert "Previous complexity rating (Score A): Low" in prompts[1]
    assert "- Clarity (Score B): High" in prompts[2]
    assert "- Conciseness (Score C): Medium" in prompts[3]


def test_conditional_dependency_skips_when_the_condition_fails(scoring, openai):
    scores = _scorecard("test_scorecard_complex.yaml")
    openai.when("Is this content relevant", "Not Relevant")
    # As Plexus's Scorecard: the score's result is SKIPPED, with no model call of its own.
    results = run_async(
        scoring,
        lambda run: score_with_dependencies(scores, "Branch A Score", {"text": "x"}, run),
    )
    skipped = results["Branch A Score"]
    assert (skipped.value, skipped.explanation) == (
        "SKIPPED",
        "Score was skipped because dependency conditions were not met",
    )
    assert len(openai.requests) == 1


def test_conditional_dependency_tree_runs_when_it_holds(scoring, openai):
    scores = _scorecard("test_scorecard_complex.yaml")
    # Rules are tried in order: the integrators' prompts quote the branches' questions.
    openai.when("overall assessment of the content", "Good")
    openai.when("balance between", "Technical-Heavy")
    openai.when("accessibility of this content", "Technical-but-Engaging")
    openai.when("Is this content relevant", "Relevant")
    openai.when("technical complexity?", "High")
    openai.when("emotional tone?", "Low")
    openai.when("engagement level?", "Medium")

    results = run_async(
        scoring,
        lambda run: score_with_dependencies(scores, "Final Assessment", {"text": "API docs"}, run),
    )

    assert len(results) == 7 and len(openai.requests) == 7
    assert results["Final Assessment"].value == "Good"
    # "Relevant" is also a word of "Not Relevant": the longer class wins only when present.
    assert results["Root Score"].value == "Relevant"
    final_prompt = openai.requests[-1]["body"]["messages"][1]["content"]
    assert "- Technical-Emotional balance: Technical-Heavy" in final_prompt
    assert "- Content accessibility: Technical-but-Engaging" in final_prompt


def test_edge_routing_graph_through_two_classifiers(scoring, openai):
    score = parse_score_config(data("edge_routing.yaml"), "edge routing")
    openai.when("Was this a good call?", "They bought. Yes")
    openai.when("Why did the customer not qualify?", "Price")

    result = score_text(score, scoring, "Customer: deal", {"customer_type": "revenue only"})

    # The first node's fired condition set `value` and `explanation`; Plexus's final output
    # keeps what such a condition names (whatever node it routed to), so `explanation` is the
    # last node's, as the real engine answers (parity case plexus_test_final_node_edge_to_end).
    assert result.value == "Yes"
    assert result.explanation == "Price"
    assert [(n["node"], n["route"]) for n in result.routes] == [
        ("customer_type_classifier", "revenue_only_classifier"),
        ("revenue_only_classifier", "non_qualifying_reason_classifier_revonly"),
        ("non_qualifying_reason_classifier_revonly", "END"),
    ]
    assert result.routes[0]["condition"] == "Yes"
    # The third node saw the second's aliased output.
    assert "The call was judged good: Yes." in openai.requests[1]["body"]["messages"][1]["content"]
    assert result.cost.llm_calls == 2
    assert [c["metadata"]["node_name"] for c in result.cost.components] == [
        "revenue_only_classifier",
        "non_qualifying_reason_classifier_revonly",
    ]


def test_condition_to_end_keeps_its_output_over_the_final_mapping(scoring, openai):
    score = parse_score_config(data("edge_routing.yaml"), "edge routing")
    result = score_text(score, scoring, "Customer: hi", {"customer_type": "retail"})
    assert (result.value, result.explanation) == ("NA", "Not a revenue-only customer")
    assert [(n["node"], n["route"]) for n in result.routes] == [("customer_type_classifier", "END")]
    assert openai.requests == []
    assert result.cost.llm_calls == 0 and result.cost.total_cost == 0


def test_text_file_input_source_example_parses():
    # examples/score_with_text_file_input.yaml has no graph; its item: section is real.
    loaded = load_yaml(data("score_with_text_file_input.yaml"), "example")
    item = loaded["item"]
    assert item["class"] == "TextFileInputSource"
    assert item["options"]["pattern"] == r".*transcript\.txt$"
