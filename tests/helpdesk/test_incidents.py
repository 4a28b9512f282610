"""Which directory incidents a request is about: topic, site, floor and extension."""

from __future__ import annotations

import pytest

from firstline.directory import InMemoryDirectory, load_org
from firstline.helpdesk.incidents import matches
from firstline.runtime import demo_org

DIRECTORY = InMemoryDirectory(load_org(demo_org()))
BY_ID = {i.id: i for i in DIRECTORY.incidents()}


@pytest.mark.parametrize(
    ("incident", "intent", "email", "expected"),
    [
        ("INC0049001", "print_queue_stuck", "marcus.bell@nwmeridian.co.uk", True),  # London floor 4
        ("INC0049001", "print_queue_stuck", "tomasz.nowicki@nwmeridian.co.uk", False),  # London floor 3
        ("INC0049001", "vpn_drops", "marcus.bell@nwmeridian.co.uk", False),  # wrong topic
        ("INC0049002", "vpn_drops", "kwame.mensah@nwmeridian.co.uk", True),  # remote
        ("INC0049002", "vpn_drops", "lewis.fraser@nwmeridian.co.uk", True),  # Leeds
        ("INC0049002", "vpn_cannot_connect", "lewis.fraser@nwmeridian.co.uk", False),  # drops are not "won't connect"
        ("INC0049002", "vpn_drops", "marcus.bell@nwmeridian.co.uk", False),  # London: NW-GW-LON is fine
        ("INC0049002", "slow_computer", "kwame.mensah@nwmeridian.co.uk", False),  # no topic for the intent
        ("INC0049001", "paper_jam", "marcus.bell@nwmeridian.co.uk", True),  # floor 4, no printer named
        ("INC0049004", "mailbox_full", "marcus.bell@nwmeridian.co.uk", False),  # personal: never an incident
    ],
)
def test_site_and_topic(incident: str, intent: str, email: str, expected: bool) -> None:
    person = DIRECTORY.person(email)
    assert matches(BY_ID[incident], intent, person, DIRECTORY.phone_of(person.id)) is expected


def test_a_printer_the_request_names_must_be_one_the_incident_names() -> None:
    person = DIRECTORY.person("marcus.bell@nwmeridian.co.uk")  # London floor 4
    phone = DIRECTORY.phone_of(person.id)
    incident = BY_ID["INC0049001"]
    assert matches(incident, "paper_jam", person, phone, "Paper jam in LON-F4-HP-01") is True
    assert matches(incident, "paper_jam", person, phone, "Paper jam in LON-F3-HP-01") is False


def test_shared_words_link_only_within_the_team_that_owns_the_incident() -> None:
    person = DIRECTORY.person("marcus.bell@nwmeridian.co.uk")
    incident = BY_ID["INC0049004"]  # delayed inbound email, Messaging
    text = "inbound email from external senders is arriving hours late"
    assert matches(incident, "email_stuck_outbox", person, None, text, "Messaging") is True
    assert matches(incident, "email_stuck_outbox", person, None, text, "Network Operations") is False


def test_phone_incidents_match_by_extension() -> None:
    incident = BY_ID["INC0049003"]
    on_it = [p for p in load_org(demo_org()).phones if p.extension in incident.related_extensions]
    assert on_it
    person = DIRECTORY.person(on_it[0].person)
    assert matches(incident, "desk_phone_down", person, on_it[0]) is True
    neighbour = DIRECTORY.person("lewis.fraser@nwmeridian.co.uk")
    phone = DIRECTORY.phone_of(neighbour.id)
    assert phone is not None and phone.extension not in incident.related_extensions
    assert matches(incident, "desk_phone_down", neighbour, phone) is False
