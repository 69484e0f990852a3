"""Stand-in for the `tactus` package (Plexus's lock: 0.49.0), see README "Parity harness".

plexus/scores/__init__.py imports TactusScore, which imports three tactus names at module level.
The real package brings torch and CUDA (gigabytes, a minute of import) and no LangGraphScore
path calls it: these names exist so the import succeeds, and any use fails loudly.
"""
