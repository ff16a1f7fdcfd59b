"""Schemathesis hooks for tests/run.sh (loaded through SCHEMATHESIS_HOOKS=hooks).

Schemathesis sends bodies that are not objects (arrays, strings, numbers, null, booleans) to
every route that takes one, but on routes under /v1/subscriptions/{id} it picks ids that do not
exist, so the API answers 404 before it ever reads the body. Here such a case is sent to a real
subscription instead, so that `negative_data_rejection` checks what the body alone gets: a 400.
Each case redirected is counted in HOOKLINE_FUZZ_HITS, which run.sh checks is not empty.
"""

import json
import os
import urllib.request

import schemathesis
from schemathesis.core import NOT_SET

BASE = os.environ["HOOKLINE_FUZZ_URL"]
KEY = os.environ["HOOKLINE_FUZZ_KEY"]
HITS = os.environ["HOOKLINE_FUZZ_HITS"]
_subscription_id = None


def subscription_id():
    global _subscription_id
    if _subscription_id is None:
        body = {"tenant_id": "fuzz", "url": "https://hooks.example.com/fuzz", "event_types": ["*"]}
        request = urllib.request.Request(
            BASE + "/v1/subscriptions",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request) as response:
            _subscription_id = json.load(response)["id"]
    return _subscription_id


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    if not path.startswith("/v1/subscriptions/{id}") or "id" not in case.path_parameters:
        return
    if case.body is NOT_SET or isinstance(case.body, dict):
        return
    case.path_parameters["id"] = subscription_id()
    with open(HITS, "a") as hits:
        hits.write(f"{case.method} {path} {json.dumps(case.body, default=repr)[:60]}\n")
