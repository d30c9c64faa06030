"""The infra gate: synthesize the environment stacks (synth.py) and check them (policy.py)."""
