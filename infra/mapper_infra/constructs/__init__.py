"""Constructs with typed props, one concern each; the stack composes them."""
