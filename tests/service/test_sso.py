"""Single sign-on against a real OpenID Connect provider on 127.0.0.1 (oidc-provider-mock, Flask + authlib).

The provider signs real RS256 ID tokens with its own key, serves discovery and JWKS, checks registered
clients' secrets and redirect URIs, and lets the test set each user's claims (``PUT /users/{sub}``) and
sign in on its form (``POST`` to the authorization URL with ``sub``). Firstline runs in-process
(``TestClient``): the browser's part is played by following the redirects by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from firstline.channel_settings import SsoSettings
from firstline.errors import ConfigError
from firstline.service.app import create_app
from firstline.service.routes.sso import safe_next
from firstline.service.sso import Flow, OidcClient, SsoError, open_flow, seal_flow
from firstline.service.sso_tokens import IdTokenVerifier, identity_of, role_from_groups
from firstline.settings import load_settings
from firstline.testing.live import UNLIMITED
from firstline.testing.oidc import CALLBACK, OidcProvider

pytestmark = [pytest.mark.live, pytest.mark.slow]  # starts an OpenID provider process on 127.0.0.1


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    started = OidcProvider(tmp_path_factory.mktemp("oidc") / "provider.log").start()
    yield started
    started.stop()


@dataclass
class Sso:
    client: TestClient
    provider: OidcProvider

    @property
    def runtime(self) -> Any:
        return self.client.app.state.runtime  # type: ignore[attr-defined]

    def start(self, next_path: str | None = "/console") -> str:
        """GET /v1/auth/sso/login: the provider's authorization URL it redirects to."""
        answer = self.client.get("/v1/auth/sso/login", params={"next": next_path} if next_path else {},
                                 follow_redirects=False)  # fmt: skip
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        assert location.startswith(self.provider.issuer + "/oauth2/authorize?")
        return location

    def authorize(self, url: str, sub: str) -> str:
        """Sign in as ``sub`` on the provider's form; the callback URL it sends the browser to."""
        answer = httpx.post(url, data={"sub": sub})
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        assert location.startswith(CALLBACK)
        return location

    def callback(self, url: str) -> Any:  # the TestClient's response
        return self.client.get(url.removeprefix("http://testserver"), follow_redirects=False)

    def sign_in(self, sub: str, next_path: str | None = "/console") -> Any:
        return self.callback(self.authorize(self.start(next_path), sub))

    def me(self) -> dict[str, Any]:
        return dict(self.client.get("/v1/me").json())

    def sign_out(self) -> None:
        self.client.cookies.clear()


def _refused(answer: Any, code: str) -> None:
    assert answer.status_code == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert urlsplit(answer.headers["location"]).path == "/login"
    assert query["sso_error"] == [code], answer.headers["location"]


def _app(provider: OidcProvider, tmp: Path, client_id: str, secret: str, **sso: Any) -> Iterator[Sso]:
    settings = load_settings(
        data_dir=tmp,
        service=UNLIMITED,
        sso={"enabled": True, "issuer": provider.issuer, "client_id": client_id, "client_secret": secret,
             "display_name": "Meridian SSO", "agent_groups": ["IT-Agents"], "admin_groups": ["/IT-Admins"], **sso},
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:
        yield Sso(client, provider)


@pytest.fixture(scope="module")
def sso(provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sso]:
    client_id, secret = provider.register("client_secret_basic")
    yield from _app(provider, tmp_path_factory.mktemp("sso-data"), client_id, secret)


@pytest.fixture
def fresh(sso: Sso) -> Iterator[Sso]:
    sso.sign_out()
    yield sso
    sso.sign_out()


# -- signing in ------------------------------------------------------------------------------------


def test_auth_methods_are_public(fresh: Sso) -> None:
    methods = fresh.client.get("/v1/auth/methods").json()
    assert methods["password"] is True
    assert methods["sso"] == {"name": "Meridian SSO", "login_url": "/v1/auth/sso/login"}
    assert "cannot be reached" in methods["sso_errors"]["provider_unreachable"]
    assert "Meridian SSO" in methods["sso_errors"]["email_unverified"]


@pytest.mark.parametrize(
    ("sub", "groups", "role"),
    [("pat", ["Finance"], "requester"), ("sam", ["it-agents", "Finance"], "agent"), ("ada", ["/IT-Admins"], "admin")],
)
def test_sign_in_gives_the_role_of_the_groups(fresh: Sso, sub: str, groups: list[str], role: str) -> None:
    email = f"{sub}.{role}@meridian.example"
    fresh.provider.user(sub, email=email, email_verified=True, name=f"{sub.title()} Example", groups=groups)
    authorize = fresh.start("/console")
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["scope"] == ["openid email profile"] and query["nonce"] and query["state"]
    flow_cookie = fresh.client.cookies.get("firstline_sso")
    key = fresh.client.app.state.sso.key  # type: ignore[attr-defined]
    flow = open_flow(flow_cookie, key, query["state"][0])  # the cookie carries this sign-in's nonce and PKCE verifier
    assert flow.nonce == query["nonce"][0] and flow.next_path == "/console"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(flow.verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == [challenge]
    answer = fresh.callback(fresh.authorize(authorize, sub))
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("firstline_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert fresh.me() == {"email": email, "name": f"{sub.title()} Example", "role": role, "via": "session"}
    account = fresh.runtime.accounts.get(email)
    assert account.role == role and account.has_password is False
    assert fresh.runtime.channels.person("oidc", f"{fresh.provider.issuer}|{sub}") == email


def test_role_follows_the_groups_at_every_sign_in(fresh: Sso) -> None:
    email = "lee.agent@meridian.example"
    fresh.provider.user("lee", email=email, email_verified=True, groups=["IT-Agents"])
    fresh.sign_in("lee")
    assert fresh.me()["role"] == "agent"
    fresh.sign_out()
    fresh.provider.user("lee", email=email, email_verified=True, groups=[])
    fresh.sign_in("lee")
    assert fresh.me()["role"] == "requester"
    assert fresh.client.get("/v1/analytics").status_code == 403


def test_a_changed_e_mail_follows_the_subject(fresh: Sso) -> None:
    fresh.provider.user("kim", email="kim.old@meridian.example", email_verified=True)
    fresh.sign_in("kim")
    fresh.sign_out()
    fresh.provider.user("kim", email="kim.new@meridian.example", email_verified=True)
    fresh.sign_in("kim")
    assert fresh.me()["email"] == "kim.old@meridian.example"
    assert fresh.runtime.accounts.find("kim.new@meridian.example") is None


@pytest.mark.parametrize(
    ("asked", "landed"),
    [
        ("/console?q=vpn&sort=age", "/console?q=vpn&sort=age"),
        ("/", "/"),
        (None, "/"),
        ("//evil.example/steal", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x=y", "/"),
    ],
)
def test_next_is_kept_only_when_it_is_a_local_path(fresh: Sso, asked: str | None, landed: str) -> None:
    fresh.provider.user("nia", email="nia@meridian.example", email_verified=True)
    answer = fresh.sign_in("nia", asked)
    assert answer.status_code == 303 and answer.headers["location"] == landed


def test_a_callback_with_another_state_is_refused(fresh: Sso, caplog: pytest.LogCaptureFixture) -> None:
    fresh.provider.user("eve", email="eve@meridian.example", email_verified=True)
    callback = fresh.authorize(fresh.start(), "eve")
    forged = callback.replace("state=", "state=forged")
    with caplog.at_level(logging.WARNING, logger="firstline.service.routes.sso"):
        _refused(fresh.callback(forged), "flow_expired")
    assert "state is not the one" in caplog.text
    assert fresh.client.get("/v1/me").status_code == 401
    # The same callback in a browser that never started this sign-in (no flow cookie) is refused too.
    other = TestClient(fresh.client.app)
    _refused(other.get(callback.removeprefix("http://testserver"), follow_redirects=False), "flow_expired")
    assert fresh.runtime.accounts.find("eve@meridian.example") is None


def test_an_id_token_with_another_nonce_is_refused(fresh: Sso, caplog: pytest.LogCaptureFixture) -> None:
    fresh.provider.user("mal", email="mal@meridian.example", email_verified=True)
    authorize = fresh.start()
    nonce = parse_qs(urlsplit(authorize).query)["nonce"][0]
    replayed = authorize.replace(f"nonce={nonce}", "nonce=an-old-nonce")
    with caplog.at_level(logging.WARNING, logger="firstline.service.routes.sso"):
        _refused(fresh.callback(fresh.authorize(replayed, "mal")), "token_invalid")
    assert "nonce" in caplog.text
    assert fresh.client.get("/v1/me").status_code == 401


def test_the_person_declining_at_the_provider_is_a_clear_refusal(fresh: Sso) -> None:
    authorize = fresh.start()
    answer = httpx.post(authorize, data={"action": "deny"})
    assert "error=access_denied" in answer.headers["location"]
    _refused(fresh.callback(answer.headers["location"]), "provider_refused")


def test_an_unverified_or_missing_e_mail_is_refused(fresh: Sso) -> None:
    fresh.provider.user("una", email="una@meridian.example", email_verified=False, groups=["/IT-Admins"])
    _refused(fresh.sign_in("una"), "email_unverified")
    fresh.provider.user("nomail", name="No Mail")
    _refused(fresh.sign_in("nomail"), "email_missing")
    assert fresh.runtime.accounts.find("una@meridian.example") is None
    assert fresh.client.get("/v1/me").status_code == 401


def test_an_sso_only_account_cannot_use_the_password_form(fresh: Sso) -> None:
    fresh.provider.user("ivy", email="ivy@meridian.example", email_verified=True)
    fresh.sign_in("ivy")
    fresh.sign_out()
    answer = fresh.client.post("/v1/auth/login", json={"email": "ivy@meridian.example", "password": "x" * 20})
    assert answer.status_code == 401
    assert "company sign-in" in answer.json()["detail"]


def test_who_may_take_over_an_existing_account(fresh: Sso) -> None:
    accounts = fresh.runtime.accounts
    accounts.add("olga@meridian.example", "Olga Password", "agent", "a long passphrase!")
    # The provider does not say the address is verified: an account with a password is not handed over.
    fresh.provider.user("olga-idp", email="olga@meridian.example", groups=["IT-Agents"])
    _refused(fresh.sign_in("olga-idp"), "account_conflict")
    # It says so: the password account is tied to this subject and keeps its password.
    fresh.provider.user("olga-idp", email="olga@meridian.example", email_verified=True, groups=["IT-Agents"])
    assert fresh.sign_in("olga-idp").status_code == 303
    assert fresh.me()["email"] == "olga@meridian.example"
    assert accounts.get("olga@meridian.example").has_password
    fresh.sign_out()
    # Another subject of the same provider claiming the same address is refused, verified or not.
    fresh.provider.user("olga-impostor", email="olga@meridian.example", email_verified=True, groups=["/IT-Admins"])
    _refused(fresh.sign_in("olga-impostor"), "account_conflict")
    assert accounts.get("olga@meridian.example").role == "agent"


def test_a_disabled_account_stays_out(fresh: Sso) -> None:
    fresh.provider.user("dan", email="dan@meridian.example", email_verified=True)
    fresh.sign_in("dan")
    fresh.sign_out()
    fresh.runtime.accounts.set_active("dan@meridian.example", False)
    _refused(fresh.sign_in("dan"), "account_disabled")


def test_roles_can_be_kept_in_firstline_for_providers_without_groups(fresh: Sso) -> None:
    sso = fresh.runtime.settings.sso  # read on each request: switched for this test only
    sso.roles_from_groups = False
    try:
        fresh.runtime.accounts.add("gia@meridian.example", "Gia Agent", "agent", "a long passphrase!")
        fresh.provider.user("gia", email="gia@meridian.example", email_verified=True)  # Google sends no groups
        fresh.sign_in("gia")
        assert fresh.me()["role"] == "agent"
        fresh.sign_out()
        fresh.provider.user("gus", email="gus@meridian.example", email_verified=True, groups=["/IT-Admins"])
        fresh.sign_in("gus")
        assert fresh.me()["role"] == "requester"
    finally:
        sso.roles_from_groups = True


def test_the_client_secret_is_really_checked(provider: OidcProvider) -> None:
    client_id, secret = provider.register("client_secret_post")
    provider.user("sec", email="sec@meridian.example", email_verified=True)
    for method, given, ok in [("client_secret_post", secret, True), ("client_secret_post", "wrong", False)]:
        settings = SsoSettings(enabled=True, issuer=provider.issuer, client_id=client_id,
                               client_secret=given, token_endpoint_auth=method)  # fmt: skip
        client = OidcClient(settings)
        url, flow = client.begin(CALLBACK, "/")
        code = parse_qs(urlsplit(httpx.post(url, data={"sub": "sec"}).headers["location"]).query)["code"][0]
        if ok:
            tokens = client.exchange(code, flow.verifier, CALLBACK)
            claims = IdTokenVerifier(client).verify(tokens["id_token"], flow.nonce)
            assert claims["email"] == "sec@meridian.example"
        else:
            with pytest.raises(SsoError) as refused:
                client.exchange(code, flow.verifier, CALLBACK)
            assert refused.value.code == "provider_refused" and "invalid_client" in refused.value.reason


# -- the ID token --------------------------------------------------------------------------------


@pytest.fixture
def verifier(provider: OidcProvider) -> Iterator[IdTokenVerifier]:
    provider.user("tok", email="tok@meridian.example", email_verified=True, groups=["IT-Agents"])
    client = OidcClient(SsoSettings(enabled=True, issuer=provider.issuer, client_id="firstline", clock_skew_s=30))
    yield IdTokenVerifier(client)


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _refusal(verifier: IdTokenVerifier, token: str, nonce: str = "n-1") -> SsoError:
    with pytest.raises(SsoError) as refused:
        verifier.verify(token, nonce)
    return refused.value


def test_a_good_id_token_passes(verifier: IdTokenVerifier, provider: OidcProvider) -> None:
    claims = verifier.verify(provider.id_token("firstline", "tok", "n-1"), "n-1")
    identity = identity_of(claims, verifier.settings, verifier.client.issuer)
    assert (identity.email, identity.role, identity.verified) == ("tok@meridian.example", "requester", True)
    assert identity.subject == f"{provider.issuer}|tok"


def test_an_expired_id_token_is_refused(verifier: IdTokenVerifier, provider: OidcProvider) -> None:
    token = provider.id_token("firstline", "tok", "n-1")
    exp = _parts(token)[1]["exp"]
    verifier.clock = lambda: exp + 29  # within the 30 s of skew allowed
    assert verifier.verify(token, "n-1")["sub"] == "tok"
    verifier.clock = lambda: exp + 31
    refused = _refusal(verifier, token)
    assert refused.code == "token_expired" and "expired 31 s ago" in refused.reason


def test_an_id_token_from_the_future_is_refused(verifier: IdTokenVerifier, provider: OidcProvider) -> None:
    token = provider.id_token("firstline", "tok", "n-1")
    verifier.clock = lambda: _parts(token)[1]["iat"] - 120
    assert "in the future" in _refusal(verifier, token).reason


def test_a_changed_payload_breaks_the_signature(verifier: IdTokenVerifier, provider: OidcProvider) -> None:
    header, payload, signature = provider.id_token("firstline", "tok", "n-1").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = "ceo@meridian.example"
    refused = _refusal(verifier, f"{header}.{_b64(json.dumps(claims).encode())}.{signature}")
    assert refused.code == "token_invalid" and "signature" in refused.reason


def test_a_token_signed_with_another_key_is_refused(verifier: IdTokenVerifier, provider: OidcProvider) -> None:
    header, claims = _parts(provider.id_token("firstline", "tok", "n-1"))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = {"kid": header["kid"]} if "kid" in header else {}  # this provider signs without a kid: its only key
    forged = jwt.encode({**claims, "email": "ceo@meridian.example"}, other, algorithm="RS256", headers=kid)
    assert "signature" in _refusal(verifier, forged).reason
    unknown = jwt.encode(claims, other, algorithm="RS256", headers={"kid": "not-the-providers"})
    assert "no RS256 signing key" in _refusal(verifier, unknown).reason


def test_alg_none_and_hmac_with_the_public_key_are_refused(verifier: IdTokenVerifier, provider: OidcProvider) -> None:
    header, claims = _parts(provider.id_token("firstline", "tok", "n-1"))
    body = _b64(json.dumps(claims).encode())
    kid = {"kid": header["kid"]} if "kid" in header else {}
    unsigned = f"{_b64(json.dumps({'alg': 'none', **kid}).encode())}.{body}."
    assert "'none'" in _refusal(verifier, unsigned).reason
    key = jwt.PyJWK(verifier.client.signing_keys()[0]).key
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', **kid}).encode())}.{body}"
    mac = _b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())
    assert "'HS256'" in _refusal(verifier, f"{signing_input}.{mac}").reason


def test_a_token_for_another_client_or_issuer_is_refused(verifier: IdTokenVerifier, provider: OidcProvider) -> None:
    for_other_app = provider.id_token("payroll-app", "tok", "n-1")  # genuinely signed by the provider
    assert "another client" in _refusal(verifier, for_other_app).reason
    other_issuer = provider.id_token("firstline", "tok", "n-1", host=f"localhost:{provider.port}")
    assert _parts(other_issuer)[1]["iss"] == f"http://localhost:{provider.port}"
    assert "another issuer" in _refusal(verifier, other_issuer).reason


def test_a_wrong_nonce_is_refused(verifier: IdTokenVerifier, provider: OidcProvider) -> None:
    token = provider.id_token("firstline", "tok", "n-1")
    assert "nonce" in _refusal(verifier, token, nonce="n-2").reason


def test_several_audiences_need_azp_naming_this_client(verifier: IdTokenVerifier) -> None:
    verifier._check_party({"aud": ["firstline"], "sub": "x"})  # one audience: no azp needed
    verifier._check_party({"aud": ["firstline", "api"], "azp": "firstline"})
    refused: list[dict[str, Any]] = [
        {"aud": ["firstline", "api"]},
        {"aud": ["firstline", "api"], "azp": "api"},
        {"aud": "firstline", "azp": "other"},
    ]
    for claims in refused:
        with pytest.raises(SsoError):
            verifier._check_party(claims)


def test_roles_and_identity_from_claims() -> None:
    settings = SsoSettings(enabled=True, issuer="https://idp.example", client_id="c", agent_groups=["Service Desk"],
                           admin_groups=["/firstline/admins"], allowed_domains=["@Meridian.example"])  # fmt: skip
    assert settings.allowed_domains == ["meridian.example"]
    assert role_from_groups(("service desk",), settings) == "agent"
    assert role_from_groups(("firstline/admins", "Service Desk"), settings) == "admin"
    assert role_from_groups((), settings) == "requester"
    entra = {"sub": "s", "preferred_username": "Ana@Meridian.example", "email": "ana@gmail.example",
             "given_name": "Ana", "family_name": "Ruiz", "groups": "Service Desk"}  # fmt: skip
    upn = identity_of(entra, settings.model_copy(update={"email_claim": "preferred_username"}), "https://idp.example")
    assert (upn.email, upn.name, upn.role, upn.verified) == ("ana@meridian.example", "Ana Ruiz", "agent", False)
    with pytest.raises(SsoError) as refused:
        identity_of(entra, settings, "https://idp.example")
    assert refused.value.code == "domain_not_allowed"
    overage = {"sub": "s", "email": "bo@meridian.example", "_claim_names": {"groups": "src1"}}
    assert identity_of(overage, settings, "https://idp.example").role == "requester"
    google = settings.model_copy(update={"hosted_domain": "meridian.example", "allowed_domains": []})
    workspace = {"sub": "g", "email": "al@meridian.example", "email_verified": True, "hd": "meridian.example"}
    assert identity_of(workspace, google, "https://accounts.google.com").email == "al@meridian.example"
    with pytest.raises(SsoError) as consumer:  # a personal Google account using a work address: no hd
        identity_of({**workspace, "hd": None}, google, "https://accounts.google.com")
    assert consumer.value.code == "domain_not_allowed"


def test_the_flow_cookie_is_sealed_and_short_lived() -> None:
    key = b"k" * 32
    flow = Flow("state-1", "nonce-1", "v" * 64, "/console", time.time())
    sealed = seal_flow(flow, key)
    assert open_flow(sealed, key, "state-1") == flow
    body, _, signature = sealed.partition(".")
    changed = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    changed["p"] = "https://evil.example"
    for bad, state in [(sealed, "state-2"), (sealed + "x", "state-1"), (None, "state-1"),
                       (f"{_b64(json.dumps(changed).encode())}.{signature}", "state-1")]:  # fmt: skip
        with pytest.raises(SsoError):
            open_flow(bad, key, state)
    with pytest.raises(SsoError):
        open_flow(sealed, key, "state-1", now=flow.started + 601)


def test_safe_next() -> None:
    assert safe_next("/console#queue") == "/console#queue"
    assert [safe_next(p) for p in ("//x", "http://x/", "/\\x", "x", "", None, "/a\tb")] == ["/"] * 7


# -- settings --------------------------------------------------------------------------------------


def test_settings_say_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        load_settings(data_dir=tmp_path, sso={"enabled": True})
    assert "sso.enabled needs sso.issuer and sso.client_id" in str(missing.value)
    with pytest.raises(ConfigError) as locked_out:
        load_settings(data_dir=tmp_path, sso={"password_sign_in": False})
    assert "nobody could sign in" in str(locked_out.value)
    with pytest.raises(ConfigError) as plain:
        load_settings(data_dir=tmp_path, sso={"enabled": True, "issuer": "http://idp.example", "client_id": "c"})
    assert "https://" in str(plain.value)


def test_every_settings_example_in_the_operator_docs_is_valid() -> None:
    text = (Path(__file__).parents[2] / "docs" / "sso.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 5  # the general example and one per provider
    for block in blocks:
        settings = SsoSettings(**tomllib.loads(block)["sso"])
        assert settings.enabled and settings.issuer.startswith("https://") and settings.client_id


# -- password sign-in off, allowed domains, provider down ----------------------------------------


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sso]:
    own = OidcProvider(tmp_path_factory.mktemp("oidc-strict") / "provider.log").start()  # a test stops it
    try:
        yield from _app(own, tmp_path_factory.mktemp("sso-strict"), "firstline", "not-checked",
                        password_sign_in=False, allowed_domains=["nwmeridian.co.uk"], discovery_ttl_s=0)  # fmt: skip
    finally:
        own.stop()


def test_password_sign_in_can_be_turned_off(strict: Sso) -> None:
    assert strict.client.get("/v1/auth/methods").json()["password"] is False
    answer = strict.client.post("/v1/auth/login", json={"email": "x@nwmeridian.co.uk", "password": "y" * 14})
    assert answer.status_code == 403
    assert "sign in with Meridian SSO" in answer.json()["detail"]


def test_only_allowed_domains_sign_in(strict: Sso) -> None:
    strict.sign_out()
    strict.provider.user("out", email="someone@gmail.example", email_verified=True)
    _refused(strict.sign_in("out"), "domain_not_allowed")
    strict.provider.user("in", email="new.hire@nwmeridian.co.uk", email_verified=True)
    assert strict.sign_in("in").status_code == 303
    assert strict.me()["email"] == "new.hire@nwmeridian.co.uk"
    strict.sign_out()


def test_an_unreachable_provider_is_a_clear_error(strict: Sso, caplog: pytest.LogCaptureFixture) -> None:
    strict.provider.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="firstline.service.routes.sso"):
            answer = strict.client.get("/v1/auth/sso/login", params={"next": "/console"}, follow_redirects=False)
        _refused(answer, "provider_unreachable")
        assert parse_qs(urlsplit(answer.headers["location"]).query)["next"] == ["/console"]
        assert f"{strict.provider.issuer}/.well-known/openid-configuration cannot be reached" in caplog.text
        message = strict.client.get("/v1/auth/methods").json()["sso_errors"]["provider_unreachable"]
        assert message.startswith("The company sign-in (Meridian SSO) cannot be reached right now")
    finally:
        strict.provider.start()
