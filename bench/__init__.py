"""Benchmarks: how close cucmkit gets to the floor the procedure allows (issue 7).

Each benchmark runs from one command and prints a table plus peak RSS:

    python -m bench.window              # every runbook purpose end to end vs the serial waits
    python -m bench.fleet_inventory     # 50 clusters x 6 nodes, concurrent vs serial
    python -m bench.registration_watch  # 20,000 phones through RisPort's cap and rate limit
    python -m bench.notebook_overhead   # papermill runbook vs the same calls in-process
    python -m bench.run_all             # all four, rewrites bench/RESULTS.md

``--small`` runs a tiny size in seconds (the smoke tests use it).
"""
