"""Cases chosen by the real engine's branches (`python -m parity refresh --coverage`): each
reaches branches of Plexus's LangGraphScore, node classes or TactusScore that the documented
and hand-written cases leave unreached. `source` names the function of the real code."""

from __future__ import annotations

import json

from parity.case import HEAD, Case

YN = "valid_classes: ['Yes', 'No']"
OUT = "output:\n  value: classification\n  explanation: explanation\n"
SCHOOLS = {
    "schools": [
        {"school_id": "Colorado Technical Univ", "modality": "Online"},
        {"name": "no id here"},
        "a plain string",
    ],
}


def g(body: str, output: str = OUT, head: str = HEAD) -> str:
    return head + "graph:\n" + body + output


def clf(name: str, extra: str = "", prompt: str = "Greeting? {{text}}") -> str:
    return (
        f'  - name: {name}\n    class: Classifier\n    {YN}\n    user_message: "{prompt}"\n' + extra
    )


def fuzzy(paths: str, targets: str, extra: str = "") -> str:
    return (
        f"  - name: fz\n    class: FuzzyMatchClassifier\n    data_paths: {paths}\n"
        f"    targets:\n{targets}" + extra
    )


def logical_node(code: str, extra: str = "") -> str:
    body = "".join(f"      {line}\n" for line in code.splitlines())
    return f"  - name: ln\n    class: LogicalNode\n    code: |\n{body}" + extra


TACTUS = "name: Tactus Branches\nclass: TactusScore\nvalid_classes: ['Yes', 'No']\n"


def procedure(body: str, key: str = "code") -> str:
    lines = "".join(f"  {line}\n" for line in body.splitlines())
    return TACTUS + f"{key}: |-\n{lines}"


BEDROCK = HEAD.replace("ChatOpenAI", "BedrockChat").replace(
    "gpt-4o-mini", "anthropic.claude-3-haiku-20240307-v1:0"
)

BRANCH_CASES: list[Case] = [
    # BedrockChat: the InvokeModel body boto3 sends (LangChainUser.py, ChatBedrock) ----------
    Case(
        "bedrock_claude",
        "LangChainUser.py _initialize_model (BedrockChat: ChatBedrock)",
        g(
            "  - name: judge\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
            "    system_message: You review call transcripts.\n"
            '    user_message: "Greeting? {{text}}"\n',
            head=BEDROCK,
        ),
        ["Yes"],
    ),
    Case(
        "bedrock_claude_retry_region",
        "LangChainUser.py (BedrockChat in model_region, a retry conversation)",
        g(clf("judge"), head=BEDROCK + "model_region: us-west-2\ntemperature: 0.3\n"),
        ["maybe", "No"],
    ),
    # Generator.py: retries, the retry conversation, giving up ---------------------------------
    Case(
        "generator_empty_then_text",
        "Generator.py prepare_retry / should_retry",
        g(
            '  - name: gen\n    class: Generator\n    user_message: "Summarize: {{text}}"\n',
            output="output:\n  value: completion\n  explanation: explanation\n",
        ),
        ["", "A cancellation."],
    ),
    Case(
        "generator_exhausted",
        "Generator.py handle_max_retries",
        g(
            '  - name: gen\n    class: Generator\n    user_message: "Summarize: {{text}}"\n',
            output="output:\n  value: completion\n  explanation: explanation\n",
        ),
        ["", ""],
    ),
    Case(
        "classifier_retry_then_generator",
        "Generator.py llm_request (chat history left by a Classifier)",
        g(
            clf("first")
            + '  - name: gen\n    class: Generator\n    user_message: "Summarize: {{text}}"\n',
            output="output:\n  value: classification\n  explanation: completion\n",
        ),
        ["maybe", "Yes", "Summary."],
    ),
    Case(
        "classifier_retries_then_classifier_exhausted",
        "Classifier.py should_retry (count carried over reaches the maximum)",
        g(
            clf("first", "    maximum_retry_count: 2\n")
            + clf("second", "    maximum_retry_count: 2\n")
        ),
        ["maybe", "Yes", "unsure", "No"],
    ),
    # Routing: LangGraphScore.add_edges, final routing, value setters -----------------------------
    Case(
        "final_conditions_edge_output",
        "LangGraphScore.add_edges (final node: conditions and an edge with output)",
        g(
            clf("first")
            + clf(
                "second",
                "    conditions:\n      - value: 'Yes'\n        node: END\n        output:\n          value: 'Y'\n"
                "    edge:\n      node: END\n      output:\n        explanation: 'edge fallback'\n",
            )
        ),
        ["Yes", "No"],
    ),
    Case(
        "final_conditions_edge_no_output",
        "LangGraphScore.add_edges (final node: conditions and an edge without output)",
        g(
            clf("first")
            + clf(
                "second",
                "    conditions:\n      - value: 'Yes'\n        node: END\n        output:\n          value: 'Y'\n"
                "    edge:\n      node: END\n",
            )
        ),
        ["Yes", "No"],
    ),
    Case(
        "final_condition_to_first_node",
        "LangGraphScore.add_edges (final node condition routes back to a node)",
        g(
            clf("first", "    edge:\n      node: second\n")
            + clf("second", "    conditions:\n      - value: 'Maybe'\n        node: first\n")
        ),
        ["Yes", "No"],
    ),
    Case(
        "condition_edge_no_output",
        "LangGraphScore.add_edges (conditions with an edge fallback without output)",
        g(
            clf(
                "first",
                "    conditions:\n      - value: 'Yes'\n        node: END\n        output:\n          value: 'Y'\n"
                "    edge:\n      node: third\n",
            )
            + clf("second")
            + clf("third")
        ),
        ["No", "Yes"],
    ),
    Case(
        "condition_edge_to_end_output",
        "LangGraphScore.add_edges (conditions with an edge fallback to END with output)",
        g(
            clf(
                "first",
                "    conditions:\n      - value: 'Yes'\n        node: second\n"
                "    edge:\n      node: END\n      output:\n        explanation: 'fell back'\n",
            )
            + clf("second")
        ),
        ["No"],
    ),
    Case(
        "middle_edge_to_end",
        "LangGraphScore.add_edges (middle node edge to END)",
        g(
            clf("first", "    edge:\n      node: END\n      output:\n        value: 'Stopped'\n")
            + clf("second")
        ),
        ["Yes"],
    ),
    Case(
        "conditions_not_a_list",
        "LangGraphScore.add_edges (conditions that are not a list)",
        g(clf("first", "    conditions:\n      value: 'Yes'\n      node: END\n") + clf("second")),
        ["Yes", "No"],
    ),
    Case(
        "condition_state_field_no_trace",
        "LangGraphScore output_aliasing (no trace: END condition on the current state)",
        g(
            '  - name: yn\n    class: YesOrNoClassifier\n    user_message: "Greeting? {{text}}"\n'
            "    conditions:\n      - value: 'yes'\n        node: END\n        output:\n          value: 'Greeted'\n"
            '  - name: yn2\n    class: YesOrNoClassifier\n    user_message: "Polite? {{text}}"\n'
        ),
        ["No", "Yes"],
    ),
    Case(
        "condition_legacy_preserved",
        "LangGraphScore output_aliasing (no trace: a value equal to an END condition's output)",
        g(
            '  - name: yn\n    class: YesOrNoClassifier\n    user_message: "Greeting? {{text}}"\n'
            "    conditions:\n      - value: 'no'\n        node: END\n        output:\n          value: 'yes'\n"
            '  - name: yn2\n    class: YesOrNoClassifier\n    user_message: "Polite? {{text}}"\n'
        ),
        ["Yes", "Yes"],
    ),
    Case(
        "output_none_defaults",
        "LangGraphScore output_aliasing (None field: value 'No', others '')",
        g(
            clf("first"),
            output="output:\n  value: completion_missing\n  explanation: reasoning\n  extra: reasoning\n",
        ),
        ["Yes"],
    ),
    # LogicalNode / LogicalClassifier -------------------------------------------------------------
    Case(
        "logicalnode_scalar_one_mapping",
        "LogicalNode.py execute_code (a scalar into the one output_mapping field)",
        g(
            logical_node(
                "def execute(context):\n    return 'Yes'",
                "    output_mapping:\n      classification: anything\n",
            )
        ),
        [],
    ),
    Case(
        "logicalnode_scalar_no_mapping",
        "LogicalNode.py execute_code (a scalar into `result`)",
        g(logical_node("def execute(context):\n    return 42")),
        [],
    ),
    Case(
        "logicalnode_mapping_missing_key",
        "LogicalNode.py execute_code (output_mapping key the result lacks)",
        g(
            logical_node(
                "def execute(context):\n    return {'c': 'Yes'}",
                "    output_mapping:\n      classification: c\n      explanation: missing\n",
            )
        ),
        [],
    ),
    Case(
        "logicalnode_input_mapping",
        "LogicalNode.py build_compiled_workflow (input aliasing)",
        g(
            clf("first", "    output:\n      greeting: classification\n")
            + logical_node(
                "def execute(context):\n    return {'classification': context['metadata'].get('prior')}",
                "    input:\n      prior: greeting\n",
            )
        ),
        ["Yes"],
    ),
    Case(
        "logical_classifier_no_explanation",
        "LogicalClassifier.py execute_score (no explanation in metadata)",
        g(
            "  - name: lc\n    class: LogicalClassifier\n    code: |\n"
            "      def score(parameters, input):\n"
            "          return Score.Result(parameters=parameters, value='No')\n"
        ),
        [],
    ),
    Case(
        "logical_classifier_returns_none",
        "LogicalClassifier.py execute_score (the function returns None)",
        g(
            "  - name: lc\n    class: LogicalClassifier\n    code: |\n"
            "      def score(parameters, input):\n          return None\n" + clf("after")
        ),
        ["Yes"],
    ),
    # FuzzyMatchClassifier._extract_values_from_path -------------------------------------------
    Case(
        "fuzzy_array_paths",
        "FuzzyMatchClassifier.py _extract_values_from_path (array items, missing keys)",
        g(
            fuzzy(
                "['metadata.schools[].school_id']",
                "      target: 'Colorado Technical University'\n      threshold: 80\n      scorer: token_set_ratio\n",
            )
        ),
        [],
        metadata=SCHOOLS,
    ),
    Case(
        "fuzzy_index_path",
        "FuzzyMatchClassifier.py _extract_values_from_path (index, out of range, bad index)",
        g(
            fuzzy(
                "['metadata.schools[5].school_id', 'metadata.schools[x].school_id', 'metadata.schools[0].school_id']",
                "      target: 'Colorado Technical'\n      threshold: 70\n      scorer: token_sort_ratio\n",
            )
        ),
        [],
        metadata=SCHOOLS,
    ),
    Case(
        "fuzzy_whole_array_and_missing",
        "FuzzyMatchClassifier.py _extract_values_from_path (array of strings, missing field)",
        g(
            fuzzy(
                "['metadata.tags[]', 'metadata.absent', 'metadata.absent[]']",
                "      operator: and\n      items:\n        - {target: 'billing', threshold: 90, scorer: ratio}\n"
                "        - {target: 'refund', threshold: 90, scorer: ratio}\n",
            )
        ),
        [],
        metadata={"tags": ["billing", "refunds", "other"]},
    ),
    Case(
        "fuzzy_no_values",
        "FuzzyMatchClassifier.py classifier_node (no values at the paths)",
        g(
            fuzzy(
                "['metadata.nothing']",
                "      target: 'x'\n      threshold: 50\n",
                "    default_classification: Unknown\n",
            )
        ),
        [],
    ),
    # Extractor / BeforeAfterSlicer / MultiClass --------------------------------------------------
    Case(
        "extractor_not_found",
        "Extractor.py ExtractionOutputParser.parse (quote not in the text)",
        g(
            '  - name: ex\n    class: Extractor\n    user_message: "Quote: {{text}}"\n',
            output="output:\n  value: extracted_text\n  explanation: explanation\n",
        ),
        ["Zebras dance at noon on Mars"],
    ),
    Case(
        "extractor_exact_not_found",
        "Extractor.py parse (exact matching, no match)",
        g(
            '  - name: ex\n    class: Extractor\n    use_exact_matching: true\n    user_message: "Quote: {{text}}"\n',
            output="output:\n  value: extracted_text\n  explanation: explanation\n",
        ),
        ["cancel the order"],
    ),
    Case(
        "slicer_quote_not_found",
        "BeforeAfterSlicer.py SlicingOutputParser.parse (quote not found)",
        g(
            '  - name: slice\n    class: BeforeAfterSlicer\n    user_message: "Quote: {{text}}"\n'
            "    output:\n      before_quote: before\n      after_quote: after\n",
            output="output:\n  value: after_quote\n  explanation: before_quote\n",
        ),
        ["Nothing like this was said."],
    ),
    Case(
        "multiclass_parse_from_start_lines",
        "MultiClassClassifier.py ClassificationOutputParser.parse (several lines)",
        g(
            "  - name: mc\n    class: MultiClassClassifier\n    valid_classes: [Billing, Cancel, Other]\n"
            '    parse_from_start: true\n    system_message: Topic.\n    user_message: "{{text}}"\n'
        ),
        ["Reasoning first.\nCancel, then Billing"],
    ),
    # TactusScore -------------------------------------------------------------------------------
    Case(
        "tactus_metadata_json_strings",
        "TactusScore.py _parse_metadata_json_strings",
        procedure(
            "Procedure {\n"
            "  input = { text = field.string{}, metadata = field.object{} },\n"
            "  output = { value = field.string{required = true}, explanation = field.string{}, confidence = field.string{} },\n"
            "  run = function(input)\n"
            "    local m = input.metadata\n"
            "    return { value = m.schools[1].name, explanation = m.other_data.kind .. '/' .. m.metadata.k .. '/' .. m.broken, confidence = 'high' }\n"
            "  end\n"
            "}"
        ),
        [],
        metadata={
            "schools": json.dumps([{"name": "Yes"}]),
            "other_data": json.dumps({"kind": "k1"}),
            "metadata": json.dumps({"k": "v"}),
            "broken": "{not json",
        },
    ),
    Case(
        "tactus_metadata_already_parsed",
        "TactusScore.py _parse_metadata_json_strings (dicts and lists kept, bad JSON kept)",
        procedure(
            "Procedure {\n"
            "  input = { text = field.string{}, metadata = field.object{} },\n"
            "  output = { value = field.string{required = true}, explanation = field.string{} },\n"
            "  run = function(input)\n"
            "    local m = input.metadata\n"
            "    return { value = m.schools[1].name, explanation = m.metadata.k .. '/' .. m.other_data }\n"
            "  end\n"
            "}"
        ),
        [],
        metadata={"metadata": {"k": "v"}, "schools": [{"name": "No"}], "other_data": "{bad"},
    ),
    Case(
        "tactus_metadata_bad_inner_json",
        "TactusScore.py _parse_metadata_json_strings (metadata.metadata not JSON)",
        procedure(
            "Procedure {\n"
            "  input = { text = field.string{}, metadata = field.object{} },\n"
            "  output = { value = field.string{required = true}, explanation = field.string{} },\n"
            "  run = function(input)\n"
            "    return { value = 'Yes', explanation = input.metadata.metadata }\n"
            "  end\n"
            "}"
        ),
        [],
        metadata={"metadata": "{not json", "other_data": {"kind": "dict"}},
    ),
    Case(
        "tactus_code_fallback_and_confidence",
        "TactusScore.py Parameters.handle_tactus_code_fallback, _convert_confidence (number)",
        procedure(
            "Procedure {\n"
            "  output = { value = field.string{required = true}, confidence = field.number{} },\n"
            "  run = function(input) return { value = 'No', confidence = 1.7 } end\n"
            "}",
            key="tactus_code",
        ),
        [],
    ),
    Case(
        "tactus_confidence_labels",
        "TactusScore.py _convert_confidence (labels)",
        procedure(
            "Procedure {\n"
            "  output = { value = field.string{required = true}, confidence = field.string{} },\n"
            "  run = function(input) return { value = 'Yes', confidence = 'very low' } end\n"
            "}"
        ),
        [],
    ),
    Case(
        "tactus_confidence_unknown",
        "TactusScore.py _convert_confidence (an unknown label)",
        procedure(
            "Procedure {\n"
            "  output = { value = field.string{required = true}, confidence = field.string{} },\n"
            "  run = function(input) return { value = 'Yes', confidence = 'sort of' } end\n"
            "}"
        ),
        [],
    ),
    Case(
        "tactus_lua_error",
        "TactusScore.py predict (a failing procedure: ERROR)",
        procedure(
            "Procedure {\n"
            "  output = { value = field.string{required = true} },\n"
            "  run = function(input) error('no transcript section found') end\n"
            "}"
        ),
        [],
    ),
    Case(
        "tactus_no_value_key",
        "TactusScore.py predict (a mapping without value: ERROR)",
        procedure(
            "Procedure {\n"
            "  output = { label = field.string{required = true} },\n"
            "  run = function(input) return { label = 'Yes' } end\n"
            "}"
        ),
        [],
    ),
]
