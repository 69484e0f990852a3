"""`DeepgramInputSource`: a transcript from a Deepgram JSON attachment.

Options, as examples/INPUT_SOURCES_README.md in Plexus documents them: `format`
(`paragraphs`, the default, blank-line separated; `utterances`, one per line; `words`;
`raw`, Deepgram's own transcript), `speaker_labels` ("Speaker N: "), `include_timestamps`
("[12.34s] ", or "word[12.34]" for words), `time_range_start` / `time_range_duration`
(seconds: keep what starts inside the range), `include_raw_data` (the JSON in
`metadata.deepgram`). Plexus 1.50.1 itself returns the raw transcript and leaves formatting
to its processors; these options follow the documented behaviour of the release before.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from plexus.core.errors import ContentError, ScoreConfigError
from plexus.scores.input_sources.InputSource import InputSource

if TYPE_CHECKING:
    from plexus.scores.run import ScoringSettings
    from plexus.scores.Score import Score

FORMATS = ("paragraphs", "utterances", "words", "raw")


class DeepgramInputSource(InputSource):
    kind = "DeepgramInputSource"

    def __init__(self, options: dict[str, Any], where: str) -> None:
        super().__init__(options, where)
        self.format = options.get("format", "paragraphs")
        if self.format not in FORMATS:
            raise ScoreConfigError(f"{self.where}: format must be one of {', '.join(FORMATS)}")
        self.timestamps = bool(options.get("include_timestamps", False))
        self.speakers = bool(options.get("speaker_labels", False))
        self.start = options.get("time_range_start", 0.0) or 0.0
        self.duration = options.get("time_range_duration")
        if (
            isinstance(self.start, bool)
            or not isinstance(self.start, int | float)
            or not math.isfinite(self.start)
            or self.start < 0
        ):
            raise ScoreConfigError(f"{self.where}: time_range_start must be a number >= 0")
        if self.duration is not None and (
            isinstance(self.duration, bool)
            or not isinstance(self.duration, int | float)
            or not math.isfinite(self.duration)
            or self.duration <= 0
        ):
            raise ScoreConfigError(f"{self.where}: time_range_duration must be a number > 0")

    def in_range(self, start: Any) -> bool:
        at = float(start or 0)
        begin = float(self.start)
        if self.duration is None:
            return at >= begin
        return begin <= at < begin + float(self.duration)

    def format_transcript(self, result: dict[str, Any]) -> str:
        alternative = result["results"]["channels"][0]["alternatives"][0]
        ranged = self.start != 0 or self.duration is not None
        if self.format == "raw" and not ranged:
            return str(alternative["transcript"])
        if self.format in ("words", "raw"):
            words = [w for w in alternative.get("words") or [] if self.in_range(w.get("start"))]
            if self.format == "raw":
                return " ".join(str(w.get("punctuated_word") or w["word"]) for w in words)
            if self.timestamps:
                return " ".join(f"{w['word']}[{float(w['start']):.2f}]" for w in words)
            return " ".join(str(w["word"]) for w in words)
        if self.format == "utterances":
            pieces = [
                (u.get("start"), u.get("speaker"), str(u.get("transcript", "")))
                for u in result["results"].get("utterances") or []
            ]
            separator = "\n"
        else:
            paragraphs = (alternative.get("paragraphs") or {}).get("paragraphs")
            if paragraphs is None:
                return str(alternative["transcript"])
            pieces = []
            for p in paragraphs:
                if "sentences" in p:
                    text = " ".join(str(s.get("text", "")) for s in p["sentences"])
                elif "text" in p:
                    text = str(p["text"])
                else:
                    continue
                pieces.append((p.get("start"), p.get("speaker"), text))
            separator = "\n\n"
        lines = []
        for start, speaker, text in pieces:
            if not self.in_range(start):
                continue
            if self.speakers and speaker is not None:
                text = f"Speaker {speaker}: {text}"
            if self.timestamps:
                text = f"[{float(start or 0):.2f}s] {text}"
            lines.append(text)
        return separator.join(lines)

    async def extract(self, item: dict[str, Any], settings: ScoringSettings) -> Score.Input:
        from plexus.scores.Score import Score

        key = self.find_attachment(list(item.get("attachedFiles") or []))
        data = await self.read(key, settings)
        try:
            result = json.loads(data)
            text = self.format_transcript(result)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ContentError(
                f"{self.where}: {key} is not a Deepgram result ({type(exc).__name__}: {exc})"
            ) from None
        metadata = self.metadata(item, key)
        metadata["format"] = self.format
        if self.options.get("include_raw_data"):
            metadata["deepgram"] = result
        return Score.Input(text=text, metadata=metadata)
