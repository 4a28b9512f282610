"""Single sign-on in a real browser: Firstline's button, the provider's own sign-in form, and back signed in.

The identity provider is oidc-provider-mock in its own process on 127.0.0.1; this module's ``live``
service (replacing the session's) has single sign-on turned on against it, beside the password accounts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from firstline.testing.live import clean_environment, live_service
from firstline.testing.oidc import OidcProvider

pytestmark = [pytest.mark.live, pytest.mark.slow]

expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """oidc-provider-mock on a free 127.0.0.1 port."""
    provider = OidcProvider(tmp_path_factory.mktemp("oidc") / "provider.log").start()
    try:
        yield provider.issuer
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, _session_cache: Path, issuer: str) -> Iterator[Any]:
    """The real service with single sign-on on (overrides the session's ``live`` for this module's ``pages``)."""
    sso = {"enabled": True, "issuer": issuer, "client_id": "firstline", "client_secret": "browser-tests",
           "display_name": "Meridian SSO", "agent_groups": ["IT-Agents"], "admin_groups": ["IT-Admins"]}  # fmt: skip
    data = tmp_path_factory.mktemp("live-sso")
    with clean_environment(_session_cache), live_service(data, sso=sso) as service:
        yield service


def _user(issuer: str, sub: str, **claims: Any) -> None:
    httpx.put(f"{issuer}/users/{sub}", json=claims).raise_for_status()


def _sign_in_at_provider(pages: Any, page: Any, issuer: str, sub: str) -> None:
    """On /login: press the company button, then sign in on the provider's own form."""
    expect(page.locator("#login-form")).to_be_visible()
    button = page.get_by_role("button", name="Sign in with Meridian SSO")
    expect(button).to_be_visible()
    pages.shot(page, f"login-{sub}")
    button.click()
    page.wait_for_url(re.compile(re.escape(issuer) + r"/oauth2/authorize\?"))
    page.locator("input[name=sub]").fill(sub)
    pages.shot(page, f"provider-{sub}")
    page.get_by_role("button", name="Authorize").click()


def test_an_employee_signs_in_with_the_company_account(pages: Any, issuer: str) -> None:
    _user(issuer, "pat", email="pat.doe@nwmeridian.co.uk", email_verified=True, name="Pat Doe", groups=["Finance"])
    page = pages.new()
    page.goto("/")
    page.wait_for_url(re.compile(r"/login\?next="))
    expect(page.get_by_label("Work e-mail")).to_be_visible()  # the password form stays beside the button
    _sign_in_at_provider(pages, page, issuer, "pat")
    page.wait_for_url(pages.live.base_url + "/")
    expect(page.locator("#who")).to_have_text("Signed in as Pat Doe")
    expect(page.get_by_label("Message to the IT helpdesk")).to_be_enabled()
    pages.shot(page, "chat-signed-in")


def test_an_agent_lands_in_the_console(pages: Any, issuer: str) -> None:
    _user(
        issuer, "sam", email="sam.agent@nwmeridian.co.uk", email_verified=True, name="Sam Agent", groups=["IT-Agents"]
    )
    page = pages.new()
    page.goto("/console")
    page.wait_for_url(re.compile(r"/login\?next=%2Fconsole"))
    _sign_in_at_provider(pages, page, issuer, "sam")
    page.wait_for_url(pages.live.base_url + "/console")
    expect(page.locator("#who")).to_contain_text("Sam Agent")
    pages.shot(page, "console-signed-in")


def test_a_refused_sign_in_is_explained_on_the_login_page(pages: Any, issuer: str) -> None:
    _user(issuer, "una", email="una@nwmeridian.co.uk", email_verified=False, name="Una Verified")
    page = pages.new()
    page.goto("/login?next=/console")
    _sign_in_at_provider(pages, page, issuer, "una")
    page.wait_for_url(re.compile(r"/login\?sso_error=email_unverified"))
    expect(page.get_by_role("alert").first).to_have_text(re.compile(r"e-mail address is not verified.*Meridian SSO"))
    expect(page.get_by_role("button", name="Sign in with Meridian SSO")).to_be_visible()  # a way to try again
    pages.shot(page, "login-refused")


def test_without_password_sign_in_only_the_company_button_shows(pages: Any, issuer: str) -> None:
    sso = pages.live.settings.sso  # the in-process server reads these settings on each request
    sso.password_sign_in = False
    try:
        page = pages.new()
        page.goto("/login?next=/console")
        button = page.get_by_role("button", name="Sign in with Meridian SSO")
        expect(button).to_be_focused()
        expect(page.get_by_label("Work e-mail")).to_have_count(0)
        expect(page.get_by_label("Password")).to_have_count(0)
        expect(page.get_by_text("Or sign in with your work e-mail")).to_have_count(0)
        pages.shot(page, "login-sso-only")
        answer = page.request.post("/v1/auth/login", data={"email": "x@nwmeridian.co.uk", "password": "y" * 14},
                                   headers={"X-Requested-With": "firstline"})  # fmt: skip
        assert answer.status == 403 and "Meridian SSO" in answer.json()["detail"]
    finally:
        sso.password_sign_in = True
