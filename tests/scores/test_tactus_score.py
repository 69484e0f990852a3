"""TactusScore through the real `tactus` runtime, against the test model server.

The runtime is imported once for the whole test process (tactus takes seconds to import);
each test builds its score from YAML as the worker does, and scores through score_item.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from plexus.core.errors import JobError, ScoreConfigError
from plexus.scores import parse_score_config
from plexus.scores.Score import Score
from plexus.scores.TactusScore import (
    TactusProcedureError,
    convert_confidence,
    parse_metadata,
)
from tests.scores.conftest import data, run_async, score_text

pytestmark = pytest.mark.slow

FIXTURES: dict[str, str] = {}


def fixture(name: str) -> str:
    if not FIXTURES:
        from ruamel.yaml import YAML

        FIXTURES.update(YAML(typ="safe").load(data("tactus_fixtures.yaml")))
    return FIXTURES[name]


def tactus(code: str, **fields: Any) -> Any:
    """A TactusScore from its YAML, as a score version holds it."""
    from ruamel.yaml import YAML
    from ruamel.yaml.compat import StringIO

    out = StringIO()
    YAML().dump({"name": "Tactus test", "class": "TactusScore", **fields, "code": code}, out)
    return parse_score_config(out.getvalue())


def classify_procedure(model: str, classes: str = '"Yes", "No"', user: str = "{{ text }}") -> str:
    return f"""
default_model "{model}"
ClassifyProcedure {{
  classes = {{{classes}}},
  system_message = [[You review calls. The final line is the class.]],
  user_message = [[{user}]]
}}
"""


# --- Plexus's own fixtures, on the real runtime (no model) --------------------------------


def test_basic_code_returns_value_and_explanation(scoring):
    result = score_text(tactus(fixture("basic_code")), scoring, "Sample transcript")
    assert (result.value, result.explanation, result.confidence) == (
        "Yes",
        "Test classification",
        None,
    )
    assert result.cost.llm_calls == 0 and result.cost.components == ()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("YES. The criteria were met.", "Yes"),
        ("NO. The criteria were not met.", "No"),
        ("NA. Insufficient information.", "NA"),
        ("Classification: YES after review", "Yes"),
        # Plexus's mocked test says NA; its Lua, run for real, finds "NO" in "NOT".
        ("NOT applicable in this case", "No"),
        ("Unclear outcome", "NA"),
    ],
)
def test_classification_parsing_in_lua(scoring, text, value):
    result = score_text(tactus(fixture("classification_parsing_code")), scoring, text)
    assert result.value == value


@pytest.mark.parametrize(
    ("entities", "value", "explanation"),
    [
        ([{"name": "A", "expected_result": "Yes"}] * 2, "Yes", "Evaluated 2 entities"),
        (
            [{"name": "A", "expected_result": "Yes"}, {"name": "B", "expected_result": "No"}],
            "No",
            "Evaluated 2 entities",
        ),
        ([], "NA", "No entities to evaluate"),
        (None, "NA", "No entities to evaluate"),
    ],
)
def test_multi_entity_aggregation_over_metadata(scoring, entities, value, explanation):
    metadata = {} if entities is None else {"entities": entities}
    score = tactus(fixture("multi_entity_aggregation_code"))
    result = score_text(score, scoring, "Transcript", metadata)
    # The output declares confidence (a string); Plexus maps "high" to 0.9.
    assert (result.value, result.explanation, result.confidence) == (value, explanation, 0.9)


@pytest.mark.parametrize(
    ("metadata", "value", "missing"),
    [
        ({"category": "Premium", "status": "Active"}, "Yes", []),
        ({"category": "Basic", "status": "Active"}, "NA", ["Category is 'Basic'"]),
        ({}, "NA", ["Category is 'nil'", "Status is 'nil'"]),
    ],
)
def test_prerequisite_checking_with_lua_globals_and_functions(scoring, metadata, value, missing):
    result = score_text(tactus(fixture("prerequisite_checking_code")), scoring, "x", metadata)
    assert result.value == value
    for text in missing:
        assert text in result.explanation


def test_plexus_real_runtime_tests(scoring):
    """TestRealTactusRuntime's cases, each with its assertions."""
    simple = tactus(fixture("test_simple_lua_logic_execution"))
    assert score_text(simple, scoring, "Hello world!").value == "Yes"
    assert score_text(simple, scoring, "Goodbye world!").value == "No"

    meta = tactus(fixture("test_metadata_access_in_lua"))
    assert score_text(meta, scoring, "Test").value == "NA"
    found = score_text(meta, scoring, "Test", {"entities": [{"name": "A", "category": "Premium"}]})
    assert (found.value, found.explanation) == ("Yes", "Found 1 premium entities")
    other = score_text(meta, scoring, "Test", {"entities": [{"name": "B", "category": "Basic"}]})
    assert other.value == "No"

    agg = tactus(fixture("test_multi_entity_aggregation_logic"))
    both = [{"name": "A", "status": "approved"}, {"name": "B", "status": "approved"}]
    assert score_text(agg, scoring, "Test", {"entities": both}).value == "Yes"
    one_no = [{"name": "A", "status": "approved"}, {"name": "B", "status": "rejected"}]
    rejected = score_text(agg, scoring, "Test", {"entities": one_no})
    assert (rejected.value, rejected.explanation) == ("No", "A: Yes; B: No")

    prereq = tactus(fixture("test_prerequisite_checking_pattern"))
    unmet = score_text(prereq, scoring, "approved", {"category": "Basic", "status": "inactive"})
    assert unmet.value == "NA" and "Prerequisites not met" in unmet.explanation
    met = score_text(
        prereq, scoring, "This request is approved", {"category": "Premium", "status": "active"}
    )
    assert met.value == "Yes"

    confident = score_text(tactus(fixture("test_confidence_output_handling")), scoring, "Test")
    assert (confident.value, confident.confidence) == ("Yes", 0.9)


def test_value_outside_valid_classes_is_kept_and_undeclared_outputs_dropped(scoring, caplog):
    score = tactus(fixture("test_valid_classes_validation"), valid_classes=["Yes", "No", "NA"])
    result = score_text(score, scoring, "Test")
    # As Plexus: the value stays (a warning is logged); the output declares only `value`,
    # so tactus drops the explanation the Lua returned.
    # No explanation in the output: none, as Plexus's Score.Result has (not "").
    assert (result.value, result.explanation) == ("Maybe", None)
    assert "not one of ['Yes', 'No', 'NA']" in caplog.text


# --- configuration --------------------------------------------------------------------


def test_code_and_deprecated_tactus_code():
    lua = "Procedure { function(input) return {value='Yes'} end }"
    assert tactus(lua).config.code == lua
    legacy = parse_score_config(f'class: TactusScore\ntactus_code: "{lua}"\n')
    assert legacy.config.code == lua
    both = parse_score_config(
        "class: TactusScore\ncode: \"return {value='FromCode'}\"\n"
        "tactus_code: \"return {value='FromTactusCode'}\"\n"
    )
    assert "FromCode" in both.config.code and "FromTactusCode" not in both.config.code
    # Model settings in the YAML are accepted and ignored, as in Plexus.
    ignored = tactus(lua, model_provider="ChatOpenAI", model_name="gpt-4o-mini", temperature=0.3)
    assert ignored.config.code == lua


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("class: TactusScore\nname: x\n", "code: Field required"),
        ("class: TactusScore\ncode: '  '\n", "TactusScore code is empty"),
        ("class: TactusScore\ncode: [1]\n", "code: Input should be a valid string"),
        ("class: TactusScore\ncode: x\nvalid_classes: Yes\n", "valid_classes"),
    ],
)
def test_invalid_configuration_names_the_problem(yaml, message):
    with pytest.raises(ScoreConfigError, match=message):
        parse_score_config(yaml)


def test_metadata_json_strings_are_parsed_as_plexus_does():
    raw = {
        "metadata": json.dumps({"schools": [{"school_id": "S1"}]}),
        "schools": json.dumps([{"school_id": "S2", "modality": "Online"}]),
        "other_data": json.dumps({"k": 1}),
        "call_id": "12",
    }
    parsed = parse_metadata(raw)
    assert parsed["metadata"] == {"schools": [{"school_id": "S1"}]}
    assert parsed["schools"] == [{"school_id": "S2", "modality": "Online"}]
    assert parsed["other_data"] == {"k": 1} and parsed["call_id"] == "12"
    # What does not parse stays as it was; the input is not changed.
    bad = parse_metadata({"metadata": "{not json", "schools": "[", "other_data": 3})
    assert bad == {"metadata": "{not json", "schools": "[", "other_data": 3}
    assert raw["schools"].startswith("[")
    assert parse_metadata({}) == {}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        (0.75, 0.75),
        (1, 1.0),
        (1.7, 1.0),
        (-2, 0.0),
        ("0.4", 0.4),
        ("high", 0.9),
        ("Medium", 0.6),
        (" med ", 0.6),
        ("low", 0.3),
        ("very high", 0.95),
        ("VERY LOW", 0.1),
        ("unsure", None),
        ([1], None),
    ],
)
def test_confidence_mapping_is_plexus(given, expected):
    assert convert_confidence(given) == expected


# --- with a model: the SKILL.md patterns ----------------------------------------------

SCHOOLS = [
    {"school_id": "North Campus", "modality": "Campus"},
    {"school_id": "Online U", "modality": "Online"},
]


def test_classify_procedure_prompt_request_and_cost(scoring, openai):
    user = (
        "{% if metadata.schools %}{% for school in metadata.schools %}"
        '{{ loop.index }}. School: {{ school.school_id or "" }} ({{ school.modality }})\n'
        "{% endfor %}{% else %}(No school metadata){% endif %}"
        "<transcript>{{ text }}</transcript>"
    )
    score = tactus(
        classify_procedure("openai/gpt-4o-mini", '"Yes", "No", "NA"', user),
        valid_classes=["Yes", "No", "NA"],
    )
    openai.reply("The agent named both schools.\nYES", 200, 12)
    metadata = {"schools": json.dumps(SCHOOLS)}  # a JSON string, as Plexus stores it

    result = score_text(score, scoring, "Agent: hello", metadata)

    assert (result.value, result.explanation, result.confidence) == (
        "Yes",
        "The agent named both schools.",
        None,  # ClassifyProcedure returns no confidence
    )
    [request] = openai.requests
    body = request["body"]
    # What the real TactusScore sends: model, messages and temperature 0, no more; the
    # user message as JSON.
    assert set(body) == {"model", "messages", "temperature"}
    assert (body["model"], body["temperature"]) == ("gpt-4o-mini", 0.0)
    system, user_msg = body["messages"]
    assert system == {
        "role": "system",
        "content": "You review calls. The final line is the class.",
    }
    assert json.loads(user_msg["content"]) == {
        "text": "1. School: North Campus (Campus)\n2. School: Online U (Online)\n"
        "<transcript>Agent: hello</transcript>"
    }
    assert request["headers"]["authorization"] == f"Bearer {openai.api_key}"
    cost = result.cost.to_json()
    assert (cost["llm_calls"], cost["prompt_tokens"], cost["completion_tokens"]) == (1, 200, 12)
    [component] = cost["components"]
    assert component["type"] == "api_call" and component["llm_calls"] == 1
    assert (component["provider"], component["model"]) == ("openai", "openai/gpt-4o-mini")
    assert component["usd"] == cost["total_cost"] > 0
    assert result.trace["tactus"]["calls"][0]["model"] == "openai/gpt-4o-mini"


def test_gpt5_models_are_sent_without_temperature_and_na_is_a_class(scoring, openai):
    score = tactus(classify_procedure("openai/gpt-5.4-nano", '"Yes", "No", "NA"'))
    openai.reply("No schools were discussed.\nNA")
    result = score_text(score, scoring, "Agent: hi")
    assert result.value == "NA"
    assert set(openai.requests[0]["body"]) == {"model", "messages"}


def test_raw_procedure_with_classify_per_school_and_lua_logic(scoring, openai):
    code = """
default_model "openai/gpt-4o-mini"
Procedure {
  input = {
    text = field.string{required = true},
    metadata = field.object{}
  },
  output = {
    value = field.string{required = true},
    explanation = field.string{required = true}
  },
  function(input)
    local schools = (input.metadata or {}).schools or {}
    if #schools == 0 then
      return {value = "NA", explanation = "no schools"}
    end
    local notes = {}
    local any_no = false
    for i, school in ipairs(schools) do
      local r = Classify {
        classes = {"Yes", "No"},
        prompt = "Was the school's modality stated correctly?",
        input = "School: " .. school.school_id .. "\\n" .. input.text
      }
      table.insert(notes, school.school_id .. ": " .. r.value)
      if r.value == "No" then any_no = true end
    end
    local value = "Yes"
    if any_no then value = "No" end
    return {value = value, explanation = table.concat(notes, "; ")}
  end
}
"""
    score = tactus(code)
    openai.reply("Stated.\nYes", 100, 5)
    openai.reply("Wrong modality.\nNo", 110, 6)
    result = score_text(score, scoring, "Agent: online", {"schools": json.dumps(SCHOOLS)})
    assert (result.value, result.explanation) == ("No", "North Campus: Yes; Online U: No")
    assert len(openai.requests) == 2
    assert "School: Online U" in openai.requests[1]["body"]["messages"][-1]["content"]
    cost = result.cost.to_json()
    assert cost["llm_calls"] == 2 and len(cost["components"]) == 2
    assert (cost["prompt_tokens"], cost["completion_tokens"]) == (210, 11)
    assert score_text(score, scoring, "Agent: hi", {}).value == "NA"
    assert len(openai.requests) == 2  # no schools, no call


def test_procedure_sees_only_the_inputs_it_declares(scoring):
    code = """
Procedure {
  input = { text = field.string{required = true} },
  output = { value = field.string{required = true} },
  function(input)
    if input.metadata == nil then return {value = "nil"} end
    return {value = "seen"}
  end
}
"""
    assert score_text(tactus(code), scoring, "x", {"a": 1}).value == "nil"


# --- models: each score on its own ----------------------------------------------------


def test_each_score_runs_on_its_own_default_model(scoring, openai):
    openai.set_default(lambda body: "Fine.\nYes")
    models = ["openai/gpt-5.4-nano", "openai/gpt-4o-mini", "openai/gpt-4.1", "openai/gpt-5.4-nano"]
    results = [
        score_text(tactus(classify_procedure(m)), scoring, f"call {i}")
        for i, m in enumerate(models)
    ]
    assert [r["body"]["model"] for r in openai.requests] == [m.split("/")[1] for m in models]
    assert [r.cost.components[0]["model"] for r in results] == models
    # Priced as their own models: gpt-4.1 costs more than gpt-4o-mini for the same tokens.
    assert results[2].cost.total_cost > results[1].cost.total_cost


def test_concurrent_jobs_with_different_models_after_dspy_was_configured_elsewhere(scoring, openai):
    from plexus.scores import tactus_runtime

    # As the worker does before any import of dspy: litellm's price table from the package,
    # not fetched from GitHub (this test may be the first in its process to import dspy).
    tactus_runtime.prepare_environment()
    import dspy

    from plexus.scores import score_item

    # Another asyncio task configured dspy first (as tactus itself would have): from then
    # on no other task may call dspy.configure. Each Tactus job still gets its own model.
    async def configure_elsewhere() -> None:
        dspy.configure(lm=dspy.LM("openai/gpt-3.5-turbo"))

    asyncio.run(configure_elsewhere())
    seen: dict[str, set[str]] = {}
    lock = threading.Lock()

    def reply(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        with lock:
            seen.setdefault(body["model"], set()).add(text)
        return "Fine.\nNo"

    openai.set_default(reply)
    openai.latency = 0.2  # the calls overlap
    models = ["openai/gpt-4o-mini", "openai/gpt-4.1", "openai/gpt-5.4-nano"] * 2
    scores = [
        tactus(classify_procedure(m, user=f"job {i}: {{{{ text }}}}")) for i, m in enumerate(models)
    ]

    async def all_at_once(run: Any) -> list[Any]:
        return await asyncio.gather(*(score_item(s, Score.Input(text="t"), run) for s in scores))

    try:
        results = run_async(scoring, all_at_once)
    finally:
        openai.latency = 0.0
    assert [r.cost.components[0]["model"] for r in results] == models
    for i, model in enumerate(models):
        assert any(f"job {i}: t" in text for text in seen[model.split("/")[1]]), (i, seen)
    assert "gpt-3.5-turbo" not in seen


def test_procedures_do_not_block_the_event_loop(scoring, openai):
    """A model call inside tactus is synchronous; the worker's loop keeps running."""
    openai.set_default(lambda body: "Fine.\nYes")
    openai.latency = 0.5
    ticks = 0

    async def with_ticker(run: Any) -> Any:
        nonlocal ticks
        from plexus.scores import score_item

        task = asyncio.ensure_future(
            score_item(tactus(classify_procedure("openai/gpt-4o-mini")), Score.Input(text="t"), run)
        )
        while not task.done():
            ticks += 1
            await asyncio.sleep(0.05)
        return task.result()

    try:
        result = run_async(scoring, with_ticker)
    finally:
        openai.latency = 0.0
    assert result.value == "Yes" and ticks >= 5


# --- failures -------------------------------------------------------------------------


def test_lua_error_fails_with_the_runtimes_message(scoring):
    code = """
Procedure {
  input = { text = field.string{required = true} },
  output = { value = field.string{required = true} },
  function(input) error("no transcript section found") end
}
"""
    with pytest.raises(TactusProcedureError, match="no transcript section found") as caught:
        score_text(tactus(code), scoring, "x")
    assert "Tactus test" in str(caught.value) and caught.value.cost.llm_calls == 0


def test_syntax_error_fails_with_the_runtimes_message(scoring):
    with pytest.raises(TactusProcedureError) as caught:
        score_text(tactus("Procedure { function(input) return {value = } end }"), scoring, "x")
    assert "must return 'value'" not in str(caught.value)
    assert "unexpected symbol" in str(caught.value) or "syntax" in str(caught.value).lower()


def test_failure_after_a_model_call_keeps_that_calls_cost(scoring, openai):
    code = """
default_model "openai/gpt-4o-mini"
Procedure {
  input = { text = field.string{required = true} },
  output = { value = field.string{required = true} },
  function(input)
    local r = Classify { classes = {"Yes", "No"}, prompt = "Q?", input = input.text }
    error("after the call: " .. r.value)
  end
}
"""
    openai.reply("ok\nYes", 321, 7)
    with pytest.raises(TactusProcedureError, match="after the call: Yes") as caught:
        score_text(tactus(code), scoring, "x")
    cost = caught.value.cost.to_json()
    assert (cost["llm_calls"], cost["prompt_tokens"], cost["completion_tokens"]) == (1, 321, 7)


def test_model_error_fails_the_job_naming_it(scoring, openai):
    openai.set_default(lambda body: openai.make_error(401, "Incorrect API key provided"))
    with pytest.raises(TactusProcedureError, match="Incorrect API key provided"):
        score_text(tactus(classify_procedure("openai/gpt-4o-mini")), scoring, "x")
    # PLEXUS_MODEL_MAX_RETRIES (0 here) is the client's retries, as for other scores.
    assert openai.call_count == 1


def test_no_value_fails(scoring):
    code = """
Procedure {
  input = { text = field.string{required = true} },
  output = { label = field.string{required = true} },
  function(input) return {label = "Yes"} end
}
"""
    with pytest.raises(TactusProcedureError, match="returned no 'value'"):
        score_text(tactus(code), scoring, "x")


def test_a_procedure_returning_nothing_scores_none(scoring):
    # Plexus stores str() of a result that is no mapping: "None" (parity case
    # tactus_returns_nothing); users evaluating with Plexus see that value.
    code = """
Procedure {
  input = { text = field.string{required = true} },
  run = function(input)
  end
}
"""
    result = score_text(tactus(code), scoring, "x")
    assert (result.value, result.explanation, result.confidence) == ("None", None, None)


def test_dependency_results_reach_lua(scoring):
    code = """
Procedure {
  input = { text = field.string{required = true}, results = field.array{} },
  output = { value = field.string{required = true}, explanation = field.string{} },
  function(input)
    local r = input.results or {}
    if #r == 0 then return {value = "none", explanation = ""} end
    return {value = r[1].value, explanation = r[1].explanation .. "|" .. r[2].value}
  end
}
"""
    score = tactus(code, depends_on=["Greeting", "Close"])
    scoring.results = {
        "Close": Score.Result(value="No", explanation="no close"),
        "Greeting": Score.Result(value="Yes", explanation="said hello", confidence=0.8),
    }
    result = score_text(score, scoring, "x")
    # In depends_on's order, value/explanation/confidence each, as Plexus hands them.
    assert (result.value, result.explanation) == ("Yes", "said hello|No")
    scoring.results = {}
    with pytest.raises(JobError, match="depends on 'Greeting'"):
        score_text(score, scoring, "x")


def test_azure_deployments_reach_azure_openai_with_the_workers_settings(scoring, openai):
    openai.reply("Fine.\nNo")
    result = score_text(tactus(classify_procedure("azure/calls-gpt4o-mini")), scoring, "x")
    assert result.value == "No"
    [request] = openai.requests
    assert request["protocol"] == "azure"
    assert request["headers"]["api-key"] == openai.api_key


# --- what a procedure can reach (the README's list) -------------------------------------


def test_what_lua_code_can_reach(scoring):
    code = """
Procedure {
  input = { text = field.string{required = true} },
  output = { value = field.string{required = true}, explanation = field.string{} },
  function(input)
    local seen = {}
    local function probe(name, f)
      local ok, res = pcall(f)
      table.insert(seen, name .. "=" .. tostring(ok and res))
    end
    probe("os.getenv", function() return os.getenv("PLEXUS_TACTUS_PROBE") end)
    probe("os.execute", function() return type(os.execute) end)
    probe("io", function() return type(io) end)
    probe("load", function() return type(load) end)
    probe("dofile", function() return type(dofile) end)
    probe("require", function() return type(require) end)
    probe("python.eval", function() return python.eval("6 * 7") end)
    return {value = "probed", explanation = table.concat(seen, "; ")}
  end
}
"""
    import os

    os.environ["PLEXUS_TACTUS_PROBE"] = "visible"
    try:
        result = score_text(tactus(code), scoring, "x")
    finally:
        del os.environ["PLEXUS_TACTUS_PROBE"]
    assert result.explanation.split("; ") == [
        "os.getenv=visible",
        "os.execute=nil",
        "io=nil",
        "load=nil",
        "dofile=nil",
        "require=function",
        "python.eval=42",
    ]


def test_model_settings_never_show_their_keys(scoring):
    from plexus.scores.TactusScore import credentials

    settings = credentials(scoring.settings)
    assert (
        settings.for_model("openai/gpt-4o-mini")["api_key"] == scoring.settings.openai_api_key.get()
    )
    assert scoring.settings.openai_api_key.get() not in repr(settings)
