"""See tactus/__init__.py."""


class CostCollectorLogHandler:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("tactus stub: TactusScore is not part of the LangGraphScore harness")
