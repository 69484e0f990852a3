"""`TextFileInputSource`: the text of the first attachment whose name matches `pattern`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexus.scores.input_sources.InputSource import InputSource

if TYPE_CHECKING:
    from plexus.scores.run import ScoringSettings
    from plexus.scores.Score import Score


class TextFileInputSource(InputSource):
    kind = "TextFileInputSource"

    async def extract(self, item: dict[str, Any], settings: ScoringSettings) -> Score.Input:
        from plexus.scores.Score import Score

        key = self.find_attachment(list(item.get("attachedFiles") or []))
        data = await self.read(key, settings)
        return Score.Input(
            text=data.decode("utf-8", errors="replace"), metadata=self.metadata(item, key)
        )
