"""Entry point for ``python -m codestral_lsp``."""

from codestral_lsp.cli import main

raise SystemExit(main())
