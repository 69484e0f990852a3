"""Stand-in for AnthusAI's git-only openai_cost_calculator (see parity/README section in README.md).

Only plexus.scores.AgenticValidator and composite.GoogleGemini import it, at module level, because
plexus/scores/__init__.py imports every score class. LangGraphScore prices tokens with litellm, so
this module is never called on the paths the harness runs; calling it fails loudly.
"""
