"""Test helpers shipped with Firstline: conformance suites that every backend must pass."""

from firstline.testing.vector_store import VectorStoreContract

__all__ = ["VectorStoreContract"]
