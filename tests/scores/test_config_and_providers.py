"""Parsing (YAML 1.2, errors that name the line, unsupported classes), Jinja2 errors, the
three providers through their real clients, and cost sums."""

from __future__ import annotations

import io

import pytest

from plexus.core.errors import JobError, ScoreConfigError
from plexus.core.settings import SettingsError
from plexus.scores import parse_score_config
from plexus.scores.LangGraphScore import LangGraphScore
from plexus.scores.providers import price_usd
from tests.scores.conftest import score_text

YES_NO = """
name: Greeting
class: LangGraphScore
model_provider: {provider}
model_name: {model}
graph:
  - name: greeted
    class: Classifier
    valid_classes:
      - Yes
      - No
    system_message: You review calls.
    user_message: |
      {{{{text}}}}
output:
  value: classification
  explanation: explanation
"""


def yes_no(provider: str = "ChatOpenAI", model: str = "gpt-4o-mini") -> str:
    return YES_NO.format(provider=provider, model=model)


def test_yaml_1_2_keeps_unquoted_yes_and_no_as_classes():
    score = parse_score_config(yes_no())
    assert isinstance(score, LangGraphScore)
    assert score.nodes[0].valid_classes == ["Yes", "No"]
    # The same document read as YAML 1.1 (what PyYAML does) turns them into booleans.
    from ruamel.yaml import YAML

    old = YAML(typ="safe", pure=True)
    old.version = (1, 1)
    assert old.load(io.StringIO(yes_no()))["graph"][0]["valid_classes"] == [True, False]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            "class: LangGraphScore\ngraph:\n  - name: a\n   class: Classifier\n",
            "invalid YAML at line 4",
        ),
        ("class: LangGraphScore\ngraph: [\n", "invalid YAML at line 3"),
        ("class: LangGraphScore\nname: a\nname: b\n", "invalid YAML at line 3"),
        ("class: TactusScore\nname: x", "invalid TactusScore: code: Field required"),
        (
            "class: OpenAIModelScore",
            "score class 'OpenAIModelScore' is not supported; this worker runs LangGraphScore, "
            "TactusScore, LLMClassifier, KeywordClassifier, RegexClassifier",
        ),
        ("class: LangGraphScore", "needs a graph"),
        (
            "class: LangGraphScore\ngraph: [{name: a, class: NumericClassifier}]",
            "node 'a': node class NumericClassifier is not supported: not implemented by this "
            "worker yet; supported: Classifier, YesOrNoClassifier, MultiClassClassifier, "
            "Extractor, Generator, FuzzyMatchClassifier, LogicalClassifier, LogicalNode, "
            "BeforeAfterSlicer",
        ),
        (
            "class: LangGraphScore\ngraph: [{name: a, class: Magic}]",
            "node class 'Magic' is not supported",
        ),
        (
            "class: LangGraphScore\nmodel_name: m\ngraph: [{name: a, class: Classifier, "
            "valid_classes: [A], user_message: x, conditions: [{value: A, node: nowhere}]}]",
            "routes to 'nowhere', which is neither a node nor END",
        ),
        (
            "class: LangGraphScore\nmodel_provider: ChatVertexAI\nmodel_name: gemini\n"
            "graph: [{name: a, class: Classifier, valid_classes: [A], user_message: x}]",
            "model_provider ChatVertexAI is not available",
        ),
        (
            "class: LangGraphScore\nmodel_provider: ChatOpenAI\nmodel_name: m\n"
            "graph: [{name: a, class: Classifier, valid_classes: [A], batch: true, user_message: x}]",
            "option batch is not supported",
        ),
        (
            "class: LangGraphScore\ngraph: [{name: a, class: LogicalClassifier, code: 'def score(:'}]",
            "node 'a' (LogicalClassifier): code has a syntax error at line 1",
        ),
        (
            "class: LangGraphScore\nmodel_provider: ChatOpenAI\nmodel_name: m\n"
            "graph:\n  - name: ask\n    class: Classifier\n    valid_classes: [A]\n"
            "    user_message: |\n      line one\n      {{ text }\n",
            "node 'ask' (Classifier) user_message: template error at line 2",
        ),
        (
            "class: LangGraphScore\nitem: {class: TextFileInputSource, options: {}}\n"
            "graph: [{name: a, class: LogicalNode, code: 'def execute(c): return {}'}]",
            "options.pattern is required",
        ),
    ],
)
def test_bad_configurations_name_the_problem(document, message):
    with pytest.raises(ScoreConfigError) as info:
        parse_score_config(document, "score 'S' version v1")
    assert str(info.value).startswith("score 'S' version v1: ")
    assert message in str(info.value)


def test_template_error_while_rendering_names_node_and_line(scoring, openai):
    document = yes_no().replace("{{text}}", "{{text}}\n      {{ 1 // metadata.count }}")
    score = parse_score_config(document, "score 'S'")
    with pytest.raises(
        JobError, match=r"node 'greeted' \(Classifier\) user_message: template error at line 2"
    ):
        score_text(score, scoring, "hello", {"count": 0})
    assert openai.requests == []


def test_missing_template_variables_render_empty_as_in_plexus(scoring, openai):
    document = yes_no().replace("{{text}}", "{{text}} [{{ metadata.other_data.X }}]")
    openai.reply("Yes")
    score_text(parse_score_config(document), scoring, "hello")
    assert openai.requests[0]["body"]["messages"][1]["content"] == "hello []"


def test_azure_openai_through_the_azure_client(scoring, openai):
    openai.reply("Yes", 50, 5)
    result = score_text(
        parse_score_config(yes_no("AzureChatOpenAI", "my-deployment")), scoring, "hi"
    )
    assert result.value == "Yes"
    [request] = openai.requests
    assert request["protocol"] == "azure"
    assert request["path"].startswith(
        "/openai/deployments/my-deployment/chat/completions?api-version="
    )
    assert request["headers"]["api-key"] == scoring.settings.azure_api_key.get()
    assert result.cost.components[0]["provider"] == "azure_openai"


def test_azure_without_its_key_names_the_variable(scoring, openai):
    import dataclasses

    scoring.settings = dataclasses.replace(scoring.settings, azure_api_key=None)
    with pytest.raises(SettingsError, match="AZURE_API_KEY is not set"):
        score_text(parse_score_config(yes_no("AzureChatOpenAI", "dep")), scoring, "hi")


def test_bedrock_through_boto3_converse(scoring, openai):
    # moto 5 has no bedrock-runtime Converse; the test server speaks it on 127.0.0.1.
    # (Anthropic models go through InvokeModel with the body Plexus's ChatBedrock sends,
    # held to the real engine's by the parity cases bedrock_claude*.)
    model = "amazon.nova-lite-v1:0"
    openai.reply("The agent said hello. Yes", 200, 20)
    result = score_text(parse_score_config(yes_no("BedrockChat", model)), scoring, "Agent: hello")
    assert result.value == "Yes"
    [request] = openai.requests
    assert request["protocol"] == "bedrock"
    assert request["path"] == "/model/amazon.nova-lite-v1%3A0/converse"
    assert request["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert request["sent"]["system"] == [{"text": "You review calls."}]
    assert request["sent"]["messages"] == [{"role": "user", "content": [{"text": "Agent: hello"}]}]
    assert request["sent"]["inferenceConfig"] == {"maxTokens": 500, "temperature": 0}
    cost = result.cost.to_json()
    assert cost["components"][0]["provider"] == "bedrock"
    input_usd, output_usd = price_usd(model, 200, 20, "BedrockChat")
    assert (
        cost["total_cost"] == pytest.approx(float(input_usd + output_usd))
        and cost["total_cost"] > 0
    )


def test_cost_is_per_node_and_summed(scoring, openai):
    document = """
class: LangGraphScore
model_provider: ChatOpenAI
model_name: gpt-4o-mini
graph:
  - name: first
    class: Classifier
    valid_classes: [A, B]
    user_message: "{{ text }}"
  - name: second
    class: Classifier
    model_name: gpt-4o
    valid_classes: [C, D]
    user_message: "{{ classification }}"
output: {value: classification}
"""
    openai.reply("nothing")  # first node: no class, retried
    openai.reply("A", 100, 10)
    openai.reply("D", 1000, 50)
    result = score_text(parse_score_config(document), scoring, "t")
    assert result.value == "D"
    assert openai.requests[2]["body"]["model"] == "gpt-4o"  # the node's own model
    assert openai.requests[2]["body"]["messages"][0]["content"] == "A"
    cost = result.cost.to_json()
    first, second = cost["components"]
    assert (first["llm_calls"], first["prompt_tokens"], first["model"]) == (2, 220, "gpt-4o-mini")
    assert (second["llm_calls"], second["prompt_tokens"], second["model"]) == (1, 1000, "gpt-4o")
    assert cost["llm_calls"] == 3 and cost["prompt_tokens"] == 1220
    assert cost["total_tokens"] == 1220 + 30 + 10 + 50
    assert cost["total_cost"] == pytest.approx(first["usd"] + second["usd"])
    mini_in, mini_out = price_usd("gpt-4o-mini", 120, 30)
    mini2_in, mini2_out = price_usd("gpt-4o-mini", 100, 10)
    assert first["usd"] == pytest.approx(float(mini_in + mini_out + mini2_in + mini2_out))
    assert second["usd"] > first["usd"]


def test_graph_without_a_value_answers_no_as_plexus(scoring, openai):
    # LangGraphScore.predict in Plexus: a value left None is "No" (parity case no_score_output).
    document = """
class: LangGraphScore
model_provider: ChatOpenAI
model_name: gpt-4o-mini
graph:
  - name: write
    class: Generator
    user_message: "{{ text }}"
"""
    openai.reply("some text")
    result = score_text(parse_score_config(document), scoring, "t")
    assert (result.value, result.explanation) == ("No", "")


def test_validation_is_accepted_and_not_run_as_in_plexus(scoring, openai):
    # Plexus's score parameters have no `validation` field (parity case validation_fail).
    document = yes_no() + 'parameters:\n  validation:\n    value:\n      valid_classes: ["Yes"]\n'
    openai.reply("No")
    assert score_text(parse_score_config(document), scoring, "t").value == "No"
