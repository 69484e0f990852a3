"""The cases both engines run: a score's YAML, an item, the model's scripted replies, a source.

`source` says where the configuration or the behaviour comes from: a Plexus documentation
file, a Plexus test, or a line of Plexus's node code (all at the 1.50.1 tag). Replies are
what the fake model answers, in order; usage defaults to 100 prompt and 10 completion tokens.
"""

from __future__ import annotations

from typing import Any

from parity.branch_cases import BRANCH_CASES
from parity.branch_cases2 import BRANCH_CASES_2
from parity.case import DOC, HEAD, OUT, ROUTING_TEST, YN, Case
from parity.doc_cases import DOC_CASES


def score(graph: str, head: str = HEAD, output: str | None = OUT) -> str:
    return head + "graph:\n" + graph + (output or "")


def classifier(name: str = "judge", extra: str = "", classes: str = YN) -> str:
    return (
        f"  - name: {name}\n    class: Classifier\n    {classes}\n"
        "    system_message: You review call transcripts.\n"
        '    user_message: "Did the agent greet the caller? {{text}}"\n' + extra
    )


CASES: list[Case] = [
    # Classifier -----------------------------------------------------------------------------
    Case("classifier_yes", f"{DOC} (Classifier)", score(classifier()), ["Yes"]),
    Case(
        "classifier_reasoning_last",
        "Classifier.py ClassificationOutputParser (last wins)",
        score(classifier()),
        ["The agent said hello, so no doubt.\nYes"],
    ),
    Case(
        "classifier_parse_from_start",
        "Classifier.py parse_from_start",
        score(classifier(extra="    parse_from_start: true\n")),
        ["No. Well, yes"],
    ),
    Case(
        "classifier_overlap",
        "Classifier.py (longer class over shorter)",
        score(classifier(classes="valid_classes: ['Yes', 'Yes, but']")),
        ["Yes, but"],
    ),
    Case("classifier_punctuation", "Classifier.py normalize", score(classifier()), ["**YES.**"]),
    Case(
        "classifier_underscores",
        "Classifier.py normalize (underscores)",
        score(classifier(classes="valid_classes: ['Not_Greeted', 'Greeted']")),
        ["not greeted"],
    ),
    Case(
        "classifier_retry_then_yes",
        "Classifier.py retry message",
        score(classifier()),
        ["I cannot tell.", "Yes"],
    ),
    Case(
        "classifier_retries_exhausted",
        "Classifier.py:834-835 (Maximum retries reached)",
        score(classifier(extra="    maximum_retry_count: 2\n")),
        ["maybe", "perhaps", "unsure"],
    ),
    Case(
        "classifier_retry_zero",
        "Classifier.py maximum_retry_count: 0",
        score(classifier(extra="    maximum_retry_count: 0\n")),
        ["maybe"],
    ),
    Case(
        "classifier_empty_then_yes",
        "Classifier.py:583-586 (empty completion)",
        score(classifier()),
        ["", "Yes"],
    ),
    Case(
        "classifier_system_only",
        "BaseNode.py get_prompt_templates (system only)",
        score(
            "  - name: judge\n    class: Classifier\n    " + YN + "\n"
            '    system_message: "Answer Yes or No: {{text}}"\n'
        ),
        ["No"],
    ),
    Case(
        "classifier_user_only",
        "BaseNode.py get_prompt_templates (user only)",
        score(
            "  - name: judge\n    class: Classifier\n    " + YN + "\n"
            '    user_message: "Answer Yes or No: {{text}}"\n'
        ),
        ["No"],
    ),
    Case(
        "classifier_metadata_template",
        f"{DOC} (metadata in prompts)",
        score(
            "  - name: judge\n    class: Classifier\n    " + YN + "\n"
            '    user_message: "Is {{metadata.product}} named? {{text}}"\n'
        ),
        ["Yes"],
        metadata={"product": "Widget"},
    ),
    Case(
        "classifier_missing_variable",
        "LangGraphScore.py ChainableUndefined patch",
        score(
            "  - name: judge\n    class: Classifier\n    " + YN + "\n"
            '    user_message: "[{{metadata.absent}}] {{text}}"\n'
        ),
        ["Yes"],
    ),
    Case(
        "classifier_node_model_override",
        f"{DOC} (per-node model settings)",
        score(
            classifier(extra="    temperature: 0.5\n    max_tokens: 100\n    model_name: gpt-4o\n")
        ),
        ["Yes"],
    ),
    Case(
        "score_temperature_max_tokens",
        "LangGraphScore.Parameters temperature/max_tokens",
        score(classifier(), head=HEAD + "temperature: 0.2\nmax_tokens: 64\n"),
        ["No"],
    ),
    Case(
        "model_gpt5_responses",
        "LangChainUser.py:160-214 (gpt-5: Responses API)",
        score(classifier(), head=HEAD.replace("gpt-4o-mini", "gpt-5-mini")),
        ["Yes"],
    ),
    Case(
        "model_o3_responses",
        "LangChainUser.py:160-214 (o-series)",
        score(
            classifier(), head=HEAD.replace("gpt-4o-mini", "o3-mini") + "reasoning_effort: medium\n"
        ),
        ["No"],
    ),
    Case(
        "single_line_score_level",
        "LangGraphScore.py:610-612 (not passed to nodes)",
        score(classifier(), head=HEAD + "single_line_messages: true\n").replace(
            '"Did the agent greet the caller? {{text}}"', '"Did the agent\\n  greet?\\n{{text}}"'
        ),
        ["Yes"],
    ),
    Case(
        "single_line_node_level",
        "BaseNode.py single_line_messages",
        score(classifier(extra="    single_line_messages: true\n")).replace(
            '"Did the agent greet the caller? {{text}}"', '"Did the agent\\n  greet?\\n{{text}}"'
        ),
        ["Yes"],
    ),
    Case(
        "enable_confidence_ignored",
        "issue 16 (enable_confidence ignored by Plexus)",
        score(classifier(extra="    enable_confidence: true\n")),
        ["Yes"],
    ),
    Case(
        "no_score_output",
        "LangGraphScore.py:1579-1582 (value None -> No)",
        score(classifier(), output=None),
        ["Yes"],
    ),
    Case(
        "no_score_output_node_value",
        "Classifier node sets value? (no output)",
        score(classifier(extra="    output:\n      value: classification\n"), output=None),
        ["Yes"],
    ),
    # Two nodes, routing ------------------------------------------------------------------------
    Case(
        "chain_classification_template",
        "state between nodes ({{classification}})",
        score(
            classifier("first")
            + classifier("second").replace(
                "Did the agent greet the caller? {{text}}",
                "Earlier: {{classification}}. Polite? {{text}}",
            )
        ),
        ["Yes", "No"],
    ),
    Case(
        "chain_node_name_template",
        "state.py:953 (node-named results)",
        score(
            classifier("first")
            + classifier("second").replace(
                "Did the agent greet the caller? {{text}}",
                "First said [{{first.classification}}]. {{text}}",
            )
        ),
        ["Yes", "No"],
    ),
    Case(
        "condition_yes_end",
        f"{ROUTING_TEST} (condition to END with output)",
        score(
            classifier(
                "first",
                "    conditions:\n      - value: 'Yes'\n        node: END\n"
                "        output:\n          value: 'Greeted'\n          explanation: explanation\n",
            )
            + classifier("second")
        ),
        ["Yes"],
    ),
    Case(
        "condition_no_match_next",
        f"{ROUTING_TEST} (no match -> next node)",
        score(
            classifier(
                "first",
                "    conditions:\n      - value: 'Yes'\n        node: END\n"
                "        output:\n          value: 'Greeted'\n",
            )
            + classifier("second")
        ),
        ["No", "Yes"],
    ),
    Case(
        "condition_to_node_output",
        "LangGraphScore.py:1231-1244 (condition to a node keeps output)",
        score(
            classifier(
                "first",
                "    conditions:\n      - value: 'No'\n        node: third\n"
                "        output:\n          flag: 'skipped'\n",
            )
            + classifier("second")
            + classifier("third").replace(
                "Did the agent greet the caller? {{text}}", "Flag {{flag}}. {{text}}"
            ),
            output="output:\n  value: classification\n  explanation: flag\n",
        ),
        ["No", "Yes"],
    ),
    Case(
        "edge_with_output",
        f"{DOC} (edge with output)",
        score(
            classifier(
                "first",
                "    edge:\n      node: second\n      output:\n        first_answer: classification\n",
            )
            + classifier("second").replace(
                "Did the agent greet the caller? {{text}}", "Before: {{first_answer}} {{text}}"
            ),
            output="output:\n  value: classification\n  explanation: first_answer\n",
        ),
        ["Yes", "No"],
    ),
    Case(
        "edge_skip_node",
        f"{DOC} (edge to a later node)",
        score(
            classifier("first", "    edge:\n      node: third\n")
            + classifier("second")
            + classifier("third")
        ),
        ["Yes", "No"],
    ),
    Case(
        "last_edge_end_no_output",
        "LangGraphScore.py:580,698 (last node edge END, no output)",
        score(classifier("first") + classifier("second", "    edge:\n      node: END\n")),
        ["Yes", "No"],
    ),
    Case(
        "last_edge_end_output",
        "LangGraphScore.py:580-596 (last node edge END with output)",
        score(
            classifier("first")
            + classifier(
                "second", "    edge:\n      node: END\n      output:\n        value: 'Edge'\n"
            )
        ),
        ["Yes", "No"],
    ),
    Case(
        "middle_output_condition_end",
        "LangGraphScore.py:1248-1257 (middle output + END condition)",
        score(
            classifier(
                "first",
                "    output:\n      first_answer: classification\n"
                "    conditions:\n      - value: 'Yes'\n        node: END\n        output:\n          value: 'Early'\n",
            )
            + classifier("second")
        ),
        ["Yes", "No"],
    ),
    Case(
        "last_output_and_conditions",
        "BaseNode.py:195 (last node output + conditions)",
        score(
            classifier("first")
            + classifier(
                "second",
                "    output:\n      verdict: classification\n"
                "    conditions:\n      - value: 'No'\n        node: END\n        output:\n          value: 'Nope'\n",
            ),
            output="output:\n  value: classification\n  explanation: verdict\n",
        ),
        ["Yes", "No"],
    ),
    Case(
        "middle_output_wins",
        "LangGraphScore.py add_edges (node output skips conditions)",
        score(
            classifier(
                "first",
                "    output:\n      first_answer: classification\n"
                "    conditions:\n      - value: 'No'\n        node: END\n",
            )
            + classifier("second"),
            output="output:\n  value: classification\n  explanation: first_answer\n",
        ),
        ["No", "Yes"],
    ),
    Case(
        "last_output_only",
        "LangGraphScore.py:680-694 (final node output value setter)",
        score(
            classifier("first")
            + classifier("second", "    output:\n      verdict: classification\n"),
            output="output:\n  value: verdict\n  explanation: explanation\n",
        ),
        ["No", "Yes"],
    ),
    Case(
        "input_mapping",
        f"{DOC} (node input)",
        score(
            classifier("first", "    output:\n      greeting: classification\n")
            + "  - name: second\n    class: Classifier\n    "
            + YN
            + "\n"
            "    input:\n      prior: greeting\n"
            '    user_message: "Prior {{prior}}. {{text}}"\n'
        ),
        ["Yes", "No"],
    ),
    Case(
        "input_mapping_text",
        f"{DOC} (input: text mapping; Plexus crashes)",
        score(
            "  - name: judge\n    class: Classifier\n    " + YN + "\n"
            "    input:\n      transcript: text\n"
            '    user_message: "{{transcript}}"\n'
        ),
        ["Yes"],
    ),
    Case(
        "final_condition_no_match",
        "LangGraphScore.py:503 (final node no match -> END)",
        score(
            classifier("first")
            + classifier(
                "second",
                "    conditions:\n      - value: 'Yes'\n        node: END\n        output:\n          value: 'Y2'\n",
            )
        ),
        ["Yes", "No"],
    ),
    Case(
        "condition_case_insensitive",
        f"{ROUTING_TEST} (case-insensitive)",
        score(
            classifier(
                "first",
                "    conditions:\n      - value: 'yes'\n        node: END\n        output:\n          value: 'Lower'\n",
            )
            + classifier("second")
        ),
        ["Yes"],
    ),
    Case(
        "condition_with_edge_fallback",
        "LangGraphScore.py:327-345 (edge fallback with output)",
        score(
            classifier(
                "first",
                "    conditions:\n      - value: 'Yes'\n        node: END\n        output:\n          value: 'Y'\n"
                "    edge:\n      node: third\n      output:\n        note: 'fallback'\n",
            )
            + classifier("second")
            + classifier("third"),
            output="output:\n  value: classification\n  explanation: note\n",
        ),
        ["No", "Yes"],
    ),
    Case(
        "three_nodes_linear",
        f"{DOC} (a chain of classifiers)",
        score(classifier("a") + classifier("b") + classifier("c")),
        ["Yes", "No", "Yes"],
    ),
    Case(
        "history_leak_between_classifiers",
        "Classifier.py:576,652,819 (history leaks to the next node)",
        score(classifier("first") + classifier("second")),
        ["maybe", "Yes", "unclear", "No"],
    ),
    # YesOrNoClassifier ------------------------------------------------------------------------
    Case(
        "yesorno_yes",
        "plexus/scores/nodes/YesOrNoClassifier.py",
        score(
            "  - name: yn\n    class: YesOrNoClassifier\n    system_message: Judge calls.\n"
            '    user_message: "Greeting? {{text}}"\n'
        ),
        ["Yes, the agent greeted."],
    ),
    Case(
        "yesorno_neither",
        "YesOrNoClassifier.py:97 (neither word)",
        score(
            '  - name: yn\n    class: YesOrNoClassifier\n    user_message: "Greeting? {{text}}"\n'
        ),
        ["Hard to say."],
    ),
    Case(
        "yesorno_explanation_message",
        "YesOrNoClassifier.py:123 (explanation_message)",
        score(
            "  - name: yn\n    class: YesOrNoClassifier\n    system_message: Judge calls.\n"
            '    user_message: "Greeting? {{text}}"\n    explanation_message: Explain why.\n'
        ),
        ["No", "Because there was no greeting."],
    ),
    Case(
        "yesorno_parse_from_start",
        "YesOrNoClassifier.py parse_from_start",
        score(
            '  - name: yn\n    class: YesOrNoClassifier\n    user_message: "Greeting? {{text}}"\n'
            "    parse_from_start: true\n"
        ),
        ["No, not yes"],
    ),
    # MultiClassClassifier ---------------------------------------------------------------------
    Case(
        "multiclass_basic",
        "plexus/scores/nodes/MultiClassClassifier.py",
        score(
            "  - name: mc\n    class: MultiClassClassifier\n    valid_classes: [Billing, Cancel, Other]\n"
            '    system_message: "Topic of {{metadata.kind}} calls."\n    user_message: "{{text}}"\n'
        ),
        ["Cancel"],
        metadata={"kind": "support"},
    ),
    Case(
        "multiclass_after_classifier",
        "MultiClassClassifier.py:158-160 (previous completion)",
        score(
            classifier("first")
            + "  - name: mc\n    class: MultiClassClassifier\n    valid_classes: [Billing, Cancel, Other]\n"
            '    system_message: Topic.\n    user_message: "{{text}}"\n'
        ),
        ["Yes", "Cancel"],
    ),
    Case(
        "multiclass_existing_completion_parses",
        "MultiClassClassifier.py:158-160 (no call)",
        score(
            classifier("first")
            + "  - name: mc\n    class: MultiClassClassifier\n    valid_classes: [Billing, Cancel, Other]\n"
            '    system_message: Topic.\n    user_message: "{{text}}"\n'
        ),
        ["Cancel? Yes"],
    ),
    Case(
        "multiclass_retries_exhausted",
        "MultiClassClassifier.py (Maximum retries reached)",
        score(
            "  - name: mc\n    class: MultiClassClassifier\n    valid_classes: [Billing, Cancel]\n"
            '    maximum_retry_count: 2\n    system_message: Topic.\n    user_message: "{{text}}"\n'
        ),
        ["none", "neither"],
    ),
    Case(
        "multiclass_fuzzy",
        "MultiClassClassifier.py fuzzy_match",
        score(
            "  - name: mc\n    class: MultiClassClassifier\n    valid_classes: [Billing, Cancellation, Other]\n"
            "    fuzzy_match: true\n    fuzzy_match_threshold: 0.7\n"
            '    system_message: Topic.\n    user_message: "{{text}}"\n'
        ),
        ["Cancelation"],
    ),
    Case(
        "multiclass_no_system",
        "MultiClassClassifier.py (no system message: IndexError)",
        score(
            "  - name: mc\n    class: MultiClassClassifier\n    valid_classes: [Billing, Cancel]\n"
            '    user_message: "{{text}}"\n'
        ),
        ["Cancel"],
    ),
    Case(
        "multiclass_explanation",
        "MultiClassClassifier.py explanation_message",
        score(
            "  - name: mc\n    class: MultiClassClassifier\n    valid_classes: [Billing, Cancel]\n"
            '    system_message: Topic.\n    user_message: "{{text}}"\n    explanation_message: Why?\n'
        ),
        ["Cancel", "They asked to cancel."],
    ),
    # LogicalClassifier / LogicalNode ----------------------------------------------------------
    Case(
        "logical_explanation_arg",
        "LogicalClassifier.py:123 (metadata['explanation'] only)",
        score(
            "  - name: lc\n    class: LogicalClassifier\n    code: |\n"
            "      def score(parameters: Score.Parameters, input: Score.Input) -> Score.Result:\n"
            "          return Score.Result(parameters=parameters, value='Yes', explanation='from arg')\n"
        ),
        [],
    ),
    Case(
        "logical_metadata_explanation",
        f"{DOC} (LogicalClassifier)",
        score(
            "  - name: lc\n    class: LogicalClassifier\n    code: |\n"
            "      def score(parameters: Score.Parameters, input: Score.Input) -> Score.Result:\n"
            "          v = 'Yes' if 'cancel' in input.text else 'No'\n"
            "          return Score.Result(parameters=parameters, value=v, metadata={'explanation': 'keyword'})\n"
        ),
        [],
    ),
    Case(
        "logical_after_classifier",
        "README example (Classifier then LogicalClassifier)",
        score(
            classifier("first", "    output:\n      kind: classification\n      why: explanation\n")
            + "  - name: lc\n    class: LogicalClassifier\n    code: |\n"
            "      def score(parameters: Score.Parameters, input: Score.Input) -> Score.Result:\n"
            "          kind = input.metadata.get('kind', 'None')\n"
            "          return Score.Result(parameters=parameters, value='Yes' if kind == 'No' else 'No',\n"
            "                              metadata={'explanation': input.metadata.get('why')})\n"
        ),
        ["No"],
    ),
    Case(
        "logical_first_then_classifier",
        "get_token_usage:881-887 (LogicalNode first)",
        score(
            "  - name: gate\n    class: LogicalNode\n    code: |\n"
            "      def execute(state):\n          return {'gate': 'open'}\n"
            "    output_mapping:\n      gate_state: gate\n" + classifier("judge")
        ),
        ["Yes"],
    ),
    Case(
        "logicalnode_output_mapping",
        "plexus/scores/nodes/LogicalNode.py output_mapping",
        score(
            "  - name: ln\n    class: LogicalNode\n    code: |\n"
            "      def execute(state):\n          return {'c': 'Yes', 'e': 'computed'}\n"
            "    output_mapping:\n      classification: c\n      explanation: e\n"
        ),
        [],
    ),
    Case(
        "logicalnode_raises",
        "LogicalNode.py:82-84 (exception logged, graph goes on)",
        score(
            "  - name: ln\n    class: LogicalNode\n    code: |\n"
            "      def execute(state):\n          raise ValueError('boom')\n" + classifier("judge")
        ),
        ["Yes"],
    ),
    Case(
        "logicalnode_function_name",
        "LogicalNode.py function_name",
        score(
            "  - name: ln\n    class: LogicalNode\n    function_name: decide\n    code: |\n"
            "      def decide(state):\n          return {'classification': 'No', 'explanation': 'by decide'}\n"
            "    output_mapping:\n      classification: classification\n      explanation: explanation\n"
        ),
        [],
    ),
    Case(
        "logical_raises",
        "LogicalClassifier.py (code raises)",
        score(
            "  - name: lc\n    class: LogicalClassifier\n    code: |\n"
            "      def score(parameters: Score.Parameters, input: Score.Input) -> Score.Result:\n"
            "          raise RuntimeError('bad')\n"
        ),
        [],
    ),
    # Generator / Extractor --------------------------------------------------------------------
    Case(
        "generator_basic",
        "Generator.py:143,418 (explanation cleared)",
        score(
            '  - name: gen\n    class: Generator\n    user_message: "Summarize: {{text}}"\n',
            output="output:\n  value: completion\n  explanation: explanation\n",
        ),
        ["A cancellation call."],
    ),
    Case(
        "generator_then_classifier",
        f"{DOC} (Generator then Classifier)",
        score(
            '  - name: gen\n    class: Generator\n    user_message: "Summarize: {{text}}"\n'
            + classifier("judge").replace(
                "Did the agent greet the caller? {{text}}", "Summary: {{completion}}"
            )
        ),
        ["Summary here.", "No"],
    ),
    Case(
        "extractor_basic",
        "plexus/scores/nodes/Extractor.py",
        score(
            '  - name: ex\n    class: Extractor\n    user_message: "Quote the request: {{text}}"\n',
            output="output:\n  value: extracted_text\n  explanation: explanation\n",
        ),
        ["I want to cancel my order."],
    ),
    Case(
        "extractor_trust",
        "Extractor.py trust_model_output",
        score(
            '  - name: ex\n    class: Extractor\n    trust_model_output: true\n    user_message: "Quote: {{text}}"\n',
            output="output:\n  value: extracted_text\n  explanation: explanation\n",
        ),
        ["something not in text"],
    ),
    Case(
        "extractor_exact",
        "Extractor.py use_exact_matching",
        score(
            '  - name: ex\n    class: Extractor\n    use_exact_matching: true\n    user_message: "Quote: {{text}}"\n',
            output="output:\n  value: extracted_text\n  explanation: explanation\n",
        ),
        ["cancel my order"],
    ),
    # FuzzyMatchClassifier / BeforeAfterSlicer -------------------------------------------------
    Case(
        "fuzzy_match_or",
        "plexus/scores/nodes/FuzzyMatchClassifier_test.py (or group)",
        score(
            "  - name: fz\n    class: FuzzyMatchClassifier\n    data_paths: ['metadata.school']\n"
            "    targets:\n      operator: or\n      items:\n"
            "        - {target: 'Colorado Technical University', threshold: 80}\n"
            "        - {target: 'Other School', threshold: 80}\n"
            "    classification_mapping:\n      'Colorado Technical University': CTU\n"
            "    default_classification: None\n"
        ),
        [],
        metadata={"school": "Colorado Technical University"},
    ),
    Case(
        "fuzzy_match_default",
        "FuzzyMatchClassifier.py default_classification",
        score(
            "  - name: fz\n    class: FuzzyMatchClassifier\n    data_paths: ['metadata.school']\n"
            "    targets:\n      target: 'Colorado Technical University'\n      threshold: 90\n"
            "    default_classification: Other\n"
        ),
        [],
        metadata={"school": "Nowhere"},
    ),
    Case(
        "fuzzy_match_and",
        "FuzzyMatchClassifier_test.py (and group)",
        score(
            "  - name: fz\n    class: FuzzyMatchClassifier\n    data_paths: ['text']\n"
            "    targets:\n      operator: and\n      items:\n"
            "        - {target: 'cancel', threshold: 90, scorer: partial_ratio}\n"
            "        - {target: 'order', threshold: 90, scorer: partial_ratio}\n"
        ),
        [],
    ),
    Case(
        "before_after_slicer",
        "plexus/scores/nodes/BeforeAfterSlicer.py",
        score(
            '  - name: slice\n    class: BeforeAfterSlicer\n    user_message: "Quote where the customer speaks: {{text}}"\n'
            + classifier("judge").replace(
                "Did the agent greet the caller? {{text}}", "After: {{after}}"
            )
        ),
        ["Customer: I want to cancel my order.", "Yes"],
    ),
    # Score-level options ----------------------------------------------------------------------
    Case(
        "validation_pass",
        "Score.py:329-343 (parameters.validation)",
        score(
            classifier(),
            head=HEAD + "parameters:\n  validation:\n    value:\n      valid_classes: ['Yes']\n",
        ),
        ["Yes"],
    ),
    Case(
        "validation_fail",
        "Score.py:329-343 (validation never runs)",
        score(
            classifier(),
            head=HEAD + "parameters:\n  validation:\n    value:\n      valid_classes: ['Yes']\n",
        ),
        ["No"],
    ),
    Case(
        "azure_default_provider",
        "LangChainUser.Parameters (AzureChatOpenAI default)",
        score(
            classifier(), head="name: Parity\nclass: LangGraphScore\nmodel_name: my-deployment\n"
        ),
        ["Yes"],
    ),
    Case(
        "output_literal",
        f"{DOC} (score output literal)",
        score(
            classifier(), output="output:\n  value: classification\n  explanation: 'fixed text'\n"
        ),
        ["No"],
    ),
    Case(
        "output_missing_field",
        "LangGraphScore.py generate_output_aliasing_function (None)",
        score(
            classifier(), output="output:\n  value: classification\n  explanation: nothing_here\n"
        ),
        ["No"],
    ),
    Case(
        "score_reasoning_effort_gpt4o",
        "LangChainUser.py (reasoning_effort ignored off o/gpt-5)",
        score(classifier(), head=HEAD + "reasoning_effort: high\n"),
        ["Yes"],
    ),
]


CASES.extend(DOC_CASES)
CASES.extend(BRANCH_CASES)
CASES.extend(BRANCH_CASES_2)


def by_id() -> dict[str, Case]:
    out: dict[str, Case] = {}
    for case in CASES:
        if case.id in out:
            raise ValueError(f"two cases are named {case.id}")
        out[case.id] = case
    return out


def dependency_configs(case: Case) -> list[dict[str, Any]]:
    from ruamel.yaml import YAML

    return [YAML(typ="safe", pure=True).load(text) for text in case.dependencies]


def node_names(case: Case) -> list[str]:
    """The graph's own node names, read from the YAML (the path compares only these)."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe", pure=True).load(case.config)
    return [str(n.get("name")) for n in data.get("graph") or [] if isinstance(n, dict)]
