"""Drives a running Signet through a client generated from openapi.yaml.

    openapi-python-client generate --path openapi.yaml --meta none \
        --custom-template-path ci/openapi-python-client-templates \
        --output-path "$DIR/signet_client"
    PYTHONPATH="$DIR" python ci/client_smoke.py http://127.0.0.1:8080

Walks the life of a session with the generated code only (no hand-written
HTTP): sign up, log in (form body), userinfo, refresh (JSON body), userinfo
with the new token, introspection (when SIGNET_CI_CLIENT_ID and
SIGNET_CI_CLIENT_SECRET name a client), discovery of the keys, logout, and
checks that the logged-out session is refused. Every call goes through the
generated models, so a spec that disagrees with the server shows up as a
parse error, a wrong type or an undocumented status (the clients raise on
those).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import uuid
from typing import Any

from signet_client import AuthenticatedClient, Client
from signet_client.api.discovery import get_authorization_server_metadata, get_jwks
from signet_client.api.oauth import introspect, token
from signet_client.api.sessions import logout
from signet_client.api.users import get_userinfo, register_user
from signet_client.models import (
    ActiveAccessToken,
    ActiveRefreshToken,
    AuthorizationServerMetadata,
    InactiveToken,
    IntrospectRequest,
    JwkSet,
    OAuthError,
    Problem,
    SignUpRequest,
    TokenJsonRequest,
    TokenRequest,
    TokenResponse,
    User,
    UserInfo,
)


def step(text: str) -> None:
    print(f"  - {text}", flush=True)


def expect(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise AssertionError(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def jwt_part(token_text: str, index: int) -> dict[str, Any]:
    part = token_text.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def main(base_url: str) -> None:
    # raise_on_unexpected_status: a status the spec does not list is an error.
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True, timeout=30)

    def as_user(access_token: str) -> AuthenticatedClient:
        return AuthenticatedClient(
            base_url=base_url, token=access_token, raise_on_unexpected_status=True, timeout=30
        )

    local = f"Smoke.{uuid.uuid4().hex[:12]}"
    email = f"{local}@Example.com"
    password = "generated clients are people too"

    step("sign up (POST /v1/users)")
    user = expect(
        register_user.sync(client=anonymous, body=SignUpRequest(email=email, password=password)),
        User,
        "sign-up",
    )
    check(user.email == email.lower(), f"email not normalised: {user.email}")
    again = register_user.sync_detailed(
        client=anonymous, body=SignUpRequest(email=email.lower(), password=password)
    )
    check(again.status_code == 409, f"second sign-up: {again.status_code}")
    expect(again.parsed, Problem, "second sign-up")

    # The token endpoint's security is optional ({} or clientBasic); the
    # generator types it as needing an AuthenticatedClient, but the password
    # and refresh grants need no authentication, so a plain Client is right.
    step("log in (POST /oauth2/token, password grant, form body)")
    wrong = token.sync(
        client=anonymous,  # type: ignore[arg-type]
        body=TokenRequest(grant_type="password", username=email, password="not the password"),
    )
    expect(wrong, OAuthError, "wrong password")
    check(wrong.error.value == "invalid_grant", f"wrong password: {wrong.error}")
    login = expect(
        token.sync(
            client=anonymous,  # type: ignore[arg-type]
            body=TokenRequest(grant_type="password", username=email, password=password),
        ),
        TokenResponse,
        "login",
    )
    check(login.token_type == "Bearer", f"token_type {login.token_type}")
    check(isinstance(login.refresh_token, str) and len(login.refresh_token) >= 43, "refresh token")
    header, claims = jwt_part(login.access_token, 0), jwt_part(login.access_token, 1)
    check(header.get("typ") == "at+jwt", f"typ {header}")
    check(claims["sub"] == str(user.id), "sub is the user id")

    step("userinfo (GET /v1/userinfo)")
    info = expect(get_userinfo.sync(client=as_user(login.access_token)), UserInfo, "userinfo")
    check(info.sub == str(user.id) and info.email == user.email, f"userinfo {info}")
    check(info.sid == claims["sid"], "userinfo sid")

    step("refresh (POST /oauth2/token, refresh_token grant, JSON body)")
    refreshed = expect(
        token.sync(
            client=anonymous,  # type: ignore[arg-type]
            body=TokenJsonRequest(grant_type="refresh_token", refresh_token=login.refresh_token),
        ),
        TokenResponse,
        "refresh",
    )
    check(refreshed.refresh_token not in (None, login.refresh_token), "refresh token rotated")
    check(jwt_part(refreshed.access_token, 1)["sid"] == claims["sid"], "same session")
    info2 = expect(get_userinfo.sync(client=as_user(refreshed.access_token)), UserInfo, "userinfo")
    check(info2.sid == info.sid, "userinfo after refresh")

    client_id = os.environ.get("SIGNET_CI_CLIENT_ID")
    client_secret = os.environ.get("SIGNET_CI_CLIENT_SECRET")
    if client_id and client_secret:
        step("introspect (POST /oauth2/introspect, client_secret_basic)")
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        service = AuthenticatedClient(
            base_url=base_url, token=basic, prefix="Basic", raise_on_unexpected_status=True
        )
        active = introspect.sync(
            client=service, body=IntrospectRequest(token=refreshed.access_token)
        )
        expect(active, ActiveAccessToken, "introspect access token")
        check(active.sub == str(user.id) and active.sid == info.sid, f"introspection {active}")
        current = introspect.sync(
            client=service, body=IntrospectRequest(token=refreshed.refresh_token)
        )
        expect(current, ActiveRefreshToken, "introspect refresh token")
        rotated = introspect.sync(client=service, body=IntrospectRequest(token=login.refresh_token))
        expect(rotated, InactiveToken, "introspect rotated refresh token")
        check(rotated.active is False, "rotated token inactive")

    step("discovery (metadata, JWKS)")
    metadata = expect(
        get_authorization_server_metadata.sync(client=anonymous),
        AuthorizationServerMetadata,
        "metadata",
    )
    check(metadata.issuer == claims["iss"], f"issuer {metadata.issuer} vs {claims['iss']}")
    jwks = expect(get_jwks.sync(client=anonymous), JwkSet, "jwks")
    check(header["kid"] in {key.kid for key in jwks.keys}, "the token's kid is published")

    step("logout (POST /v1/logout)")
    done = logout.sync_detailed(client=as_user(refreshed.access_token))
    check(done.status_code == 204, f"logout: {done.status_code} {done.content!r}")

    step("the session is over: its tokens are refused")
    after = get_userinfo.sync_detailed(client=as_user(refreshed.access_token))
    check(after.status_code == 401, f"userinfo after logout: {after.status_code}")
    expect(after.parsed, Problem, "userinfo after logout")
    check(
        'error="invalid_token"' in after.headers.get("www-authenticate", ""), "RFC 6750 challenge"
    )
    old = get_userinfo.sync_detailed(client=as_user(login.access_token))
    check(old.status_code == 401, f"first access token after logout: {old.status_code}")
    dead = token.sync(
        client=anonymous,  # type: ignore[arg-type]
        body=TokenRequest(grant_type="refresh_token", refresh_token=refreshed.refresh_token),
    )
    expect(dead, OAuthError, "refresh after logout")
    check(dead.error.value == "invalid_grant", f"refresh after logout: {dead.error}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: client_smoke.py BASE_URL")
    print(f"generated-client smoke test against {sys.argv[1]}")
    main(sys.argv[1])
    print("generated client: sign-up, login, refresh, userinfo, logout: ok")
