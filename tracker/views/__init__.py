"""One blueprint per surface. Views are thin: parse input, call a service, pick a template or JSON."""
