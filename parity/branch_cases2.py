"""More cases chosen by the real engine's branches (the 2026-12 refresh): each reaches
branches `python -m parity refresh --coverage` showed unreached after `branch_cases.py`.
`source` names the function of the real code."""

from __future__ import annotations

from parity.branch_cases import OUT, TACTUS, clf, fuzzy, g, logical_node, procedure
from parity.case import HEAD, Case

COMPLETION_OUT = "output:\n  value: completion\n  explanation: explanation\n"
EXTRACTED_OUT = "output:\n  value: extracted_text\n  explanation: explanation\n"


def gen(name: str, extra: str = "", prompt: str = "Summarize: {{text}}") -> str:
    return f'  - name: {name}\n    class: Generator\n    user_message: "{prompt}"\n' + extra


def extractor(extra: str = "") -> str:
    return '  - name: ex\n    class: Extractor\n    user_message: "Quote: {{text}}"\n' + extra


BRANCH_CASES_2: list[Case] = [
    # Score.py: `validation:` is checked on what predict returns: a coroutine here --------------
    Case(
        "validation_not_applied",
        "Score.py __getattribute__/_validate_prediction_result (an async predict)",
        g(clf("judge"), output=OUT + "validation:\n  value:\n    valid_classes: ['Yes']\n"),
        ["No"],
    ),
    # LangGraphScore: YAML Plexus rejects ------------------------------------------------------
    Case(
        "rejected_no_graph",
        "LangGraphScore.build_compiled_workflow (no graph)",
        HEAD + OUT,
        [],
    ),
    Case(
        "rejected_class_not_in_module",
        "LangGraphScore._import_class (a module of nodes/ without that class)",
        g("  - name: odd\n    class: __init__\n"),
        [],
    ),
    # Routing on a node whose classification is None -----------------------------------------
    Case(
        "conditions_on_generator_middle",
        "LangGraphScore.add_edges routing_function (classification None: fallback)",
        g(gen("gen", "    conditions:\n      - value: 'Yes'\n        node: END\n") + clf("judge")),
        ["A summary.", "No"],
    ),
    Case(
        "conditions_on_generator_last",
        "LangGraphScore.add_edges final routing_function (classification None)",
        g(
            gen(
                "gen",
                "    conditions:\n      - value: 'Yes'\n        node: END\n"
                "        output:\n          value: 'Y'\n",
            ),
            output=COMPLETION_OUT,
        ),
        ["A summary."],
    ),
    Case(
        "final_conditions_not_a_list",
        "LangGraphScore.add_edges (final node: conditions that are not a list)",
        g(clf("first") + clf("second", "    conditions:\n      value: 'Yes'\n      node: END\n")),
        ["No", "Yes"],
    ),
    Case(
        "condition_without_output",
        "LangGraphScore.create_combined_graphstate_class (a condition without output)",
        g(
            clf(
                "first",
                "    conditions:\n      - value: 'No'\n        node: END\n"
                "      - value: 'Yes'\n        node: second\n        output:\n          seen: 'y'\n",
            )
            + clf("second")
        ),
        ["Yes", "No"],
    ),
    # Extractor / BeforeAfterSlicer parse ------------------------------------------------------
    Case(
        "extractor_quote_prefix",
        "Extractor.py ExtractionOutputParser.parse (the `Quote:` prefix)",
        g(extractor(), output=EXTRACTED_OUT),
        ['Quote: "I want to cancel my order"'],
    ),
    Case(
        "extractor_no_clear_example",
        "Extractor.py parse (No clear example)",
        g(extractor(), output=EXTRACTED_OUT),
        ["No clear example of that in the call."],
    ),
    Case(
        "extractor_exact_no_fuzzy_match",
        "Extractor.py parse (exact matching, nothing close)",
        g(extractor("    use_exact_matching: true\n"), output=EXTRACTED_OUT),
        ["zzzz qqqq xxxx"],
    ),
    Case(
        "slicer_quote_prefix",
        "BeforeAfterSlicer.py SlicingOutputParser.parse (the `Quote:` prefix)",
        g(
            '  - name: slice\n    class: BeforeAfterSlicer\n    user_message: "Quote: {{text}}"\n'
            "    output:\n      before_quote: before\n      after_quote: after\n",
            output="output:\n  value: after_quote\n  explanation: before_quote\n",
        ),
        ['Quote: "thank you for calling"'],
    ),
    # FuzzyMatchClassifier._extract_values_from_path ----------------------------------------
    Case(
        "fuzzy_scalar_list_none_paths",
        "FuzzyMatchClassifier.py _extract_values_from_path (list, number, None, empty part)",
        g(
            fuzzy(
                "['metadata.tags', 'metadata.count', 'metadata.nothing', 'metadata..tags',"
                " 'metadata.missing[].x']",
                "      target: '42'\n      threshold: 90\n      scorer: ratio\n",
            )
        ),
        [],
        metadata={"tags": ["billing", "refund"], "count": 42, "nothing": None},
    ),
    # LogicalClassifier / LogicalNode -----------------------------------------------------------
    Case(
        "logical_classifier_metadata_fields",
        "LogicalClassifier.py execute_score (metadata fields besides explanation)",
        g(
            "  - name: lc\n    class: LogicalClassifier\n    code: |\n"
            "      def score(parameters, input):\n"
            "          return Score.Result(parameters=parameters, value='Yes',\n"
            "                              metadata={'explanation': 'rule', 'reason': 'r1'})\n",
            output="output:\n  value: classification\n  explanation: reason\n",
        ),
        [],
    ),
    Case(
        "logical_classifier_declared_metadata_field",
        "LogicalClassifier.py execute_score (a metadata key the graph declares)",
        g(
            clf("judge", "    output:\n      reason: classification\n")
            + "  - name: lc\n    class: LogicalClassifier\n    code: |\n"
            "      def score(parameters, input):\n"
            "          return Score.Result(parameters=parameters, value='No',\n"
            "                              metadata={'explanation': 'rule', 'reason': 'r1'})\n",
            output="output:\n  value: classification\n  explanation: reason\n",
        ),
        ["Yes"],
    ),
    Case(
        "rejected_logical_classifier_no_score",
        "LogicalClassifier.__init__ (code without a score function)",
        g(
            "  - name: lc\n    class: LogicalClassifier\n    code: |\n"
            "      def classify(parameters, input):\n          return None\n"
        ),
        [],
    ),
    Case(
        "rejected_logical_node_no_function",
        "LogicalNode.__init__ (code without the function)",
        g(logical_node("def run(context):\n    return {}")),
        [],
    ),
    Case(
        "logical_node_campaign_name",
        "LogicalNode.py execute_code (a campaign_name field)",
        g(
            logical_node(
                "def execute(context):\n"
                "    return {'campaign_name': 'Spring', 'classification': 'Yes'}"
            ),
            output="output:\n  value: classification\n  explanation: campaign_name\n",
        ),
        [],
    ),
    # MultiClassClassifier / YesOrNoClassifier ----------------------------------------------------
    Case(
        "multiclass_fuzzy_no_match",
        "MultiClassClassifier.py parse (fuzzy matching, nothing close)",
        g(
            "  - name: mc\n    class: MultiClassClassifier\n    valid_classes: [Billing, Cancel]\n"
            "    fuzzy_match: true\n    fuzzy_match_threshold: 0.9\n    system_message: Topic.\n"
            '    user_message: "{{text}}"\n'
        ),
        ["zq"] * 4,
    ),
    Case(
        "multiclass_fuzzy_empty",
        "MultiClassClassifier.py parse (fuzzy matching an empty answer)",
        g(
            "  - name: mc\n    class: MultiClassClassifier\n    valid_classes: [Billing, Cancel]\n"
            '    fuzzy_match: true\n    system_message: Topic.\n    user_message: "{{text}}"\n'
        ),
        [" "] * 4,
    ),
    Case(
        "yesorno_no_attempts",
        "YesOrNoClassifier.py run_chain (maximum_retry_count 0)",
        g(
            '  - name: yn\n    class: YesOrNoClassifier\n    user_message: "Greeting? {{text}}"\n'
            "    maximum_retry_count: 0\n"
        ),
        [],
    ),
    # Classifier / Generator ------------------------------------------------------------------
    Case(
        "classifier_empty_valid_classes",
        "Classifier.ClassificationOutputParser.__init__ (no valid classes: Yes and No)",
        g(
            '  - name: judge\n    class: Classifier\n    valid_classes: []\n    user_message: "{{text}}"\n'
        ),
        ["Yes"],
    ),
    Case(
        "classifier_capture_rendered_messages",
        "Classifier.py parse_completion (rendered messages captured)",
        g(clf("judge")),
        ["Yes"],
        metadata={"_plexus_capture_rendered_messages": True},
    ),
    Case(
        "generator_empty_message",
        "Generator.py llm_request (a message that renders empty)",
        g(gen("gen", prompt="{{ nothing }}"), output=COMPLETION_OUT),
        ["A summary."],
    ),
    Case(
        "classifier_retry_then_generator_retry",
        "Generator.py prepare_retry (a chat history left by a Classifier)",
        g(
            clf("judge") + gen("gen"),
            output="output:\n  value: classification\n  explanation: completion\n",
        ),
        ["maybe", "Yes", "", "Summary."],
    ),
    Case(
        "gpt_oss_nodes",
        "Classifier/Generator/Extractor llm_call (a gpt-oss model)",
        g(
            clf("judge") + gen("gen") + extractor(),
            head=HEAD.replace("gpt-4o-mini", "gpt-oss-120b"),
            output="output:\n  value: classification\n  explanation: extracted_text\n",
        ),
        # No tokens reported: litellm has no price for the bare name (Plexus's cost 0),
        # genai-prices has OpenAI's; the case is about the gpt-oss branches, not prices.
        [
            {"content": r, "prompt_tokens": 0, "completion_tokens": 0}
            for r in ("Yes", "Summary.", "thank you for calling")
        ],
    ),
    # TactusScore -------------------------------------------------------------------------------
    Case(
        "tactus_code_and_tactus_code",
        "TactusScore.py Parameters.handle_tactus_code_fallback (both keys: code wins)",
        TACTUS
        + "code: |-\n  Procedure {\n    output = { value = field.string{required = true} },\n"
        + "    run = function(input) return { value = 'Yes' } end\n  }\n"
        + "tactus_code: |-\n  Procedure {\n    output = { value = field.string{required = true} },\n"
        + "    run = function(input) return { value = 'No' } end\n  }\n",
        [],
    ),
    Case(
        "tactus_metadata_inner_not_text",
        "TactusScore.py _parse_metadata_json_strings (metadata.metadata a list; no metadata key)",
        procedure(
            "Procedure {\n"
            "  input = { text = field.string{}, metadata = field.object{} },\n"
            "  output = { value = field.string{required = true}, explanation = field.string{} },\n"
            "  run = function(input)\n"
            "    return { value = 'Yes', explanation = tostring(#input.metadata.metadata) }\n"
            "  end\n"
            "}"
        ),
        [],
        metadata={"metadata": ["a", "b"]},
    ),
    Case(
        "tactus_no_inner_metadata",
        "TactusScore.py _parse_metadata_json_strings (no metadata.metadata)",
        procedure(
            "Procedure {\n"
            "  input = { text = field.string{}, metadata = field.object{} },\n"
            "  output = { value = field.string{required = true}, explanation = field.string{} },\n"
            "  run = function(input) return { value = 'Yes', explanation = input.metadata.k } end\n"
            "}"
        ),
        [],
        metadata={"k": "plain"},
    ),
    Case(
        "tactus_confidence_boolean",
        "TactusScore.py _convert_confidence (neither a number nor text)",
        procedure(
            "Procedure {\n"
            "  output = { value = field.string{required = true}, confidence = field.object{} },\n"
            "  run = function(input) return { value = 'Yes', confidence = { level = 'high' } } end\n"
            "}"
        ),
        [],
    ),
]

HISTORY = (
    "def execute(context):\n"
    "    return {'chat_history': [\n"
    "        {'type': 'ai', 'content': 'Earlier answer.'},\n"
    "        {'type': 'System', 'content': 'Be brief.'},\n"
    "        {'type': 'human', 'content': '  '},\n"
    "        'a plain string',\n"
    "        {'type': 'human', 'content': 'Once more, please.'},\n"
    "    ]}"
)
CONDITION_Y = "    conditions:\n      - value: 'Yes'\n        node: END\n        output:\n          value: 'Y'\n"

BRANCH_CASES_2 += [
    # A conversation a LogicalNode writes into the state's chat_history -------------------------
    Case(
        "history_from_logical_node_classifier",
        "Classifier.py llm_request (chat history: ai, system, empty and non-dict turns)",
        g(logical_node(HISTORY) + clf("judge")),
        ["Yes"],
    ),
    Case(
        "history_from_logical_node_generator",
        "Generator.py llm_request (chat history: ai, system, empty and non-dict turns)",
        g(logical_node(HISTORY) + gen("gen"), output=COMPLETION_OUT),
        ["A summary."],
    ),
    Case(
        "history_unknown_turn_type",
        "Classifier.py llm_request (a chat history turn of another type)",
        g(
            logical_node(
                "def execute(context):\n"
                "    return {'chat_history': [{'type': 'tool', 'content': 'lookup result'}]}"
            )
            + clf("judge")
        ),
        ["Yes"],
    ),
    Case(
        "history_then_empty_system_classifier",
        "Classifier.py llm_request (a retry conversation after an empty prompt message)",
        g(
            logical_node(HISTORY)
            + "  - name: judge\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
            '    system_message: "{{ nothing }}"\n    user_message: "Greeting? {{text}}"\n'
        ),
        ["Yes"],
    ),
    Case(
        "history_then_empty_system_generator",
        "Generator.py llm_request (a retry conversation after an empty prompt message)",
        g(
            logical_node(HISTORY)
            + '  - name: gen\n    class: Generator\n    system_message: "{{ nothing }}"\n'
            '    user_message: "Summarize: {{text}}"\n',
            output=COMPLETION_OUT,
        ),
        ["A summary."],
    ),
    # Conditions on a LogicalNode: value setters on a state without a trace ----------------------
    Case(
        "logicalnode_condition_no_trace",
        "LangGraphScore.create_value_setter_node (a condition fires, metadata without trace)",
        g(
            logical_node("def execute(context):\n    return {'classification': 'Yes'}", CONDITION_Y)
            + clf("judge")
        ),
        [],
    ),
    Case(
        "logicalnode_condition_metadata_none",
        "LangGraphScore.create_value_setter_node (a condition fires, metadata None)",
        g(
            logical_node(
                "def execute(context):\n    return {'classification': 'Yes', 'metadata': None}",
                CONDITION_Y,
            )
            + clf("judge")
        ),
        [],
    ),
    Case(
        "logicalnode_metadata_none_then_classifier",
        "BaseNode.log_state (a state whose metadata is None)",
        g(logical_node("def execute(context):\n    return {'metadata': None}") + clf("judge")),
        ["No"],
    ),
    Case(
        "logicalnode_input_missing_field",
        "LangGraphScore.generate_input_aliasing_function (an input naming no state field)",
        g(
            logical_node(
                "def execute(context):\n"
                "    return {'classification': str(context['metadata'].get('prior'))}",
                "    input:\n      prior: no_such_field\n",
            )
        ),
        [],
    ),
    # Nodes Plexus cannot build or parse for --------------------------------------------------
    Case(
        "classifier_no_prompt",
        "BaseNode.get_prompt_templates (a Classifier without messages)",
        g("  - name: judge\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"),
        [],
    ),
    Case(
        "multiclass_empty_valid_classes",
        "MultiClassClassifier.py parse (no valid classes)",
        g(
            "  - name: mc\n    class: MultiClassClassifier\n    valid_classes: []\n"
            '    system_message: Topic.\n    user_message: "{{text}}"\n'
        ),
        ["Billing"],
    ),
]

# Scorecard: depends_on conditions, run through Plexus's own Scorecard dependency graph and
# condition check (real_engine._Scorecard) ----------------------------------------------------
DEP = g(clf("first"), head=HEAD.replace("name: Parity", "name: Dep"))
MID = g(
    clf("second"),
    head=HEAD.replace("name: Parity", "name: Mid")
    + "depends_on:\n  Dep:\n    operator: '=='\n    value: 'Yes'\n",
)


def dependent(depends_on: str) -> str:
    return g(clf("judge"), head=HEAD + depends_on)


BRANCH_CASES_2 += [
    Case(
        "depends_on_condition_not_met",
        "Scorecard.check_dependency_conditions (== fails: SKIPPED)",
        dependent("depends_on:\n  Dep:\n    operator: '=='\n    value: 'Yes'\n"),
        ["No"],
        dependencies=[DEP],
    ),
    Case(
        "depends_on_condition_any_case",
        "Scorecard.check_dependency_conditions (lower case, stripped)",
        dependent("depends_on:\n  Dep:\n    operator: '=='\n    value: ' yes '\n"),
        ["Yes", "No"],
        dependencies=[DEP],
    ),
    Case(
        "depends_on_bare_text",
        "Scorecard.build_dependency_graph (a bare text condition means ==)",
        dependent("depends_on:\n  Dep: 'No'\n"),
        ["Yes"],
        dependencies=[DEP],
    ),
    Case(
        "depends_on_in_list",
        "Scorecard.check_dependency_conditions (in)",
        dependent("depends_on:\n  Dep:\n    operator: in\n    value: [Maybe, 'No']\n"),
        ["No", "Yes"],
        dependencies=[DEP],
    ),
    Case(
        "depends_on_not_in",
        "Scorecard.check_dependency_conditions (not in, one value)",
        dependent("depends_on:\n  Dep:\n    operator: not in\n    value: 'No'\n"),
        ["No"],
        dependencies=[DEP],
    ),
    Case(
        "depends_on_unknown_operator",
        "Scorecard.check_dependency_conditions (an operator Plexus does not know)",
        dependent("depends_on:\n  Dep:\n    operator: '>='\n    value: 'No'\n"),
        ["No"],
        dependencies=[DEP],
    ),
    Case(
        "depends_on_skipped_dependency",
        "Scorecard process_score (a skipped dependency is not handed on)",
        g(
            "  - name: judge\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
            '    user_message: "Mid said {{ results }}. Greeting? {{text}}"\n',
            head=HEAD + "depends_on:\n  - Mid\n",
        ),
        ["No", "Yes"],
        dependencies=[DEP, MID],
    ),
    Case(
        "depends_on_condition_on_skipped",
        "Scorecard.check_dependency_conditions (a condition on a skipped score)",
        dependent("depends_on:\n  Mid:\n    operator: '=='\n    value: 'SKIPPED'\n"),
        ["No", "Yes"],
        dependencies=[DEP, MID],
    ),
    Case(
        "tactus_depends_on_condition_not_met",
        "Scorecard.check_dependency_conditions (a TactusScore skipped)",
        TACTUS
        + "depends_on:\n  Dep:\n    operator: '!='\n    value: 'no'\n"
        + "code: |-\n  Procedure {\n    output = { value = field.string{required = true} },\n"
        + "    run = function(input) return { value = 'Yes' } end\n  }\n",
        ["No"],
        dependencies=[DEP],
    ),
]

DEP2 = g(clf("other"), head=HEAD.replace("name: Parity", "name: Dep2"))

BRANCH_CASES_2 += [
    Case(
        "depends_on_two_conditions_hold",
        "Scorecard.check_dependency_conditions (!= and not in a list, both hold)",
        dependent(
            "depends_on:\n  Dep:\n    operator: '!='\n    value: 'Maybe'\n"
            "  Dep2:\n    operator: not in\n    value: [Maybe, Unsure]\n"
        ),
        ["Yes", "No", "Yes"],
        dependencies=[DEP, DEP2],
    ),
    Case(
        "depends_on_in_one_value_fails",
        "Scorecard.check_dependency_conditions (in, one value, not met)",
        dependent("depends_on:\n  Dep:\n    operator: in\n    value: 'Yes'\n"),
        ["No"],
        dependencies=[DEP],
    ),
]

MID_LIST = g(
    clf("second"), head=HEAD.replace("name: Parity", "name: Mid") + "depends_on:\n  - Dep\n"
)

BRANCH_CASES_2 += [
    Case(
        "tactus_depends_on_chain",
        "Scorecard process_score (a TactusScore is handed its own dependencies' results only)",
        TACTUS
        + "depends_on:\n  - Mid\n"
        + "code: |-\n  Procedure {\n"
        + "    input = { text = field.string{}, results = field.array{} },\n"
        + "    output = { value = field.string{required = true}, explanation = field.string{} },\n"
        + "    run = function(input)\n"
        + "      return { value = input.results[1].value, explanation = tostring(#input.results) }\n"
        + "    end\n  }\n",
        ["No", "Yes"],
        dependencies=[DEP, MID_LIST],
    ),
]

BRANCH_CASES_2 += [
    Case(
        "rejected_node_empty_name",
        "BaseNode.node_name (a node whose name is empty)",
        g(clf("''")),
        [],
    ),
    Case(
        "node_without_name",
        "LangGraphScore.build_compiled_workflow (a node without a name is left out)",
        g(
            "  - class: Classifier\n    valid_classes: ['Yes', 'No']\n"
            '    user_message: "Polite? {{text}}"\n' + clf("judge")
        ),
        ["Yes"],
    ),
    Case(
        "history_then_generator_retry",
        "Generator.py prepare_retry (a chat history in the state)",
        g(logical_node(HISTORY) + gen("gen"), output=COMPLETION_OUT),
        ["", "A summary."],
    ),
    Case(
        "fuzzy_index_missing_key",
        "FuzzyMatchClassifier.py _extract_values_from_path (an index into a missing key)",
        g(fuzzy("['metadata.missing[0].x', 'metadata.tags']", "      target: 'billing'\n")),
        [],
        metadata={"tags": ["billing"]},
    ),
]
