"""The empty poll's path imports no part of the score engine nor its heavy dependencies."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import HANDLER_DIR

HEAVY = ("plexus.scores", "openai", "jinja2", "ruamel", "boto3", "rapidfuzz", "genai_prices")


def test_the_handler_and_processor_import_no_engine():
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(HANDLER_DIR)!r})\n"
        "import handler, plexus.worker.processor, plexus.aws_lambda.entry\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
        f"or m.startswith('plexus.scores')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
