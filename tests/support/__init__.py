"""Helpers shared by the test suite: local services and fixture builders."""
