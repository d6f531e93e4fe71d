"""Pure engines: computations with no Flask import, callable from web views, commands and tests."""
