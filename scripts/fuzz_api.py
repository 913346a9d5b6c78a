"""Longer runs of the stateful API fuzzer (the state machines of tests/test_fuzz_api.py).

    python scripts/fuzz_api.py --seed 1 --duration 600            # both machines, 10 minutes
    python scripts/fuzz_api.py --machine memory --seed 7 --max-examples 500 --stats

Batches of --max-examples examples run with seeds seed, seed+1, ... until
--duration seconds have passed; each batch prints its seed, the end prints
examples/s and steps/s per machine. A failure prints Hypothesis's shrunk
reproducer (the steps and a @reproduce_failure blob) and the command that
replays its seed; a hang (a step over S2N_FUZZ_STEP_TIMEOUT, default 30 s)
or a crash prints every thread's stack (faulthandler). Run it from the
repository root with the package installed (pip install -e '.[test]').
"""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

import test_fuzz_api  # noqa: E402

if __name__ == "__main__":
    sys.exit(test_fuzz_api.main())
