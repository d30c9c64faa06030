"""Llama Mapper database platform tooling: migrations, gates, ephemeral PostgreSQL."""

__version__ = "0.1.0"
