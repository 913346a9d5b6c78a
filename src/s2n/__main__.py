"""`python -m s2n {client,server,demo,bench,policies}`, and `python -m s2n s2nc|s2nd ...`."""

from .cli import main

raise SystemExit(main())
