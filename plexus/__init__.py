"""Plexus scoring worker for AWS Lambda, and the tooling that ships it as container images."""
