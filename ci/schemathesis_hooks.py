"""Schemathesis hooks for ci/openapi.sh (loaded through schemathesis.toml).

Nothing here hides a failure or skips a check. The hooks only steer the run:
they keep it inside its time budget, and they let the stateful phase start
from real accounts so that its chains (sign-up -> login -> refresh /
introspect / revoke, the spec's links) reach the token endpoints with tokens
the server issued.
"""

import os
import uuid

import schemathesis

# `GET /v1/revocations?wait=N` legitimately holds the request for up to N
# (<= 30) seconds when nothing new is revoked. Every such example would cost
# up to 30 s of the budget, so valid long polls are shortened to 1 s: the
# same code path (the wait, then an answer) at a fraction of the time. Values
# that are not a valid wait (above 30, negative, not an integer) are sent as
# generated, since they must answer 400 at once.
LONG_POLL_CAP = 1


def _phase(case) -> str:
    meta = getattr(case, "meta", None)
    name = getattr(getattr(meta, "phase", None), "name", None)
    return str(getattr(name, "value", name))


def _mode(case) -> str:
    meta = getattr(case, "meta", None)
    mode = getattr(getattr(meta, "generation", None), "mode", None)
    return str(getattr(mode, "value", mode))


@schemathesis.hook
def before_call(context, case, kwargs):
    path, method = case.operation.path, case.operation.method.upper()
    if path == "/v1/revocations" and case.query:
        wait = case.query.get("wait")
        try:
            seconds = int(str(wait), 10)
        except (TypeError, ValueError):
            return
        if LONG_POLL_CAP < seconds <= 30 and str(wait).strip() == str(wait):
            case.query["wait"] = LONG_POLL_CAP if isinstance(wait, int) else str(LONG_POLL_CAP)
    elif (
        path == "/v1/password"
        and method == "POST"
        and _mode(case) == "positive"
        and isinstance(case.body, dict)
    ):
        # Right after a login the fuzz user's token may change the password
        # without the current one; a generated new password would lock every
        # later bearer request out. Valid changes keep the password.
        case.body["new_password"] = os.environ["SIGNET_CI_PASSWORD"]
    elif (
        path == "/v1/users"
        and method == "POST"
        and _phase(case) == "stateful"
        and _mode(case) == "positive"
        and isinstance(case.body, dict)
    ):
        # Random strings are almost never acceptable email addresses (the
        # fuzzing phase covers those 400s); a stateful chain needs an account.
        case.body["email"] = f"stateful-{uuid.uuid4().hex[:16]}@example.com"
        password = case.body.get("password")
        if not isinstance(password, str) or not 8 <= len(password) <= 256:
            case.body["password"] = f"stateful {uuid.uuid4().hex}"
