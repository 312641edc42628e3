"""codestral-lsp: Codestral fill-in-the-middle completions over the Language Server Protocol."""

__version__ = "0.1.0"
