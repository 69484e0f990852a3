"""Cases written from Plexus's score-authoring documentation, run as documented.

Each configuration is an example of `documentation/agent/score-authoring/score-yaml-format.md`,
the score-editing skill guides (`skills/*/SKILL.md`) or a node class's docstring at the 1.50.1
tag, completed only where the example leaves a placeholder (`# Node config...`, a prompt): the
routing, mappings and code are the document's. The model replies choose the route under test.
"""

from __future__ import annotations

from parity.case import HEAD, TEXT, Case

DOC = "documentation/agent/score-authoring/score-yaml-format.md"
SKILL = "skills/score-code-editor/SKILL.md"
SCHOOLS = {
    "schools": [
        {"school_id": "Colorado Technical University", "modality": "Online"},
        {"school_id": "American InterContinental University", "modality": "Campus"},
    ],
    "other_data": "none",
}


def g(body: str, head: str = HEAD, output: str = "") -> str:
    return head + "graph:\n" + body + output


VALUE_OUT = "output:\n  value: classification\n  explanation: explanation\n"

# "Combining Conditions and Edge Clauses": the document's node, with the two nodes it routes to.
COMBINED = g(
    "  - name: classifier_node\n    class: Classifier\n"
    "    valid_classes: ['Yes', 'No', 'Maybe']\n"
    '    user_message: "Was the call good? {{text}}"\n'
    "    conditions:\n"
    '      - value: "Yes"\n        node: END\n'
    '        output:\n          value: "Yes"\n          explanation: "None"\n'
    '      - value: "Maybe"\n        node: maybe_handler\n'
    '        output:\n          value: "Unclear"\n          explanation: "Needs review"\n'
    "    edge:\n      node: fallback_handler\n"
    "      output:\n        good_call: classification\n        good_call_explanation: explanation\n"
    "  - name: maybe_handler\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
    '    user_message: "Look again: was the call good? {{text}}"\n'
    "    edge:\n      node: END\n"
    "  - name: fallback_handler\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
    '    user_message: "Earlier: {{good_call}}. Was the agent polite? {{text}}"\n',
    output=VALUE_OUT,
)

# "Important: Conditions and Output Structure": the incorrect and the correct layout.
INCORRECT = g(
    "  - name: classifier_node\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
    '    user_message: "Was the call good? {{text}}"\n'
    "    output:\n      result: classification\n"
    '    conditions:\n      - value: "Yes"\n        node: next_node\n'
    "  - name: next_node\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
    '    user_message: "Result {{result}}. Polite? {{text}}"\n',
    output=VALUE_OUT,
)
CORRECT = g(
    "  - name: classifier_node\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
    '    user_message: "Was the call good? {{text}}"\n'
    "    conditions:\n"
    '      - value: "Yes"\n        node: next_node\n'
    "        output:\n          result: classification\n          reason: explanation\n"
    '      - value: "No"\n        node: END\n'
    "        output:\n          result: classification\n          reason: explanation\n"
    "  - name: next_node\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
    '    user_message: "Result {{result}}. Polite? {{text}}"\n',
    output="output:\n  value: classification\n  explanation: reason\n",
)

# "LangGraph Configuration": first_node, then second_node with an END condition.
LANGGRAPH_CONFIG = g(
    "  - name: first_node\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
    '    user_message: "Did the agent greet? {{text}}"\n'
    "  - name: second_node\n    class: YesOrNoClassifier\n"
    '    user_message: "Did the customer ask to cancel? {{text}}"\n'
    "    conditions:\n"
    '      - state: "classification"\n        value: "No"\n        node: "END"\n'
    '        output:\n          value: "NA"\n          explanation: "Reason for early termination"\n',
    output=VALUE_OUT,
)

LOGICALNODE_DOC = g(
    "  - name: extract\n    class: Extractor\n    trust_model_output: true\n"
    '    user_message: "Quote the important request: {{text}}"\n'
    "  - name: data_processor\n    class: LogicalNode\n    code: |\n"
    "      def process_data(context):\n"
    "          # Access data from previous nodes\n"
    "          state = context.get('state')\n"
    "          state_dict = state.model_dump() if state else {}\n"
    "          input_text = state_dict.get('extracted_text', '')\n"
    "\n"
    "          # Custom processing logic\n"
    "          return {\n"
    '              "word_count": len(input_text.split()),\n'
    "              \"has_keywords\": 'important' in input_text.lower()\n"
    "          }\n"
    "    function_name: process_data\n"
    "    output:  # Map function results to state fields\n"
    "      text_length: word_count\n      contains_keywords: has_keywords\n",
    output="output:\n  value: text_length\n  explanation: contains_keywords\n",
)

LOGICALNODE_PARSER = g(
    "  - name: extract\n    class: Extractor\n    trust_model_output: true\n"
    '    user_message: "Name the area of interest: {{text}}"\n'
    "  - name: parser\n    class: LogicalNode\n    code: |\n"
    "      def parse_response(context):\n"
    "          state_dict = context['state'].model_dump()\n"
    "          response = state_dict.get('extracted_text', '')\n"
    "\n"
    "          result = {}\n"
    "          for line in response.split('\\n'):\n"
    "              if line.startswith('Primary AOI:'):\n"
    "                  result['primary_aoi'] = line.replace('Primary AOI:', '').strip()\n"
    "          return result\n"
    "    function_name: parse_response\n"
    "    output:\n      area_of_interest: primary_aoi\n",
    output="output:\n  value: area_of_interest\n  explanation: extracted_text\n",
)

LOGICALNODE_RULES = g(
    "  - name: business_rules\n    class: LogicalNode\n    code: |\n"
    "      def apply_rules(context):\n"
    "          state_dict = context['state'].model_dump()\n"
    "          schools = state_dict.get('metadata', {}).get('schools', [])\n"
    "          has_campus = any(s.get('modality') == 'Campus' for s in schools)\n"
    '          return {"campus_program": has_campus}\n'
    "    function_name: apply_rules\n",
    output="output:\n  value: campus_program\n  explanation: explanation\n",
)

FAILURE_ANALYSIS = (
    "  - name: failure_analysis\n    class: Classifier\n    valid_classes:\n"
    '      - "Missing greeting"\n      - "Incorrect procedure"\n      - "Poor tone"\n'
    '      - "Multiple issues"\n      - "None"\n'
    "    system_message: |\n"
    '      Analyze what the agent did wrong. Choose the primary issue or "None" if they did everything correctly.\n'
    '      Do NOT think about whether this is a "Yes" or "No" - just identify the specific issue.\n'
    "    user_message: |\n      {{text}}\n"
    "  - name: final_decision\n    class: LogicalClassifier\n    code: |\n"
    "      def score(parameters: Score.Parameters, input: Score.Input) -> Score.Result:\n"
    "          failure_type = input.metadata.get('failure_analysis', 'None')\n"
    "\n"
    "          if failure_type == 'None':\n"
    '              value = "Yes"\n'
    '              explanation = "Agent followed all procedures correctly"\n'
    "          else:\n"
    '              value = "No"\n'
    '              explanation = f"Agent failed because: {failure_type}"\n'
    "\n"
    "          return Score.Result(\n"
    "              parameters=parameters,\n"
    "              value=value,\n"
    '              metadata={"explanation": explanation}\n'
    "          )\n"
)

MULTI_CHECK = (
    "  - name: greeting_check\n    class: Classifier\n"
    '    valid_classes: ["Present", "Missing"]\n'
    '    user_message: "Greeting present or missing? {{text}}"\n'
    "    output:\n      has_greeting: classification\n"
    "  - name: procedure_check\n    class: Classifier\n"
    '    valid_classes: ["Correct", "Incorrect"]\n'
    '    user_message: "Procedure correct? {{text}}"\n'
    "    output:\n      correct_procedure: classification\n"
    "  - name: tone_check\n    class: Classifier\n"
    '    valid_classes: ["Professional", "Unprofessional"]\n'
    '    user_message: "Tone? {{text}}"\n'
    "    output:\n      professional_tone: classification\n"
    "  - name: final_evaluation\n    class: LogicalClassifier\n    code: |\n"
    "      def score(parameters: Score.Parameters, input: Score.Input) -> Score.Result:\n"
    "          greeting = input.metadata.get('has_greeting', '')\n"
    "          procedure = input.metadata.get('correct_procedure', '')\n"
    "          tone = input.metadata.get('professional_tone', '')\n"
    "\n"
    "          failures = []\n"
    "          if greeting == 'Missing':\n"
    "              failures.append('missing greeting')\n"
    "          if procedure == 'Incorrect':\n"
    "              failures.append('incorrect procedure')\n"
    "          if tone == 'Unprofessional':\n"
    "              failures.append('unprofessional tone')\n"
    "\n"
    "          if not failures:\n"
    '              value = "Yes"\n'
    '              explanation = "Agent met all requirements"\n'
    "          else:\n"
    '              value = "No"\n'
    "              explanation = f\"Failed on: {', '.join(failures)}\"\n"
    "\n"
    "          return Score.Result(\n"
    "              parameters=parameters,\n"
    "              value=value,\n"
    '              metadata={"explanation": explanation}\n'
    "          )\n"
)

FUZZY_SCHOOLS = g(
    "  - name: school_matcher\n    class: FuzzyMatchClassifier\n"
    '    data_paths: ["metadata.schools[].school_id"]\n'
    "    targets:\n"
    '      operator: "or"\n      items:\n'
    '        - target: "American InterContinental University"\n          threshold: 80\n'
    '          scorer: "partial_ratio"\n'
    '        - target: "Colorado Technical University"\n          threshold: 80\n'
    '          scorer: "partial_ratio"\n'
    "    classification_mapping:\n"
    '      "American InterContinental University": "AIU"\n'
    '      "Colorado Technical University": "CTU"\n'
    '    default_classification: "Other"\n'
    "    output:\n      school_type: classification\n      match_details: explanation\n",
    output="output:\n  value: school_type\n  explanation: match_details\n",
)

TACTUS_HEAD = "name: Tactus Doc\nclass: TactusScore\nvalid_classes:\n  - 'Yes'\n  - 'No'\n"
TACTUS_CLASSIFY = (
    TACTUS_HEAD + "code: |-\n"
    '  default_model "openai/gpt-4o-mini"\n\n'
    "  ClassifyProcedure {\n"
    '    classes = {"Yes", "No"},\n'
    "    system_message = [[You review call transcripts.]],\n"
    "    user_message = [[Did the agent greet the caller? {{ text }}]]\n"
    "  }\n"
)

EDGE_ROUTING = 'name: Good Call\nclass: LangGraphScore\nmodel_provider: ChatOpenAI\nmodel_name: gpt-4o-mini\ngraph:\n  - name: customer_type_classifier\n    class: LogicalClassifier\n    code: |\n      def score(parameters: Score.Parameters, input: Score.Input) -> Score.Result:\n          revenue_only = input.metadata.get("customer_type") == "revenue only"\n          return Score.Result(\n              parameters=parameters,\n              value="Yes" if revenue_only else "No",\n              metadata={"explanation": f"customer type is {input.metadata.get(\'customer_type\')}"},\n          )\n    conditions:\n      - value: "Yes"\n        node: revenue_only_classifier\n        output:\n          value: classification\n          explanation: explanation\n      - value: "No"\n        node: END\n        output:\n          value: "NA"\n          explanation: "Not a revenue-only customer"\n  - name: revenue_only_classifier\n    class: Classifier\n    valid_classes: ["Yes", "No"]\n    system_message: You judge sales calls.\n    user_message: |\n      Was this a good call?\n\n      {{text}}\n    edge:\n      node: non_qualifying_reason_classifier_revonly\n      output:\n        good_call: classification\n        good_call_explanation: explanation\n  - name: non_qualifying_reason_classifier_revonly\n    class: Classifier\n    valid_classes: ["Price", "Timing", "None"]\n    system_message: You find why a call did not qualify.\n    user_message: |\n      The call was judged good: {{ good_call }}.\n      Why did the customer not qualify?\n\n      {{text}}\n    edge:\n      node: END\n      output:\n        non_qualifying_reason: classification\n        non_qualifying_explanation: explanation\noutput:\n  value: good_call\n  explanation: good_call_explanation\n'

# The class docstrings' examples, as written (LangGraphScore's uses a node format no class reads).
LANGGRAPH_DOCSTRING = (
    "class: LangGraphScore\nmodel_provider: AzureChatOpenAI\nmodel_name: gpt-4\ngraph:\n"
    "  - name: extract_context\n    type: prompt\n    template: Extract relevant context...\n"
    "    output: context\n"
    "  - name: classify\n    type: prompt\n    template: Based on the context...\n"
    "    input: context\n    output: classification\n"
    "  - name: validate\n    type: condition\n    input: classification\n    conditions:\n"
    "      - value: Yes\n        goto: explain_yes\n      - value: No\n        goto: explain_no\n"
)
TACTUS_DOCSTRING = (
    "class: TactusScore\ncode: |\n"
    '  default_model "openai/gpt-4o-mini"\n'
    "  ClassifyProcedure {\n"
    '    classes = {"YES", "NO"},\n'
    "    system_message = [[\n  Classification instructions...\n  ]],\n"
    "    user_message = [[\n  Analyze: <transcript>{{ text }}</transcript>\n  ]]\n"
    "  }\n"
)

DOC_CASES: list[Case] = [
    Case(
        "docstring_langgraphscore",
        "plexus/scores/LangGraphScore.py class docstring (its example graph)",
        LANGGRAPH_DOCSTRING,
        [],
    ),
    Case(
        "docstring_tactusscore",
        "plexus/scores/TactusScore.py class docstring (its example, default_model as the harness serves)",
        TACTUS_DOCSTRING,
        ["YES"],
    ),
    Case(
        "plexus_test_final_node_edge_to_end",
        "tests/test_langgraph_edge_configuration.py (test_final_node_edge_configuration_to_end)",
        EDGE_ROUTING,
        ["They bought. Yes", "Price"],
        text="Customer: deal",
        metadata={"customer_type": "revenue only"},
    ),
    Case(
        "condition_after_retry",
        "LangGraphScore.py output aliasing (a condition's node traced after a retry)",
        g(
            "  - name: first\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
            '    user_message: "Greeting? {{text}}"\n'
            "    conditions:\n      - value: 'Yes'\n        node: END\n"
            "        output:\n          value: 'Greeted'\n"
            "  - name: second\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
            '    user_message: "Polite? {{text}}"\n',
            output=VALUE_OUT,
        ),
        ["maybe", "Yes"],
    ),
    Case(
        "explanation_model_yesorno",
        "YesOrNoClassifier.py explanation_model",
        g(
            "  - name: yn\n    class: YesOrNoClassifier\n"
            '    user_message: "Greeting? {{text}}"\n    explanation_message: Explain why.\n'
            "    explanation_model:\n      model_provider: ChatOpenAI\n      model_name: gpt-4o\n",
            output=VALUE_OUT,
        ),
        ["Yes", "Because of the hello."],
    ),
    Case(
        "explanation_model_multiclass",
        "MultiClassClassifier.py explanation_model",
        g(
            "  - name: mc\n    class: MultiClassClassifier\n    valid_classes: [Billing, Cancel]\n"
            '    system_message: Topic.\n    user_message: "{{text}}"\n    explanation_message: Why?\n'
            "    explanation_model:\n      model_provider: ChatOpenAI\n      model_name: gpt-4o\n"
            "      temperature: 0.2\n",
            output=VALUE_OUT,
        ),
        ["Cancel", "They asked to cancel."],
    ),
    Case(
        "rejected_unknown_node_class",
        "LangGraphScore.py build_compiled_workflow (Could not import class)",
        g("  - name: judge\n    class: NoSuchClassifier\n    user_message: hi\n"),
        [],
    ),
    Case(
        "rejected_logical_without_code",
        "LogicalClassifier.Parameters (code required)",
        g("  - name: lc\n    class: LogicalClassifier\n"),
        [],
    ),
    Case(
        "rejected_tactus_without_code",
        "TactusScore.Parameters (code required)",
        "name: No Code\nclass: TactusScore\nvalid_classes: ['Yes', 'No']\n",
        [],
    ),
    Case(
        "rejected_classifier_without_classes",
        "Classifier.Parameters (valid_classes required)",
        g('  - name: judge\n    class: Classifier\n    user_message: "{{text}}"\n'),
        ["Yes"],
    ),
    Case(
        "doc_combined_yes_end",
        f"{DOC} (Combining Conditions and Edge Clauses: Yes -> END)",
        COMBINED,
        ["Yes"],
    ),
    Case(
        "doc_combined_maybe_handler",
        f"{DOC} (Combining Conditions and Edge Clauses: Maybe -> maybe_handler)",
        COMBINED,
        ["Maybe", "No"],
    ),
    Case(
        "doc_combined_fallback",
        f"{DOC} (Combining Conditions and Edge Clauses: No -> fallback_handler)",
        COMBINED,
        ["No", "Yes"],
    ),
    Case(
        "doc_output_conditions_incorrect_yes",
        f"{DOC} (the incorrect layout)",
        INCORRECT,
        ["Yes", "No"],
    ),
    Case(
        "doc_output_conditions_incorrect_no",
        f"{DOC} (the incorrect layout)",
        INCORRECT,
        ["No", "Yes"],
    ),
    Case(
        "doc_output_conditions_correct_yes", f"{DOC} (the correct layout)", CORRECT, ["Yes", "No"]
    ),
    Case("doc_output_conditions_correct_no", f"{DOC} (the correct layout)", CORRECT, ["No"]),
    Case(
        "doc_langgraph_config_end",
        f"{DOC} (LangGraph Configuration)",
        LANGGRAPH_CONFIG,
        ["Yes", "No"],
    ),
    Case(
        "doc_langgraph_config_yes",
        f"{DOC} (LangGraph Configuration)",
        LANGGRAPH_CONFIG,
        ["No", "Yes"],
    ),
    Case(
        "doc_tone_evaluator",
        f"{DOC} (Node Independence: good example with state)",
        g(
            "  - name: first\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
            '    user_message: "Compliant? {{text}}"\n'
            "  - name: tone_evaluator\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
            "    system_message: |\n"
            "      Evaluate the agent's tone during the conversation.\n"
            "      Previous classification: {{classification}}\n"
            "      Previous reasoning: {{explanation}}\n"
            "      \n"
            "      Based on this context, assess if the tone was appropriate...\n"
            '    user_message: "{{text}}"\n',
            output=VALUE_OUT,
        ),
        ["The script was followed.\nYes", "No"],
    ),
    Case(
        "doc_last_edge_end_no_output",
        f"{DOC} (edge to END on the last node, no output)",
        g(
            "  - name: first\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
            '    user_message: "Greeting? {{text}}"\n'
            "  - name: second\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
            '    user_message: "Polite? {{text}}"\n'
            "    edge:\n      node: END\n",
            output=VALUE_OUT,
        ),
        ["Yes", "No"],
    ),
    Case(
        "doc_binary_then_explanation",
        f"{DOC} (anti-pattern, run as written)",
        g(
            "  - name: binary_decision\n    class: Classifier\n"
            '    valid_classes: ["Yes", "No"]\n'
            "    user_message: |\n      Did the agent do the right thing? Answer Yes or No.\n"
            "  - name: explanation_classifier\n    class: Classifier\n"
            '    valid_classes: ["Missing greeting", "Wrong procedure", "Poor tone", "No issues"]\n'
            "    user_message: |\n"
            "      The previous answer was {{binary_decision}}.\n"
            '      {% if binary_decision == "No" %}\n'
            "      What specific thing did the agent do wrong?\n"
            "      {% else %}\n"
            '      Select "No issues" since the agent did well.\n'
            "      {% endif %}\n",
            output=VALUE_OUT,
        ),
        ["No", "Poor tone"],
    ),
    Case(
        "doc_failure_analysis_none",
        f"{DOC} (Reasoning-First with LogicalClassifier)",
        g(FAILURE_ANALYSIS),
        ["The agent did well.\nNone"],
    ),
    Case(
        "doc_failure_analysis_tone",
        f"{DOC} (Reasoning-First with LogicalClassifier)",
        g(FAILURE_ANALYSIS),
        ["Poor tone"],
    ),
    Case(
        "doc_reasoning_classifier",
        f"{DOC} (Chain-of-Thought with Explanation First)",
        g(
            "  - name: reasoning_classifier\n    class: Classifier\n"
            "    parse_from_start: false  # Parse answer from end\n"
            '    valid_classes: ["Yes", "No"]\n'
            "    system_message: |\n"
            "      First, think through your reasoning step by step.\n"
            "      Then provide your final answer as the last word.\n"
            "    user_message: |\n"
            "      Analyze the agent's performance. Explain your reasoning thoroughly,\n"
            '      then end with either "Yes" or "No".\n\n      {{text}}\n',
            output=VALUE_OUT,
        ),
        ["No greeting, but the request was handled. Yes"],
    ),
    Case(
        "doc_multi_check",
        f"{DOC} (Multi-Check Pattern)",
        g(MULTI_CHECK),
        ["Present", "Incorrect", "Professional"],
    ),
    Case(
        "doc_before_after_slicer",
        f"{DOC} (BeforeAfterSlicer Usage)",
        g(
            "  - name: slicer_node\n    class: BeforeAfterSlicer\n"
            "    system_message: |\n      Find where the customer states the request.\n"
            "    user_message: |\n      Quote the customer's request: {{text}}\n"
            "    output:\n      before_quote: before  # Text before the quote\n"
            "      after_quote: after    # Text after the quote\n",
            output="output:\n  value: after_quote\n  explanation: before_quote\n",
        ),
        ["I want to cancel my order."],
    ),
    Case(
        "doc_extractor",
        f"{DOC} (Extractor Usage)",
        g(
            "  - name: metadata_extractor\n    class: Extractor\n    trust_model_output: true\n"
            "    batch: false\n"
            "    system_message: |-\n      Your job is to extract XYZ from the transcript\n"
            "    user_message: |-\n      {{text}}\n"
            "    output:\n      extracted_text: extracted_text\n",
            output="output:\n  value: extracted_text\n  explanation: explanation\n",
        ),
        ["cancel my order"],
    ),
    Case(
        "doc_extractor_then_classifier",
        f"{DOC} (Classifier vs Extractor: two-step pattern)",
        g(
            "  - name: dosage_evidence_extractor\n    class: Extractor\n    trust_model_output: true\n"
            "    system_message: |-\n      Extract only the dosage evidence needed for the final decision.\n"
            "    user_message: |-\n      {{text}}\n"
            "    output:\n      dosage_evidence: extracted_text\n"
            "  - name: check_dosage_verification\n    class: Classifier\n"
            "    valid_classes:\n      - Yes\n      - No\n"
            "    user_message: |-\n      Transcript:\n      {{text}}\n\n"
            "      Extracted dosage evidence:\n      {{dosage_evidence}}\n",
            output=VALUE_OUT,
        ),
        ["10 mg twice a day", "Yes"],
    ),
    Case(
        "doc_logical_classifier_placeholder",
        f"{DOC} (LogicalClassifier Usage, `some_condition` undefined as written)",
        g(
            "  - name: decision_node\n    class: LogicalClassifier\n    code: |\n"
            "      def score(parameters: Score.Parameters, input: Score.Input) -> Score.Result:\n"
            "          # Access input values from metadata\n"
            "          value1 = input.metadata.get('field1', 'default')\n"
            "          value2 = input.metadata.get('field2', 'default')\n"
            "          \n"
            "          # Apply custom logic\n"
            '          result = "Yes" if some_condition else "No"\n'
            "          \n"
            "          return Score.Result(\n"
            "              parameters=parameters,\n"
            "              value=result,\n"
            "              metadata={\n"
            '                  "explanation": f"Decision based on {value1} and {value2}"\n'
            "              }\n"
            "          )\n"
        ),
        [],
    ),
    Case(
        "doc_logicalnode",
        f"{DOC} (LogicalNode Usage)",
        LOGICALNODE_DOC,
        ["important: cancel my order"],
    ),
    Case(
        "doc_logicalnode_parser",
        f"{DOC} (LogicalNode: text parsing)",
        LOGICALNODE_PARSER,
        ["Primary AOI: Nursing\nSecondary: none"],
    ),
    Case(
        "doc_logicalnode_business_rules",
        f"{DOC} (LogicalNode: business logic)",
        LOGICALNODE_RULES,
        [],
        metadata=SCHOOLS,
    ),
    Case(
        "doc_fuzzy_schools",
        f"{DOC} (FuzzyMatchClassifier Usage)",
        FUZZY_SCHOOLS,
        [],
        metadata=SCHOOLS,
    ),
    Case(
        "doc_message_template_schools",
        f"{DOC} (Message Templates)",
        g(
            "  - name: programs\n    class: Generator\n"
            '    user_message: "List a program for each school: {{text}}"\n'
            "    output:\n      program_names: completion\n"
            "  - name: judge\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
            "    user_message: |\n"
            "      {% for school in metadata.schools %}\n"
            "      School: {{school.school_id}}\n"
            "      - Program: {{program_names.split('\\n')[loop.index-1] | replace('Program: ', '')}}\n"
            "      {% endfor %}\n"
            "      Were these discussed? {{text}}\n",
            output=VALUE_OUT,
        ),
        ["Program: Nursing\nProgram: Business", "Yes"],
        metadata=SCHOOLS,
    ),
    Case(
        "doc_confidence",
        f"{DOC} (Confidence Scoring)",
        g(
            "  - name: confident_classifier\n    class: Classifier\n"
            "    enable_confidence: true    # Enable confidence scoring\n"
            "    parse_from_start: true     # Required for confidence mode\n"
            '    valid_classes: ["Yes", "No"]\n'
            '    user_message: "Greeting? {{text}}"\n',
            output=VALUE_OUT,
        ),
        ["Yes, the agent greeted."],
    ),
    Case(
        "doc_validation",
        f"{DOC} (Result Validation)",
        g(
            "  - name: judge\n    class: Classifier\n"
            '    valid_classes: ["Yes", "No", "NQ - Pricing", "NQ - Technical"]\n'
            '    user_message: "Qualified? {{text}}"\n',
            head=HEAD + "parameters:\n  validation:\n    value:\n"
            '      valid_classes: ["Yes", "No", "NQ - Pricing", "NQ - Technical"]\n'
            '      patterns: ["^(Yes|No)$", "^NQ - (?!Other$).*"]\n'
            "    explanation:\n      minimum_length: 10\n      maximum_length: 200\n"
            '      patterns: [".*evidence.*", ".*found.*"]\n',
            output=VALUE_OUT,
        ),
        ["NQ - Pricing"],
    ),
    Case(
        "doc_dependency_results_template",
        f"{DOC} (Dependencies Between Scores: results[...] in a prompt)",
        "name: Simple Dependent Score\nid: 56789\nclass: LangGraphScore\n"
        "model_provider: ChatOpenAI\nmodel_name: gpt-4o-mini\n"
        "depends_on:\n  - Previous Score\n"
        "graph:\n  - name: check_previous_result\n    class: YesOrNoClassifier\n"
        "    user_message: |\n"
        '      Previous result: {{results["Previous Score"].value}}\n'
        '      # Access results using {{results["Score Name"].value}}\n' + VALUE_OUT,
        ["Yes", "No"],
        dependencies=[
            g(
                "  - name: judge\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
                '    user_message: "Greeting? {{text}}"\n',
                head=HEAD.replace("name: Parity", "name: Previous Score"),
                output=VALUE_OUT,
            )
        ],
    ),
    # TactusScore: the skill guide's ClassifyProcedure, and procedures as its guide converts.
    Case("tactus_classify_yes", f"{SKILL} (ClassifyProcedure)", TACTUS_CLASSIFY, ["Yes"]),
    Case(
        "tactus_classify_retry",
        f"{SKILL} (ClassifyProcedure, a reply outside the classes)",
        TACTUS_CLASSIFY,
        ["Perhaps", "No"],
    ),
    Case(
        "tactus_returns_nothing",
        "plexus/scores/TactusScore.py predict (a result that is no mapping: str())",
        TACTUS_HEAD + "code: |-\n"
        "  Procedure {\n"
        "    input = { text = field.string{required = true} },\n"
        "    run = function(input)\n"
        "    end\n"
        "  }\n",
        [],
    ),
    Case(
        "tactus_procedure_value",
        f"{SKILL} (raw Procedure returning value and explanation)",
        TACTUS_HEAD + "code: |-\n"
        "  Procedure {\n"
        "    input = { text = field.string{required = true} },\n"
        "    output = { value = field.string{required = true}, explanation = field.string{} },\n"
        "    run = function(input)\n"
        '      if string.find(input.text, "cancel") then\n'
        '        return { value = "Yes", explanation = "asked to cancel" }\n'
        "      end\n"
        '      return { value = "No", explanation = "no cancel" }\n'
        "    end\n"
        "  }\n",
        [],
    ),
    Case(
        "tactus_depends_on_langgraph",
        "TactusScore.py _convert_results (depends_on a LangGraphScore)",
        TACTUS_HEAD + "depends_on:\n  - Previous Score\n" + "code: |-\n"
        "  Procedure {\n"
        "    input = { text = field.string{}, results = field.array{} },\n"
        "    output = { value = field.string{required = true}, explanation = field.string{} },\n"
        "    run = function(input)\n"
        "      local first = input.results[1]\n"
        '      return { value = first.value, explanation = "previous: " .. first.value }\n'
        "    end\n"
        "  }\n",
        ["No"],
        dependencies=[
            g(
                "  - name: judge\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
                '    user_message: "Greeting? {{text}}"\n',
                head=HEAD.replace("name: Parity", "name: Previous Score"),
                output=VALUE_OUT,
            )
        ],
    ),
    Case(
        "langgraph_depends_on_tactus",
        "LangGraphScore.predict results (depends_on a TactusScore)",
        "name: After Tactus\nclass: LangGraphScore\nmodel_provider: ChatOpenAI\nmodel_name: gpt-4o-mini\n"
        "depends_on:\n  - Tactus Doc\n"
        "graph:\n  - name: judge\n    class: Classifier\n    valid_classes: ['Yes', 'No']\n"
        '    user_message: "Tactus said {{results[\\"Tactus Doc\\"].value}}. Polite? {{text}}"\n'
        + VALUE_OUT,
        ["Yes", "No"],
        dependencies=[TACTUS_CLASSIFY],
    ),
]

_ = TEXT
