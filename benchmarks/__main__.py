"""`python -m benchmarks`: the replay and the micro-benchmarks, tables and target checks."""

from benchmarks.run import main

raise SystemExit(main())
