"""`python -m s2n {client,server,demo,bench}`."""

from .cli import main

raise SystemExit(main())
