"""Versioned migrations: files, history, the runner and its command line."""
