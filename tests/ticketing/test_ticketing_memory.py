"""The in-memory backend against the ticketing conformance suite."""

from __future__ import annotations

import pytest

from firstline.testing.ticketing import TicketingContract
from firstline.ticketing import InMemoryTicketing, TicketingBackend


class TestInMemoryTicketing(TicketingContract):
    @pytest.fixture
    def backend(self) -> TicketingBackend:
        return InMemoryTicketing()
