"""The empty poll's path imports no part of the score engine nor its heavy dependencies, and
no job but a Tactus job imports tactus or what it brings (dspy, litellm, numpy)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import HANDLER_DIR

# TactusScore's runtime and its heaviest dependencies (seconds of imports).
TACTUS = ("tactus", "dspy", "litellm", "numpy", "lupa", "pyarrow", "biblicus")
HEAVY = ("plexus.scores", "openai", "jinja2", "ruamel", "boto3", "rapidfuzz", "genai_prices")


def loaded(code: str, roots: tuple[str, ...]) -> list[str]:
    probe = (
        f"{code}\n"
        "import sys\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules if m.split('.')[0] in {roots!r}}}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return eval(out.stdout.strip().splitlines()[-1])


def test_the_handler_and_processor_import_no_engine():
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(HANDLER_DIR)!r})\n"
        "import handler, plexus.worker.processor, plexus.aws_lambda.entry\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {(*HEAVY, *TACTUS)!r} "
        f"or m.startswith('plexus.scores')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_jobs_of_other_classes_import_no_tactus():
    """Keyword, regex and LangGraph (a LogicalClassifier's Python) scores, parsed and scored
    as the processor does, and the modules a job's steps import."""
    code = '''
import asyncio
import plexus.worker.processor, plexus.worker.score_input, plexus.scores.providers
from plexus.scores import parse_score_config, score_item
from plexus.scores.Score import Score
from plexus.scores.run import Run, ScoringSettings

CONFIGS = [
    "class: KeywordClassifier\\nkeywords: [hello]\\n",
    "class: RegexClassifier\\nrules: [{value: 'Yes', pattern: 'hel+o'}]\\ndefault: 'No'\\n",
    """
class: LangGraphScore
graph:
  - name: decide
    class: LogicalClassifier
    code: |
      def score(parameters, input):
          return Score.Result(parameters=parameters, value="Yes", metadata={"explanation": "x"})
output:
  value: classification
""",
]

async def main():
    run = Run.create(ScoringSettings())
    for config in CONFIGS:
        result = await score_item(parse_score_config(config), Score.Input(text="hello"), run)
        assert result.value == "Yes", (config, result)
    await run.models.close()

asyncio.run(main())
'''
    assert loaded(code, TACTUS) == []


def test_a_tactus_configuration_parses_without_the_runtime():
    """Parsing (the processor does it before fetching content) imports no tactus: a job whose
    item or content fails never pays for the runtime's import."""
    code = (
        "from plexus.scores import parse_score_config\n"
        "parse_score_config('class: TactusScore\\ncode: \"return {value = 1}\"\\n')\n"
    )
    assert loaded(code, TACTUS) == []
