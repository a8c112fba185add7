"""A2A interop: the official A2A Python SDK (a2a-sdk) against the agent_api demo.

    python check_agent.py --base http://127.0.0.1:PORT --client ID:SECRET

1. Fetches /.well-known/agent-card.json and parses it with the SDK's own protobuf types in
   strict mode (json_format.Parse without ignore_unknown_fields: an unknown member is an
   error), then with the SDK's REQUIRED-field validator, then with the SDK's card resolver
   (what an A2A client does), and checks the security members a2a-guard wrote.
2. Gets a client-credentials token at the card's tokenUrl, as an agent following the card.
3. Calls GetExtendedAgentCard through an SDK client whose AuthInterceptor takes the token
   from the SDK's InMemoryContextCredentialStore for the card's oauth2 scheme: 200 with the
   Authorization header the interceptor set; the same call without credentials gets 401.

Prints one line per check and a closing 'N passed, M failed'; exits 1 on any failure.
"""

import argparse
import asyncio
import sys

import httpx
from a2a.client import (
    A2ACardResolver,
    A2AClientError,
    AuthInterceptor,
    ClientCallContext,
    ClientConfig,
    ClientFactory,
    InMemoryContextCredentialStore,
)
from a2a.types import AgentCard, GetExtendedAgentCardRequest
from a2a.utils.proto_utils import validate_proto_required_fields
from google.protobuf import json_format

PASSED = 0
FAILED = 0


def check(name, ok, detail=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"  ok    {name}")
    else:
        FAILED += 1
        print(f"  FAIL  {name}" + (f": {detail}" if detail else ""))
    return ok


async def main(base, client_id, client_secret):
    seen = []  # (method, path, status, authorization header sent)

    async def record(response):
        request = response.request
        seen.append(
            (
                request.method,
                request.url.path,
                response.status_code,
                request.headers.get("authorization"),
                response.headers.get("www-authenticate"),
            )
        )

    async with httpx.AsyncClient(timeout=15, event_hooks={"response": [record]}) as http:
        # 1. The card, strictly.
        res = await http.get(f"{base}/.well-known/agent-card.json")
        check("GET /.well-known/agent-card.json without a token -> 200", res.status_code == 200,
              f"status {res.status_code}")
        raw = res.text
        try:
            card = json_format.Parse(raw, AgentCard())  # ignore_unknown_fields=False
            strict = True
        except json_format.ParseError as e:
            check("card parses strictly as a2a.types.AgentCard", False, str(e))
            return
        check("card parses strictly as a2a.types.AgentCard (unknown fields are errors)", strict)
        try:
            validate_proto_required_fields(card)
            check("every REQUIRED field of the card is set (SDK validator)", True)
        except Exception as e:  # InvalidParamsError carries the field list
            check("every REQUIRED field of the card is set (SDK validator)", False,
                  f"{e} {getattr(e, 'data', '')}")
        resolved = await A2ACardResolver(http, base).get_agent_card()
        check("the SDK's card resolver reads the same card", resolved == card)

        schemes = card.security_schemes
        check("securitySchemes has exactly the oauth2 scheme", list(schemes) == ["oauth2"],
              str(list(schemes)))
        oauth2 = schemes["oauth2"]
        check("oauth2 is an oauth2SecurityScheme", oauth2.HasField("oauth2_security_scheme"))
        flow = oauth2.oauth2_security_scheme.flows
        check("flows is clientCredentials", flow.HasField("client_credentials"))
        token_url = flow.client_credentials.token_url
        check("tokenUrl is an http(s) URL", token_url.startswith(("https://", "http://127.0.0.1")),
              token_url)
        scopes = dict(flow.client_credentials.scopes)
        check("scopes carry descriptions",
              bool(scopes) and all(scopes.values()) and "execute:payment" in scopes, str(scopes))
        check("oauth2MetadataUrl is set", bool(oauth2.oauth2_security_scheme.oauth2_metadata_url))
        reqs = [{k: list(v.list) for k, v in r.schemes.items()} for r in card.security_requirements]
        check("card securityRequirements: oauth2, no scope", reqs == [{"oauth2": []}], str(reqs))
        skills = {s.id: [{k: list(v.list) for k, v in r.schemes.items()}
                         for r in s.security_requirements] for s in card.skills}
        check("skill payments needs execute:payment",
              skills.get("payments") == [{"oauth2": ["execute:payment"]}], str(skills))
        check("skill data needs read:data and read:customers",
              skills.get("data") == [{"oauth2": ["read:data", "read:customers"]}], str(skills))
        iface = card.supported_interfaces[0] if card.supported_interfaces else None
        check("the interface is HTTP+JSON, protocol 1.0",
              iface is not None and iface.protocol_binding == "HTTP+JSON"
              and iface.protocol_version == "1.0", str(iface))

        # 2. A token from the card's tokenUrl.
        res = await http.post(
            token_url,
            auth=(client_id, client_secret),
            data={"grant_type": "client_credentials", "scope": "read:data"},
        )
        check("client credentials at the card's tokenUrl -> 200", res.status_code == 200,
              f"status {res.status_code}: {res.text[:200]}")
        token = res.json().get("access_token", "") if res.status_code == 200 else ""

        # 3. The SDK's client, auth interceptor and credential store.
        store = InMemoryContextCredentialStore()
        await store.set_credentials("session-1", "oauth2", token)
        config = ClientConfig(httpx_client=http, streaming=False,
                              supported_protocol_bindings=["HTTP+JSON"])
        client = ClientFactory(config).create(card, interceptors=[AuthInterceptor(store)])

        seen.clear()
        try:
            extended = await client.get_extended_agent_card(
                GetExtendedAgentCardRequest(),
                context=ClientCallContext(state={"sessionId": "session-1"}),
            )
            got = True
        except A2AClientError as e:
            extended, got = None, False
            check("GetExtendedAgentCard with the interceptor's token", False, str(e))
        if got:
            method, path, status, auth, _ = seen[-1] if seen else (None, None, None, None, None)
            check("GetExtendedAgentCard with the interceptor's token -> 200",
                  (method, path, status) == ("GET", "/extendedAgentCard", 200), str(seen))
            check("the interceptor sent Authorization: Bearer <the token>",
                  auth == f"Bearer {token}", str(auth)[:40])
            check("the extended card is the card", extended == card)

        seen.clear()
        try:
            await client.get_extended_agent_card(GetExtendedAgentCardRequest(),
                                                 context=ClientCallContext())
            check("GetExtendedAgentCard without credentials -> 401", False, "it succeeded")
        except A2AClientError:
            status, auth, www = (seen[-1][2], seen[-1][3], seen[-1][4]) if seen else (None,) * 3
            check("GetExtendedAgentCard without credentials -> 401",
                  status == 401 and auth is None, str(seen))
            check("the 401 challenges Bearer", (www or "").startswith("Bearer"), str(www))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True, help="the demo's URL (its resource URI)")
    p.add_argument("--client", required=True, help="ID:SECRET at the card's tokenUrl")
    a = p.parse_args()
    cid, _, secret = a.client.partition(":")
    try:
        asyncio.run(main(a.base.rstrip("/"), cid, secret))
    except Exception as e:  # an unexpected error is a failure, with its reason
        check("the run completed", False, f"{type(e).__name__}: {e}")
    print("a2a-interop: " + ("PASS" if FAILED == 0 and PASSED > 0 else "FAIL"))
    print(f"a2a-interop: {PASSED} passed, {FAILED} failed")
    sys.exit(0 if FAILED == 0 and PASSED > 0 else 1)
