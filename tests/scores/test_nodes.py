"""Each node class on its own, through the real openai client against the test server."""

from __future__ import annotations

import pytest

from plexus.core.errors import ModelReplyError
from plexus.scores import parse_score_config
from tests.scores.conftest import score_text

HEAD = "class: LangGraphScore\nmodel_provider: ChatOpenAI\nmodel_name: gpt-4o-mini\n"


def graph(nodes: str, tail: str = "") -> object:
    return parse_score_config(HEAD + "graph:\n" + nodes + tail, "score 'S'")


def test_classifier_parses_like_plexus_and_retries_an_answer_without_a_class(scoring, openai):
    score = graph(
        """
  - name: tone
    class: Classifier
    valid_classes: [Positive, Negative, Not Sure]
    user_message: "{{ text }}"
""",
        "output:\n  value: classification\n  explanation: explanation\n",
    )
    openai.reply("I cannot tell from this.")
    openai.reply("Thinking it over... the final answer is **NOT_SURE**!")
    result = score_text(score, scoring, "hmm")
    assert result.value == "Not Sure"
    assert result.explanation == "Thinking it over... the final answer is **NOT_SURE**!"
    retry = openai.requests[1]["body"]["messages"]
    assert [m["role"] for m in retry] == ["user", "assistant", "user"]
    assert retry[2]["content"].startswith(
        "You responded with an invalid classification. Please classify as one of: "
        "'Positive', 'Negative', 'Not Sure'. This is attempt 1 of 6."
    )
    assert result.cost.llm_calls == 2


def test_classifier_never_guesses(scoring, openai):
    score = graph(
        """
  - name: tone
    class: Classifier
    valid_classes: ["Yes", "No"]
    maximum_retry_count: 2
    user_message: "{{ text }}"
"""
    )
    openai.set_default(lambda body: "Maybe, it depends.")
    with pytest.raises(
        ModelReplyError, match=r"node 'tone' .*'Maybe, it depends.', which names none"
    ):
        score_text(score, scoring, "x")
    assert len(openai.requests) == 3


def test_classifier_parse_from_start_takes_the_first_class(scoring, openai):
    score = graph(
        """
  - name: first
    class: Classifier
    valid_classes: ["Yes", "No"]
    parse_from_start: true
    user_message: "{{ text }}"
"""
    )
    openai.reply("Yes. It was not a No at all.")
    assert score_text(score, scoring, "x").value == "Yes"


def test_yes_or_no_classifier_reads_the_last_yes_or_no(scoring, openai):
    score = graph(
        """
  - name: greeted
    class: YesOrNoClassifier
    user_message: "Greeted? {{ text }} {{ retry_feedback }}"
"""
    )
    openai.reply("Hard to say.")
    openai.reply("No greeting at first, but then... yes!")
    result = score_text(score, scoring, "Agent: hi")
    assert result.value == "yes"  # lower case, as Plexus's YesOrNoClassifier
    second = openai.requests[1]["body"]["messages"][0]["content"]
    assert 'You responded with Hard to say., but we need a "Yes" or a "No".' in second


def test_multi_class_classifier_fuzzy_match_and_explanation_message(scoring, openai):
    score = graph(
        """
  - name: color
    class: MultiClassClassifier
    valid_classes: [Red, Green, Blue]
    fuzzy_match: true
    explanation_message: "Why {{ classification }}?"
    user_message: "{{ text }}"
"""
    )
    openai.reply("gren")
    openai.reply("Because the leaves are that colour.")
    result = score_text(score, scoring, "leaves")
    assert result.value == "Green"
    assert result.explanation == "Because the leaves are that colour."
    follow_up = openai.requests[1]["body"]["messages"]
    assert follow_up[-2:] == [
        {"role": "assistant", "content": "gren"},
        {"role": "user", "content": "Why Green?"},
    ]


def test_extractor_grounds_the_quote_in_the_text_then_a_classifier_reads_it(scoring, openai):
    score = graph(
        """
  - name: quote
    class: Extractor
    user_message: "Quote the greeting: {{ text }}"
    output:
      greeting: extracted_text
  - name: judge
    class: Classifier
    valid_classes: ["Yes", "No"]
    user_message: "Is '{{ greeting }}' polite?"
""",
        "output:\n  value: classification\n",
    )
    text = "Agent: Good morning, thanks for calling Acme. Customer: hi"
    openai.reply('Quote: "Good morning, thanks for colling Acme"')
    openai.reply("Yes")
    result = score_text(score, scoring, text)
    assert result.value == "Yes"
    # The model's slightly wrong quote became the text's own words.
    judge_prompt = openai.requests[1]["body"]["messages"][0]["content"]
    assert judge_prompt == "Is 'Good morning, thanks for calling Acme' polite?"


def test_generator_passes_its_completion_on(scoring, openai):
    score = graph(
        """
  - name: summary
    class: Generator
    user_message: "Summarise: {{ text }}"
  - name: decide
    class: LogicalClassifier
    code: |
      def score(parameters, input):
          summary = input.metadata["summary"]["explanation"]
          return Score.Result(parameters=parameters, value="Long" if len(summary) > 10 else "Short",
                              metadata={"explanation": summary})
"""
    )
    openai.reply("")
    openai.reply("A caller asks about a refund.")
    result = score_text(score, scoring, "...")
    assert (result.value, result.explanation) == ("Long", "A caller asks about a refund.")
    assert len(openai.requests) == 2  # the empty completion was asked again


def test_fuzzy_match_classifier_on_metadata_without_a_model(scoring, openai):
    score = graph(
        """
  - name: school
    class: FuzzyMatchClassifier
    data_paths: ["metadata.schools[].school_id"]
    targets:
      operator: or
      items:
        - {target: "American InterContinental University", threshold: 80, scorer: partial_ratio}
        - {target: "Colorado Technical University", threshold: 80, scorer: partial_ratio}
    classification_mapping:
      "Colorado Technical University": CTU
    default_classification: Other
    conditions:
      - value: Other
        node: END
        output: {value: "NA", explanation: explanation}
""",
        "output:\n  value: classification\n  explanation: explanation\n",
    )
    metadata = {"schools": [{"school_id": "University of Phoenix"}, {"school_id": "x"}]}
    # partial_ratio is case-sensitive without preprocess: no match, default, END condition.
    result = score_text(score, scoring, "t", metadata)
    assert (result.value, result.explanation) == (
        "NA",
        "No fuzzy matches found for any configured targets",
    )
    metadata = {"schools": [{"school_id": "Colorado Technical Univ."}]}
    result = score_text(score, scoring, "t", metadata)
    assert result.value == "CTU"
    assert result.explanation.startswith("Found fuzzy matches for: Colorado Technical University.")
    assert openai.requests == []


def test_logical_node_with_output_mapping_and_state_model_dump(scoring, openai):
    score = graph(
        """
  - name: extract
    class: Extractor
    trust_model_output: true
    user_message: "{{ text }}"
  - name: parse
    class: LogicalNode
    function_name: parse_response
    code: |
      def parse_response(context):
          response = context["state"].model_dump().get("extracted_text", "")
          out = {}
          for line in response.split("\\n"):
              if line.startswith("Primary AOI:"):
                  out["primary_aoi"] = line.replace("Primary AOI:", "").strip()
          return out
    output_mapping:
      area_of_interest: primary_aoi
  - name: final
    class: LogicalClassifier
    code: |
      def score(parameters: Score.Parameters, input: Score.Input) -> Score.Result:
          aoi = input.metadata.get("area_of_interest")
          return Score.Result(parameters=parameters, value=aoi or "None",
                              metadata={"explanation": f"AOI is {aoi}", "aoi_seen": True})
""",
        "output:\n  value: value\n  explanation: explanation\n",
    )
    openai.reply("Notes\nPrimary AOI: Nursing\nOther: none")
    result = score_text(score, scoring, "I want to study nursing")
    assert (result.value, result.explanation) == ("Nursing", "AOI is Nursing")


def test_logical_classifier_error_names_node_and_line(scoring, openai):
    score = graph(
        """
  - name: broken
    class: LogicalClassifier
    code: |
      def score(parameters, input):
          values = {}
          return values["missing"]
"""
    )
    from plexus.core.errors import JobError

    with pytest.raises(
        JobError, match=r"node 'broken' \(LogicalClassifier\): code raised KeyError at line 3"
    ):
        score_text(score, scoring, "x")
