"""The terminal commands (doctor, complete), built on the same pipeline as the server."""
