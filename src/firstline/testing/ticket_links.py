"""The part of the ticketing conformance suite about major incidents: link, unlink and merge.

:class:`~firstline.testing.ticketing.TicketingContract` inherits these tests, so every backend runs them;
they use the subclass's ``backend`` fixture.
"""

from __future__ import annotations

from typing import Any

import pytest

from firstline.errors import InputError, InvalidTransitionError, TicketNotFoundError
from firstline.ticketing import EntryKind, NewTicket, TicketingBackend, TicketQuery, TicketState, TicketUpdate
from firstline.ticketing.lifecycle import DUPLICATE_TAG

__all__ = ["LinkContract"]

AGENT = "firstline"
PERSON = "dana.agent@example.com"  # an agent acting through the console: history must name them
S = TicketState


def _open(backend: TicketingBackend, requester: str = "alice@example.com", **overrides: Any) -> str:
    values: dict[str, Any] = {"requester": requester, "short_description": "VPN keeps disconnecting"}
    return backend.create(NewTicket(**(values | overrides))).number


def _close(backend: TicketingBackend, number: str, state: TicketState = S.CLOSED) -> None:
    if state is S.CLOSED:
        backend.update(number, TicketUpdate(state=S.RESOLVED, resolution_note="Fixed"), AGENT)
    backend.update(number, TicketUpdate(state=state), AGENT)


class LinkContract:
    """Parent links, unlinking and merging duplicates, on every ticketing backend."""

    def test_link_to_parent_and_find_children(self, backend: TicketingBackend) -> None:
        major = _open(backend, short_description="VPN down for everyone")
        children = [_open(backend, f"user{i}@example.com") for i in range(3)]
        for child in children:
            linked = backend.link_to_parent(child, major, AGENT)
            assert linked.parent_number == major
        assert backend.get(children[0]).parent_number == major
        assert sorted(t.number for t in backend.search(TicketQuery(parent=major))) == sorted(children)
        entry = backend.history(children[0])[-1]
        assert (entry.kind, entry.field, entry.new_value) == (EntryKind.FIELD_CHANGE, "parent_number", major)
        assert backend.link_to_parent(children[0], major, AGENT).parent_number == major  # no-op
        assert len(backend.history(children[0])) == 1
        assert backend.link_to_parent(children[0], None, AGENT).parent_number is None
        assert len(backend.search(TicketQuery(parent=major))) == 2

    def test_link_rules(self, backend: TicketingBackend) -> None:
        major, child, other = (_open(backend) for _ in range(3))
        backend.link_to_parent(child, major, AGENT)
        with pytest.raises(InputError, match="own parent"):
            backend.link_to_parent(major, major, AGENT)
        with pytest.raises(InputError, match=f"link {other} to {major} instead"):
            backend.link_to_parent(other, child, AGENT)
        with pytest.raises(InputError, match="parent of other incidents"):
            backend.link_to_parent(major, other, AGENT)
        with pytest.raises(TicketNotFoundError, match="INC9999999"):
            backend.link_to_parent(other, "INC9999999", AGENT)

    # -- unlink ------------------------------------------------------------------------------------------

    def test_unlink_records_who_did_it_on_the_child_and_the_parent(self, backend: TicketingBackend) -> None:
        major, child, sibling = _open(backend), _open(backend, "bob@example.com"), _open(backend, "carol@example.com")
        backend.link_to_parent(child, major, AGENT)
        backend.link_to_parent(sibling, major, AGENT)
        unlinked = backend.unlink(child.lower(), PERSON)
        assert unlinked.number == child and unlinked.parent_number is None
        assert backend.get(child) == unlinked
        entry = backend.history(child)[-1]
        assert (entry.kind, entry.field, entry.old_value, entry.new_value) == (
            EntryKind.FIELD_CHANGE, "parent_number", major, "",
        )  # fmt: skip
        assert entry.author == PERSON
        note = backend.history(major)[-1]
        assert note.kind is EntryKind.WORK_NOTE and note.author == PERSON and child in note.body
        assert [t.number for t in backend.search(TicketQuery(parent=major))] == [sibling]

    def test_unlink_rules(self, backend: TicketingBackend) -> None:
        major, child, loose = _open(backend), _open(backend), _open(backend)
        with pytest.raises(InputError, match=f"{loose} is not linked"):
            backend.unlink(loose, PERSON)
        with pytest.raises(TicketNotFoundError, match="INC9999999"):
            backend.unlink("INC9999999", PERSON)
        backend.link_to_parent(child, major, AGENT)
        with pytest.raises(InputError, match="author"):
            backend.unlink(child, "  ")
        assert backend.get(child).parent_number == major
        _close(backend, child)
        with pytest.raises(InvalidTransitionError):
            backend.unlink(child, PERSON)
        assert backend.get(child).parent_number == major

    def test_unlink_from_a_closed_parent_leaves_the_parent_alone(self, backend: TicketingBackend) -> None:
        major, child = _open(backend), _open(backend)
        backend.link_to_parent(child, major, AGENT)
        _close(backend, major)
        before = backend.history(major)
        assert backend.unlink(child, PERSON).parent_number is None
        assert backend.history(major) == before

    # -- merge -------------------------------------------------------------------------------------------

    def test_merge_closes_the_duplicate_and_moves_its_children(self, backend: TicketingBackend) -> None:
        survivor = _open(backend, short_description="Printer LON-F4-HP-01 offline")
        duplicate = _open(backend, "bob@example.com", short_description="Floor 4 printer offline")
        children = [_open(backend, f"user{i}@example.com") for i in range(3)]
        for child in children:
            backend.link_to_parent(child, duplicate, AGENT)
        _close(backend, children[2], S.CANCELED)  # a final child cannot change: it stays where it was
        merged = backend.merge(duplicate, survivor.lower(), PERSON)
        assert merged == backend.get(duplicate)
        assert merged.state is S.CLOSED and merged.closed_at is not None and merged.resolved_at is not None
        assert merged.resolution_note.startswith(f"Duplicate of {survivor}") and DUPLICATE_TAG in merged.tags
        public = backend.history(duplicate, public_only=True)
        assert public[0].kind is EntryKind.COMMENT and survivor in public[0].body and public[0].author == PERSON
        assert [e.new_value for e in public[1:]] == ["resolved", "closed"]
        assert {e.author for e in backend.history(duplicate)} == {PERSON}
        assert [backend.get(c).parent_number for c in children] == [survivor, survivor, duplicate]
        assert backend.history(children[0])[-1].author == PERSON
        note = backend.history(survivor)[-1]
        assert note.kind is EntryKind.WORK_NOTE and duplicate in note.body and note.author == PERSON
        assert backend.get(survivor).state is S.NEW

    def test_merge_into_its_own_child_or_parent(self, backend: TicketingBackend) -> None:
        major, child, other = _open(backend), _open(backend), _open(backend)
        backend.link_to_parent(child, major, AGENT)
        backend.link_to_parent(other, major, AGENT)
        backend.merge(major, child, PERSON)  # the child takes over: it leaves the closing parent
        assert backend.get(child).parent_number is None
        assert backend.get(other).parent_number == child
        third = _open(backend)
        backend.link_to_parent(third, child, AGENT)
        assert backend.merge(third, child, PERSON).parent_number == child  # a child merged into its parent
        assert backend.get(third).state is S.CLOSED

    def test_a_resolved_duplicate_is_closed_too(self, backend: TicketingBackend) -> None:
        survivor, duplicate = _open(backend), _open(backend)
        backend.update(duplicate, TicketUpdate(state=S.RESOLVED, resolution_note="Rebooted"), AGENT)
        merged = backend.merge(duplicate, survivor, PERSON)
        assert merged.state is S.CLOSED and merged.resolution_note.startswith(f"Duplicate of {survivor}")

    def test_merge_rules(self, backend: TicketingBackend) -> None:
        survivor, duplicate, closed, canceled = (_open(backend) for _ in range(4))
        _close(backend, closed)
        _close(backend, canceled, S.CANCELED)
        before = {n: (backend.get(n), backend.history(n)) for n in (survivor, duplicate, closed, canceled)}
        with pytest.raises(InputError, match="into itself"):
            backend.merge(duplicate, duplicate.lower(), PERSON)
        with pytest.raises(InputError, match=f"{closed} is closed"):
            backend.merge(duplicate, closed, PERSON)
        with pytest.raises(InputError, match=f"{canceled} is canceled"):
            backend.merge(duplicate, canceled, PERSON)
        with pytest.raises(InvalidTransitionError):
            backend.merge(closed, survivor, PERSON)
        with pytest.raises(TicketNotFoundError, match="INC9999999"):
            backend.merge(duplicate, "INC9999999", PERSON)
        with pytest.raises(InputError, match="author"):
            backend.merge(duplicate, survivor, " ")
        assert {n: (backend.get(n), backend.history(n)) for n in before} == before
        major, child, grandchild = _open(backend), _open(backend), _open(backend)
        backend.link_to_parent(survivor, major, AGENT)
        backend.link_to_parent(grandchild, duplicate, AGENT)
        with pytest.raises(InputError, match=f"merge {duplicate} into {major} instead"):
            backend.merge(duplicate, survivor, PERSON)
        assert backend.merge(child, survivor, PERSON).state is S.CLOSED  # no children: fine
