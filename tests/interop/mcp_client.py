"""Interop: the official MCP Python SDK (`mcp`, pinned in python/requirements.txt) as the client
of examples/mcp_server (a2a-guard + rmcp), with oidc-provider as the authorization server.

    mcp_client.py --server http://127.0.0.1:PORT/mcp --issuer http://127.0.0.1:PORT2
                  [--expect-challenge-metadata]

The SDK's `ClientCredentialsOAuthProvider` gets only the MCP server URL, the issuer its
credentials belong to and the credentials; it finds the rest itself: 401 -> RFC 9728 Protected
Resource Metadata -> authorization server metadata -> client-credentials token with
`resource` (RFC 8707) -> MCP session. Every HTTP exchange is recorded (httpx2 event hooks) and
checked. Two clients (registered in provider.mjs):

- `mcp-reader` may only get `read:data`: initialize, tools/list, read_data succeed;
  execute_payment is answered 403 `insufficient_scope` naming `execute:payment` (the SDK
  then tries a step-up, which the authorization server does not grant);
- `mcp-payer` may get both scopes: execute_payment succeeds.

With --expect-challenge-metadata the 401 must carry `resource_metadata` and the SDK must have
fetched the metadata from that URL. Prints one line per check and a summary; exits 1 on any
failure, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import urllib.parse
from dataclasses import dataclass, field
from importlib.metadata import version

import anyio
import httpx2
from mcp import Client, MCPError
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

TAG = "[mcp-sdk]"
WELL_KNOWN_PRM = "/.well-known/oauth-protected-resource"
TIMEOUT_S = 60


@dataclass
class Exchange:
    """One HTTP request the SDK sent, and the answer."""

    method: str
    url: str
    status: int
    www_authenticate: str
    form: dict[str, str] = field(default_factory=dict)  # token requests
    rpc_method: str | None = None  # MCP POSTs
    tool: str | None = None


class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def check(self, name: str, ok: bool, why: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"  ok    {TAG} {name}")
        else:
            self.failed.append(name)
            print(f"  FAIL  {TAG} {name}: {why}")
        return ok


def challenge_param(header: str, name: str) -> str | None:
    """One auth-param of a `WWW-Authenticate` value (quoted-string or token form)."""
    m = re.search(rf'(?:^|[\s,]){name}=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', header)
    if not m:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2)


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def recorder(server: str, log: list[Exchange]):
    async def on_response(response: httpx2.Response) -> None:
        req = response.request
        ex = Exchange(
            method=req.method,
            url=str(req.url),
            status=response.status_code,
            www_authenticate=response.headers.get("www-authenticate", ""),
        )
        try:
            body = req.content
        except httpx2.RequestNotRead:  # a streamed body: nothing we need is in one
            body = b""
        ctype = req.headers.get("content-type", "")
        if body and ctype.startswith("application/x-www-form-urlencoded"):
            ex.form = dict(urllib.parse.parse_qsl(body.decode()))
        elif body and req.method == "POST" and ex.url == server:
            msg = json.loads(body)
            ex.rpc_method = msg.get("method")
            if ex.rpc_method == "tools/call":
                ex.tool = msg.get("params", {}).get("name")
        log.append(ex)

    return on_response


def connect(server: str, issuer: str, client_id: str, log: list[Exchange], mode: str):
    auth = ClientCredentialsOAuthProvider(
        server_url=server,
        storage=MemoryStorage(),
        client_id=client_id,
        client_secret=f"{client_id}-secret",
        issuer=issuer,
    )
    http = httpx2.AsyncClient(
        auth=auth,
        timeout=httpx2.Timeout(15.0),
        event_hooks={"response": [recorder(server, log)]},
    )
    return http, auth, Client(streamable_http_client(server, http_client=http), mode=mode)


def tool_json(result) -> dict:
    return json.loads(result.content[0].text)


def check_discovery(c: Checks, log: list[Exchange], server: str, issuer: str, expect_challenge: bool):
    """401 -> metadata -> AS metadata -> token, in that order, as the SDK did it."""
    first = log[0] if log else None
    c.check(
        "first request to the MCP server: 401 with a Bearer challenge",
        first is not None
        and first.url == server
        and first.status == 401
        and first.www_authenticate.startswith("Bearer"),
        f"got {first}",
    )
    pointed = challenge_param(first.www_authenticate, "resource_metadata") if first else None
    prm = [e for e in log if e.method == "GET" and WELL_KNOWN_PRM in e.url]
    path_form = urllib.parse.urljoin(server, WELL_KNOWN_PRM + urllib.parse.urlparse(server).path)
    if pointed is not None:
        how, want = "the challenge's resource_metadata", pointed
    else:
        how, want = "the path-inserted well-known URL (no resource_metadata in the challenge)", path_form
    print(f"        {TAG} metadata URL from {how}: {want}")
    if expect_challenge:
        c.check("the 401 carries resource_metadata", pointed is not None, f"challenge: {first and first.www_authenticate}")
        c.check(
            "resource_metadata is the path-inserted metadata URL",
            pointed == path_form,
            f"{pointed} != {path_form}",
        )
    c.check(
        "metadata fetched first from that URL, 200",
        bool(prm) and prm[0].url == want and prm[0].status == 200,
        f"metadata requests: {[(e.url, e.status) for e in prm]}",
    )
    asm = [e for e in log if e.method == "GET" and e.url.startswith(issuer) and "/.well-known/" in e.url]
    c.check(
        "authorization server metadata found at the issuer",
        any(e.status == 200 for e in asm),
        f"requests: {[(e.url, e.status) for e in asm]}",
    )
    token_reqs = [e for e in log if e.form.get("grant_type") == "client_credentials"]
    t = token_reqs[0] if token_reqs else None
    c.check(
        "client_credentials token requested from the issuer with resource = the MCP server URL",
        t is not None and t.url.startswith(issuer) and t.status == 200 and t.form.get("resource") == server,
        f"token requests: {[(e.url, e.status, e.form) for e in token_reqs]}",
    )
    challenged = challenge_param(first.www_authenticate, "scope") if first else None
    if challenged is not None:
        # MCP scope selection: the challenge's scope comes before the metadata's scopes_supported.
        c.check(
            f"the token request asks for the scope the 401 named ({challenged})",
            t is not None and t.form.get("scope") == challenged,
            f"token request {t and t.form}",
        )
    order = [log.index(x) for x in (prm[:1] + asm[:1] + token_reqs[:1])]
    c.check("order: 401, metadata, AS metadata, token", len(order) == 3 and order == sorted(order), f"{order}")


async def reader(c: Checks, server: str, issuer: str, expect_challenge: bool) -> None:
    log: list[Exchange] = []
    http, auth, client = connect(server, issuer, "mcp-reader", log, mode="legacy")
    async with http:
        try:
            async with client:
                c.check(
                    "initialize (legacy handshake)",
                    client.server_info is not None and client.server_info.name == "a2a-guard-mcp-demo",
                    f"server_info {client.server_info}",
                )
                print(f"        {TAG} mcp-reader negotiated protocol {client.protocol_version}")
                check_discovery(c, log, server, issuer, expect_challenge)
                tokens = auth.context.current_tokens
                claims = jwt_claims(tokens.access_token) if tokens else {}
                c.check("access token aud = the resource URI", claims.get("aud") == server, f"claims {claims}")
                c.check("access token scope = read:data", claims.get("scope") == "read:data", f"claims {claims}")

                listed = await client.list_tools()
                names = sorted(t.name for t in listed.tools)
                c.check("tools/list", names == ["execute_payment", "read_data"], f"tools {names}")

                result = await client.call_tool("read_data", {})
                out = tool_json(result) if not result.is_error else {}
                c.check(
                    "tools/call read_data with read:data",
                    out.get("data") == [1, 2, 3] and out.get("for") == "mcp-reader",
                    f"result {result}",
                )

                before = len(log)
                paid = None
                try:
                    paid = await client.call_tool("execute_payment", {"amount_cents": 500, "payee": "acme"})
                except MCPError as e:
                    print(f"        {TAG} execute_payment raised MCPError: {e}")
                c.check(
                    "tools/call execute_payment without execute:payment fails",
                    paid is None or paid.is_error,
                    f"result {paid}",
                )
                denied = [e for e in log[before:] if e.tool == "execute_payment" and e.status == 403]
                www = denied[0].www_authenticate if denied else ""
                c.check(
                    "it was answered 403 error=insufficient_scope, scope=execute:payment",
                    challenge_param(www, "error") == "insufficient_scope"
                    and challenge_param(www, "scope") == "execute:payment",
                    f"answers: {[(e.tool, e.status, e.www_authenticate) for e in log[before:] if e.url == server]}",
                )
                step_up = [e for e in log[before:] if e.form.get("grant_type") == "client_credentials"]
                c.check(
                    "the SDK stepped up: a token request that asks for execute:payment",
                    any("execute:payment" in e.form.get("scope", "").split() for e in step_up),
                    f"token requests after the 403: {[e.form for e in step_up]}",
                )
        finally:
            if c.failed:
                print(f"        {TAG} HTTP exchanges (mcp-reader):")
                for e in log:
                    print(f"          {e.method} {e.url} -> {e.status} {e.www_authenticate}")


async def payer(c: Checks, server: str, issuer: str) -> None:
    """A client allowed both scopes. When the 401 asks only for read:data, its first token
    lacks execute:payment: the payment call is refused 403, the SDK steps up (a token for
    both scopes) and retries, and the retry succeeds."""
    log: list[Exchange] = []
    # mode "auto": the SDK probes `server/discover` and takes the stateless 2026-07-28 protocol
    # when the server offers it (rmcp does), so both protocol generations pass the guard.
    http, _auth, client = connect(server, issuer, "mcp-payer", log, mode="auto")
    async with http:
        async with client:
            print(f"        {TAG} mcp-payer negotiated protocol {client.protocol_version}")
            result = await client.call_tool("execute_payment", {"amount_cents": 500, "payee": "acme"})
            out = tool_json(result) if not result.is_error else {}
            c.check(
                "tools/call execute_payment with execute:payment (client mcp-payer)",
                out.get("executed") is True and out.get("by") == "mcp-payer",
                f"result {result}",
            )
            calls = [e for e in log if e.tool == "execute_payment"]
            tokens = [e for e in log if e.form.get("grant_type") == "client_credentials"]
            first_scope = tokens[0].form.get("scope", "").split() if tokens else []
            if "execute:payment" in first_scope:
                print(f"        {TAG} mcp-payer asked for execute:payment up front: no step-up needed")
            else:
                c.check(
                    "step-up: 403 insufficient_scope, a token with execute:payment, the retry is 200",
                    [e.status for e in calls] == [403, 200]
                    and any(
                        "execute:payment" in e.form.get("scope", "").split() and e.status == 200
                        for e in tokens[1:]
                    )
                    and log.index(calls[0]) < log.index(tokens[-1]) < log.index(calls[1]),
                    f"payment calls {[e.status for e in calls]}, token requests {[(e.status, e.form.get('scope')) for e in tokens]}",
                )


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", required=True, help="the MCP endpoint, http://127.0.0.1:PORT/mcp")
    p.add_argument("--issuer", required=True, help="the authorization server's issuer URL")
    p.add_argument("--expect-challenge-metadata", action="store_true")
    a = p.parse_args()
    print(f"==> MCP Python SDK mcp {version('mcp')} (httpx2 {version('httpx2')}) against {a.server}")
    c = Checks()
    for name, run in (
        ("mcp-reader", lambda: reader(c, a.server, a.issuer, a.expect_challenge_metadata)),
        ("mcp-payer", lambda: payer(c, a.server, a.issuer)),
    ):
        try:
            with anyio.fail_after(TIMEOUT_S):
                await run()
        except Exception as e:  # noqa: BLE001 - any SDK failure is a failed check
            c.check(f"{name} session completes", False, f"{type(e).__name__}: {e}")
    total = c.passed + len(c.failed)
    if c.failed:
        print(f"interop mcp (python mcp {version('mcp')}): FAIL {len(c.failed)} of {total} checks: {'; '.join(c.failed)}")
        return 1
    print(f"interop mcp (python mcp {version('mcp')}): PASS {total}/{total} checks")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
