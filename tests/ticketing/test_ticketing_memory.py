"""The in-memory backend against the ticketing conformance suite."""

from __future__ import annotations

import pytest

from firstline.testing.ticketing import TicketingContract, new_ticket
from firstline.ticketing import InMemoryTicketing, TicketingBackend, TicketQuery


class TestInMemoryTicketing(TicketingContract):
    @pytest.fixture
    def backend(self) -> TicketingBackend:
        return InMemoryTicketing()


def test_instances_do_not_share_tickets() -> None:
    first, second = InMemoryTicketing(), InMemoryTicketing()
    created = first.create(new_ticket())
    assert second.search(TicketQuery()) == []
    assert first.get(created.number) == created
