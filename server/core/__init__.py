"""Pure logic: no sockets, no event loop, no database. Time is always passed in as ``now``."""
