"""Candidate fixes, measured before anyone edits the code they would change.

Each module here patches, at import, the function a proposed fix would
change, and exposes ``AppealsService``; ``python -m bench.run --candidate
bench.candidates.<name>`` runs the appeals process from it and has the
monolith import it first, so both sides of the comparison get the fix. They
are experiments for docs/performance.md, never imported by the platform.
"""
