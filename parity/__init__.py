"""Differential harness: the real Plexus LangGraphScore against this project's, case by case.

See README.md, "Parity with the real Plexus engine". `python -m parity refresh ...` runs both
engines on parity/cases.py against one fake model and writes tests/parity/golden/;
tests/parity/test_golden.py checks this engine against those files with no Plexus present.
"""
