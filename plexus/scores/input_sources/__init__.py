"""Input sources: a score's `item:` reads its text from one of the item's attachments.

    item:
      class: DeepgramInputSource
      options: {pattern: ".*deepgram.*\\.json$", format: paragraphs}

The item's `attachedFiles` are S3 keys; the first whose file name matches `pattern` (a
regular expression, matched at the start of the name) is read. Keys under `items/` live in
Plexus's data-sources bucket (`DATASOURCES_BUCKET`), others in the score-result attachments
bucket (`AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME`), as in Plexus.
"""

from __future__ import annotations

from typing import Any

from plexus.core.errors import ScoreConfigError

SUPPORTED_SOURCES = ("TextFileInputSource", "DeepgramInputSource")


def input_source(kind: Any, options: Any, where: str) -> Any:
    if kind not in SUPPORTED_SOURCES:
        raise ScoreConfigError(
            f"{where}: item class {str(kind)[:80]!r} is not supported; "
            f"supported: {', '.join(SUPPORTED_SOURCES)}"
        )
    if not isinstance(options, dict):
        raise ScoreConfigError(f"{where}: item options must be a mapping")
    if kind == "TextFileInputSource":
        from plexus.scores.input_sources.TextFileInputSource import TextFileInputSource

        return TextFileInputSource(options, where)
    from plexus.scores.input_sources.DeepgramInputSource import DeepgramInputSource

    return DeepgramInputSource(options, where)
