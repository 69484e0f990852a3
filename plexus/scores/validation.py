"""Configuration errors as a score author reads them."""

from __future__ import annotations

from typing import Any


def pydantic_reasons(exc: Any, skip: int = 0) -> str:
    """A pydantic ValidationError as `field: message; ...`."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'][skip:]) or 'configuration'}: {err['msg']}"
        for err in exc.errors()
    )
