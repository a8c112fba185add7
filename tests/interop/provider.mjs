// A real, OpenID-certified authorization server (panva's oidc-provider v9) for the a2a-guard
// interop test. Loopback only.
//
//   node provider.mjs [PORT]        PORT from argv, else $PORT, else 0 (= pick a free one)
//   ALG=RS256|PS256|ES256|EdDSA     signing algorithm of access tokens (default RS256)
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
//
// Token exchange (grant_type=urn:ietf:params:oauth:grant-type:token-exchange): the caller
// presents `subject_token` (an access token this provider issued, subject_token_type
// urn:ietf:params:oauth:token-type:access_token), `resource=urn:agent-api` and optionally a
// narrower `scope` (must be a subset of the subject token's scope; default: the same scope);
// `audience=agent-api` is accepted alongside. The subject token's own `aud` is not checked.
// The issued token keeps the subject token's `sub`, has `client_id` = the caller and
// `act: {"sub": <caller>}`, nesting the subject token's own `act` if it had one (RFC 8693 §4.1).
// An optional `actor_token` must be one of our access tokens whose `sub` is the caller.
//
// Key rotation is done the way oidc-provider supports it: its keystore is fixed at
// construction, so /__rotate builds a new Provider with the new JWKS (same issuer, same
// clients, same in-memory adapter) and the HTTP server hands requests to it from then on.

import * as crypto from 'node:crypto';
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
const AUDIENCE = 'agent-api';
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

  for (const audience of [].concat(params.audience ?? [])) {
    if (audience !== AUDIENCE) {
      throw new errors.InvalidTarget(`unknown audience ${audience}; use ${AUDIENCE} or resource=${RESOURCE}`);
    }
  }
  const resources = [].concat(params.resource ?? []);
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
    ],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    clientDefaults: { id_token_signed_response_alg: ALG },
    jwks: { keys: signingKeys.map((k) => ({ ...k })) },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
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
  provider.on('grant.error', (_ctx, err) => console.error(`provider: grant.error ${err.error}: ${err.error_description}`));
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
