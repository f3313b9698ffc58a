"""A structure-aware mutation fuzzer for every restorekit parser (issue #13).

``python -m tests.fuzz --minutes N [--seed S] [--jobs J]`` runs a campaign: seeds are real images made by real
tools (``seeds.py``), the mutators (``mutators/``, one module per format family) know where each format keeps
its fields and mutate there first, the runner (``runner.py``) runs the CLI on read-only copies under a time limit
and a memory cap, the classifier (``classify.py``) names each outcome, and every new failure class gets a
minimized reproducer (``minimize.py``) in ``tests/fuzz/out/``. ``test_smoke.py`` runs a fixed-seed campaign.
"""
