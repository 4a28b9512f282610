"""Reading a sign-in log before an unlock: a stale saved password, or someone else trying the account.

An account locked by its owner's own phone (a mail app still holding last month's password) should be
unlocked, with a word about which device to update. An account locked by failures from addresses and
countries its owner has never used is the sign of a password spray or a guessing attack: unlocking
it hands the attacker more guesses, so Tier-1 leaves it locked and Security Operations looks at it.

:func:`assess` decides which, from the log alone, the same way for every engine and every backend:

* the **failures** are the failed attempts since the last successful sign-in (all of them in the
  window when there was none);
* a failure is **familiar** when it came from one of the person's own devices (by hostname), or from
  an address their own successful sign-ins in the window used, or from a ``trusted`` network (the
  offices' egress ranges);
* any **unfamiliar** failure makes the verdict ``unfamiliar`` (do not unlock); only familiar ones make
  it ``own_devices`` (unlock, and name the devices and apps that hold the old password); no failures
  at all is ``no_failures``, and a store without a log (LDAP) gives ``no_log``.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from firstline.directory.models import Device, OrgData, SignIn

__all__ = ["SignInReport", "assess", "moved_sign_ins"]

Verdict = Literal["no_log", "no_failures", "own_devices", "unfamiliar"]


@dataclass(frozen=True)
class SignInReport:
    """What the recent sign-in log says about a lockout; :meth:`summary` is the sentence for people."""

    verdict: Verdict
    failures: tuple[SignIn, ...] = ()
    unfamiliar: tuple[SignIn, ...] = ()
    sources: tuple[str, ...] = ()  # own devices and apps that keep failing: "NW-M-0119 (Exchange ActiveSync)"

    @property
    def safe_to_unlock(self) -> bool:
        """Nothing in the log points at anyone but the owner."""
        return self.verdict != "unfamiliar"

    def places(self) -> list[str]:
        """The unfamiliar origins, most frequent first: ``"203.0.113.14 (Moscow, RU) x7"``."""
        counts = Counter(_origin(s) for s in self.unfamiliar)
        return [f"{origin} x{n}" if n > 1 else origin for origin, n in counts.most_common()]

    def summary(self) -> str:
        """One or two sentences on what the log shows."""
        n = len(self.failures)
        if self.verdict == "no_log":
            return "No sign-in log is available for this account."
        if self.verdict == "no_failures":
            return "No failed sign-ins since the last successful one."
        if self.verdict == "own_devices":
            where = ", ".join(self.sources) or "its own devices"
            return f"{n} failed sign-in{'s' if n != 1 else ''}, all from the account's own devices and places: {where}."
        countries = sorted({s.country for s in self.unfamiliar if s.country})
        return (
            f"{len(self.unfamiliar)} of {n} failed sign-ins came from places this account has never signed in from"
            f"{' (' + ', '.join(countries) + ')' if countries else ''}: {', '.join(self.places()[:5])}. "
            "That looks like a password spray or guessing attack, not a forgotten password."
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "failed_sign_ins": len(self.failures),
            "unfamiliar_failures": len(self.unfamiliar),
            "unfamiliar_origins": self.places()[:8],
            "own_sources": list(self.sources),
            "summary": self.summary(),
        }


def assess(log: Sequence[SignIn] | None, devices: Iterable[Device] = (), trusted: Iterable[str] = ()) -> SignInReport:
    """Read ``log`` (one person's sign-ins, any order; ``None`` when the store keeps none) with their ``devices``.

    ``trusted`` are networks (``198.51.100.0/24``) whose failures count as familiar, e.g. the offices.
    """
    if log is None:
        return SignInReport("no_log")
    entries = sorted(log, key=lambda s: s.at)
    last_success = max((i for i, s in enumerate(entries) if s.success), default=-1)
    failures = tuple(s for s in entries[last_success + 1 :] if not s.success)
    if not failures:
        return SignInReport("no_log" if not entries else "no_failures")
    own = {d.hostname.lower() for d in devices}
    known_ips = {s.ip for s in entries if s.success and s.ip}
    networks = [ipaddress.ip_network(n, strict=False) for n in trusted]

    def familiar(s: SignIn) -> bool:
        if s.device and s.device.lower() in own:
            return True
        return bool(s.ip) and (s.ip in known_ips or _in(s.ip, networks))

    unfamiliar = tuple(s for s in failures if not familiar(s))
    if unfamiliar:
        return SignInReport("unfamiliar", failures, unfamiliar)
    sources = Counter(_source(s) for s in failures)
    return SignInReport("own_devices", failures, (), tuple(source for source, _ in sources.most_common()))


def moved_sign_ins(org: OrgData, now: datetime, before: timedelta = timedelta(hours=1)) -> OrgData:
    """``org`` with every sign-in moved by the same amount so the newest is ``before`` ago.

    A demo organisation is a snapshot; its log only means something while it is recent, so the demo
    is seeded with its log moved to the present (the order and spacing of the entries are kept).
    """
    if not org.sign_ins:
        return org
    shift = (now - before) - max(s.at for s in org.sign_ins)
    return replace(org, sign_ins=tuple(replace(s, at=s.at + shift) for s in org.sign_ins))


def _in(ip: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks)


def _origin(s: SignIn) -> str:
    place = ", ".join(p for p in (s.city, s.country) if p)
    return f"{s.ip or 'unknown address'}" + (f" ({place})" if place else "")


def _source(s: SignIn) -> str:
    if s.device and s.client:
        return f"{s.device} ({s.client})"
    return s.device or s.client or _origin(s)
