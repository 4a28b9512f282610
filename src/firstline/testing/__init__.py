"""Test helpers shipped with Firstline: conformance suites that every backend must pass."""

from firstline.testing.ticketing import TicketingContract
from firstline.testing.vector_store import VectorStoreContract

__all__ = ["TicketingContract", "VectorStoreContract"]
