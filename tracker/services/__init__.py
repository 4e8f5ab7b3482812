"""Every write, one function per use case. Services flush; the view, job or command that called them
commits. No network or printer I/O happens here inside a transaction."""
