"""The LSP edge: the only place that imports pygls or lsprotocol."""
