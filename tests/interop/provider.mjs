// A real, OpenID-certified authorization server (panva's oidc-provider v9) for the a2a-guard
// interop test. Loopback only.
//
//   node provider.mjs [PORT]        PORT from argv, else $PORT, else 0 (= pick a free one)
//   ALG=RS256|PS256|ES256|EdDSA     signing algorithm of access tokens (default RS256)
//   CLIENT_KEY_FILE=PATH            write the private key of client `agent-jwt` there (PKCS#8
//                                   PEM, mode 0600) before printing the ready line
//
// When ready it prints one line on stdout:  `provider ready ISSUER alg=ALG kid=KID`.
//
// What it serves (issuer http://127.0.0.1:PORT):
// - OIDC discovery, JWKS, /token with `client_credentials` and RFC 8693 token exchange.
// - Resource indicator `urn:agent-api` (RFC 8707 requires an absolute URI; oidc-provider enforces
//   it): JWT access tokens (`typ: at+jwt`, RFC 9068) with `aud: agent-api`, signed with ALG.
// - `POST /__rotate` (test hook, not part of oidc-provider): generates a new key, puts it first
//   in the JWKS (it signs every new token from then on) and keeps the old keys published.
//   Answers `{"kid": NEW, "kids": [ALL], "jwks_fetches": N}`; `GET /__keys` answers the same
//   without rotating (`jwks_fetches` counts the GETs of /jwks so far).
// - `GET /__events` (test hook): `{"use_dpop_nonce": N}`, how many token requests were
//   answered `use_dpop_nonce` so far (lets tests/interop/client.sh see the nonce round trip).
// - `urn:orchestrator`: JWT access tokens with `aud: orchestrator`, the same scopes: what a
//   caller of the orchestrator example holds (tests/interop/orchestrator.sh). The orchestrator
//   exchanges them for `aud: agent-api` tokens; agent_api refuses them as they are.
// - `urn:agent-api:opaque`: the same scopes, but opaque access tokens (oidc-provider revokes
//   only opaque tokens: RFC 7009 on a JWT is `unsupported_token_type`).
// - DPoP (RFC 9449): on, with server nonces required — a token request whose proof has no
//   (or a stale) nonce is answered 400 `use_dpop_nonce` with a `DPoP-Nonce` header, and the
//   token that follows is `token_type: DPoP` with `cnf.jkt`. Requests without a DPoP proof
//   are unaffected. Token exchange does not bind tokens to DPoP keys.
// - Revocation (RFC 7009, /token/revocation): a client may revoke only its own tokens.
// - Introspection (RFC 7662, /token/introspection): the resource server `agent-api` may
//   introspect any token, another client only its own. Only opaque tokens are found there
//   (oidc-provider does not store its JWT access tokens); an opaque token's `aud` is its
//   resource indicator, `urn:agent-api:opaque`.
//
// - MCP resources (the mcp_server example; tests/interop/mcp.sh): any resource indicator
//   `http://127.0.0.1:<port>/mcp` (the port is known only once the server runs). Its tokens
//   carry `aud` = that URI, as the MCP authorization spec requires, and only the scopes the
//   client may have there (see MCP_SCOPES); other requested scopes are silently left out.
//
// Clients (client_secret_basic or client_secret_post):
// - `orchestrator` / `orchestrator-secret`: client_credentials and token exchange.
// - `analyst` / `analyst-secret`: client_credentials and token exchange (a second hop).
// - `portal` / `portal-secret`: client_credentials only (the party on whose behalf agents act).
// - `mcp-reader` / `mcp-reader-secret`: client_credentials; on MCP resources `read:data` only.
// - `mcp-payer` / `mcp-payer-secret`: client_credentials; `read:data execute:payment` on MCP.
// - `agent-api` / `agent-api-secret`: the resource server; no grant, introspection only.
// - `agent-jwt`: client_credentials with `private_key_jwt` (RFC 7523) only; its public key is an
//   ES256 (P-256) key generated at start, the private half written to $CLIENT_KEY_FILE.
//
// Token exchange (grant_type=urn:ietf:params:oauth:grant-type:token-exchange): the caller
// presents `subject_token` (an access token this provider issued, subject_token_type
// urn:ietf:params:oauth:token-type:access_token), `resource=urn:agent-api` and optionally a
// narrower `scope` (must be a subset of the subject token's scope; default: the same scope);
// `audience=agent-api` is accepted alongside, or alone (RFC 8693 §2.1: it then stands for
// `resource=urn:agent-api`). The subject token's own `aud` is not checked.
// The issued token keeps the subject token's `sub`, has `client_id` = the caller and
// `act: {"sub": <caller>}`, nesting the subject token's own `act` if it had one (RFC 8693 §4.1).
// An optional `actor_token` must be one of our access tokens whose `sub` is the caller.
//
// Key rotation is done the way oidc-provider supports it: its keystore is fixed at
// construction, so /__rotate builds a new Provider with the new JWKS (same issuer, same
// clients, same in-memory adapter) and the HTTP server hands requests to it from then on.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

const ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'];
const ALG = process.env.ALG || 'RS256';
if (!ALGS.includes(ALG)) {
  console.error(`provider: ALG must be one of ${ALGS.join(', ')}, got ${ALG}`);
  process.exit(2);
}
const portArg = process.argv[2] ?? process.env.PORT ?? '0';
const PORT = Number.parseInt(portArg, 10);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  console.error(`provider: bad port ${portArg}`);
  process.exit(2);
}

const RESOURCE = 'urn:agent-api';
const OPAQUE_RESOURCE = 'urn:agent-api:opaque';
const AUDIENCE = 'agent-api';
const ORCHESTRATOR_RESOURCE = 'urn:orchestrator';
const ORCHESTRATOR_AUDIENCE = 'orchestrator';
const SCOPES = 'read:data write:reports execute:payment delegate:analysis read:customers:eu';
// Loopback MCP endpoints, and what each MCP client may be granted there.
const MCP_RESOURCE = /^http:\/\/127\.0\.0\.1:[0-9]{1,5}\/mcp$/;
const MCP_SCOPES = { 'mcp-reader': 'read:data', 'mcp-payer': 'read:data execute:payment' };
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

// ---- keys ---------------------------------------------------------------------------------

let keyCounter = 0;
function generateKey(alg) {
  let pair;
  switch (alg) {
    case 'RS256':
    case 'PS256':
      pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      break;
    case 'ES256':
      pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      break;
    case 'EdDSA':
      pair = crypto.generateKeyPairSync('ed25519');
      break;
    default:
      throw new Error(`unsupported alg ${alg}`);
  }
  keyCounter += 1;
  const jwk = pair.privateKey.export({ format: 'jwk' });
  return {
    ...jwk,
    kid: `${alg.toLowerCase()}-${keyCounter}-${crypto.randomBytes(6).toString('hex')}`,
    alg,
    use: 'sig',
  };
}

// Newest first: oidc-provider signs with the first key that fits the algorithm.
let signingKeys = [generateKey(ALG)];
const publicJwks = () => ({
  keys: signingKeys.map(({ d, p, q, dp, dq, qi, ...pub }) => pub),
});

// The `private_key_jwt` client's key: fixed for the life of the process (it survives
// /__rotate, which rebuilds the Provider with the same clients).
const clientKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const clientPublicJwk = { ...clientKey.publicKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig' };
if (process.env.CLIENT_KEY_FILE) {
  fs.writeFileSync(
    process.env.CLIENT_KEY_FILE,
    clientKey.privateKey.export({ format: 'pem', type: 'pkcs8' }),
    { mode: 0o600 },
  );
}

// RFC 9449 §8: the server's DPoP nonces. Fixed for the life of the process, so a nonce
// stays good across /__rotate.
const dpopNonceSecret = crypto.randomBytes(32);

// ---- token exchange ---------------------------------------------------------------------

// The ClientCredentials tokens minted by the token-exchange handler, with the `sub` and `act`
// the JWT customizer writes into them.
const exchanged = new WeakMap();

async function verifyOwnAccessToken(token, what, issuer) {
  if (typeof token !== 'string' || !token) {
    throw new errors.InvalidRequest(`${what} missing`);
  }
  try {
    const { payload } = await jose.jwtVerify(token, jose.createLocalJWKSet(publicJwks()), {
      issuer,
      typ: 'at+jwt',
      algorithms: [ALG],
    });
    return payload;
  } catch (err) {
    throw new errors.InvalidGrant(`${what} invalid (${err.code || err.message})`);
  }
}

function getResourceServerInfo(_ctx, resourceIndicator, client) {
  if (MCP_RESOURCE.test(resourceIndicator)) {
    const scope = MCP_SCOPES[client?.clientId];
    if (!scope) {
      throw new errors.InvalidTarget(`client ${client?.clientId} has no access to ${resourceIndicator}`);
    }
    return {
      scope,
      audience: resourceIndicator,
      accessTokenFormat: 'jwt',
      accessTokenTTL: 600,
      jwt: { sign: { alg: ALG, kid: signingKeys[0].kid } },
    };
  }
  if (resourceIndicator === OPAQUE_RESOURCE) {
    return { scope: SCOPES, accessTokenFormat: 'opaque', accessTokenTTL: 600 };
  }
  if (resourceIndicator === ORCHESTRATOR_RESOURCE) {
    return {
      scope: SCOPES,
      audience: ORCHESTRATOR_AUDIENCE,
      accessTokenFormat: 'jwt',
      accessTokenTTL: 600,
      jwt: { sign: { alg: ALG, kid: signingKeys[0].kid } },
    };
  }
  if (resourceIndicator !== RESOURCE) {
    throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}; use ${RESOURCE}`);
  }
  return {
    scope: SCOPES,
    audience: AUDIENCE,
    accessTokenFormat: 'jwt',
    accessTokenTTL: 600,
    jwt: { sign: { alg: ALG, kid: signingKeys[0].kid } },
  };
}

async function tokenExchangeHandler(ctx) {
  const { params, client } = ctx.oidc;
  const provider = ctx.oidc.provider;

  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
  }
  if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
  }
  const subject = await verifyOwnAccessToken(params.subject_token, 'subject_token', provider.issuer);

  if (params.actor_token !== undefined) {
    if (params.actor_token_type !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`actor_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }
    const actor = await verifyOwnAccessToken(params.actor_token, 'actor_token', provider.issuer);
    if (actor.sub !== client.clientId) {
      throw new errors.InvalidGrant('actor_token does not belong to the authenticated client');
    }
  }

  const audiences = [].concat(params.audience ?? []);
  for (const audience of audiences) {
    if (audience !== AUDIENCE) {
      throw new errors.InvalidTarget(`unknown audience ${audience}; use ${AUDIENCE} or resource=${RESOURCE}`);
    }
  }
  const resources = [].concat(params.resource ?? []);
  // RFC 8693 §2.1: `audience` alone names the target (the orchestrator example asks so).
  if (resources.length === 0 && audiences.length) resources.push(RESOURCE);
  if (resources.length !== 1) {
    throw new errors.InvalidTarget(`exactly one resource is required (${RESOURCE})`);
  }
  const resourceServer = new provider.ResourceServer(
    resources[0],
    getResourceServerInfo(ctx, resources[0], client),
  );

  const granted = new Set(typeof subject.scope === 'string' ? subject.scope.split(' ') : []);
  const requested = params.scope ? params.scope.split(' ') : [...granted];
  const notGranted = requested.filter((s) => !granted.has(s) || !resourceServer.scopes.has(s));
  if (notGranted.length) {
    throw new errors.InvalidScope('requested scope exceeds the subject token\'s scope', notGranted.join(' '));
  }

  const token = new provider.ClientCredentials({ client, scope: requested.join(' ') || undefined });
  token.resourceServer = resourceServer;
  const act = { sub: client.clientId };
  if (subject.act) act.act = subject.act;
  exchanged.set(token, { sub: subject.sub, act });

  ctx.oidc.entity('ClientCredentials', token);
  const value = await token.save();

  ctx.body = {
    access_token: value,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: token.tokenType,
    expires_in: token.expiration,
    scope: token.scope,
  };
}

// ---- provider -----------------------------------------------------------------------------

const client = (id, grantTypes) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  grant_types: grantTypes,
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
});

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: [
      client('orchestrator', ['client_credentials', TOKEN_EXCHANGE]),
      client('analyst', ['client_credentials', TOKEN_EXCHANGE]),
      client('portal', ['client_credentials']),
      client('mcp-reader', ['client_credentials']),
      client('mcp-payer', ['client_credentials']),
      client('agent-api', []),
      {
        client_id: 'agent-jwt',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [clientPublicJwk] },
      },
    ],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    clientDefaults: { id_token_signed_response_alg: ALG },
    jwks: { keys: signingKeys.map((k) => ({ ...k })) },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: { enabled: true, nonceSecret: dpopNonceSecret, requireNonce: () => true },
      introspection: {
        enabled: true,
        allowedPolicy: (_ctx, client, token) =>
          client.clientId === 'agent-api' || token.clientId === client.clientId,
      },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        getResourceServerInfo,
      },
    },
    formats: {
      customizers: {
        // Token exchange only: RFC 8693 §4.1 — the subject stays, the caller becomes the actor.
        jwt(_ctx, token, jwt) {
          const ex = exchanged.get(token);
          if (ex) {
            jwt.payload.sub = ex.sub;
            jwt.payload.act = ex.act;
          }
        },
      },
    },
  });
  provider.registerGrantType(
    TOKEN_EXCHANGE,
    tokenExchangeHandler,
    ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type',
      'requested_token_type', 'resource', 'audience', 'scope'],
    ['resource', 'audience'],
  );
  provider.on('server_error', (_ctx, err) => console.error('provider: server_error', err));
  provider.on('grant.error', (_ctx, err) => {
    if (err.error === 'use_dpop_nonce') useDpopNonce += 1;
    console.error(`provider: grant.error ${err.error}: ${err.error_description}`);
  });
  return provider;
}

// ---- HTTP server --------------------------------------------------------------------------

let handler = null;
let issuer = null;

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

// How often the JWKS was served: lets the driver see the resource server refetch it.
let jwksFetches = 0;
// How many token requests were answered `use_dpop_nonce` (GET /__events).
let useDpopNonce = 0;
const keyInfo = () => ({
  kid: signingKeys[0].kid,
  kids: signingKeys.map((k) => k.kid),
  jwks_fetches: jwksFetches,
});

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/__rotate') {
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
    signingKeys = [generateKey(ALG), ...signingKeys];
    handler = buildProvider(issuer).callback();
    console.log(`provider rotated kid=${signingKeys[0].kid} published=${signingKeys.length}`);
    return sendJson(res, 200, keyInfo());
  }
  if (path === '/__keys') return sendJson(res, 200, keyInfo());
  if (path === '/__events') return sendJson(res, 200, { use_dpop_nonce: useDpopNonce });
  if (path === '/jwks' && req.method === 'GET') jwksFetches += 1;
  return handler(req, res);
});

server.on('error', (err) => {
  console.error(`provider: cannot listen on 127.0.0.1:${PORT}: ${err.message}`);
  process.exit(1);
});

server.listen(PORT, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  handler = buildProvider(issuer).callback();
  console.log(`provider ready ${issuer} alg=${ALG} kid=${signingKeys[0].kid}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}
