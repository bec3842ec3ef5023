// A real OpenID Connect provider (panva/oidc-provider) for Pitboss's single sign-on tests.
//
// It exists so that crates/auth/tests/oidc.rs exercises discovery, PKCE, the code exchange,
// ID token signatures and UserInfo against a certified implementation instead of a mock that
// agrees with our own assumptions. It keeps everything in memory and is never for production.
//
// Usage: node provider.mjs [--port N] [--host H] [--issuer URL]
//
// Environment (each has a default so that `node provider.mjs` alone works):
//   OIDC_PORT                 port to listen on; 0 (default) picks a free one
//   OIDC_HOST                 address to listen on (default 127.0.0.1)
//   OIDC_ISSUER               issuer identifier (default http://HOST:PORT, with the real port)
//   OIDC_CLIENT_ID            the one confidential client (default pitboss)
//   OIDC_CLIENT_SECRET        its secret (default pitboss-test-secret)
//   OIDC_REDIRECT_URIS        comma-separated redirect URIs
//                             (default http://127.0.0.1:8080/auth/oidc/callback)
//   OIDC_GROUPS_IN_ID_TOKEN   1: put the scope's claims (groups, email...) in the ID token too;
//                             0 (default): the conforming behaviour, those claims come only
//                             from the UserInfo endpoint
//
// Accounts (login / password → claims): alice / alice-password (groups pitboss-admins),
// bob / bob-password (groups pitboss-support), carol / carol-password (groups marketing, which
// Pitboss maps to nothing). Scopes: openid, email, profile, groups.
//
// When ready it prints `listening on <issuer>` on stdout.

import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import process from 'node:process';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    issuer: { type: 'string' },
  },
});

const host = args.host ?? process.env.OIDC_HOST ?? '127.0.0.1';
const requestedPort = Number(args.port ?? process.env.OIDC_PORT ?? 0);
const clientId = process.env.OIDC_CLIENT_ID || 'pitboss';
const clientSecret = process.env.OIDC_CLIENT_SECRET || 'pitboss-test-secret';
const redirectUris = (process.env.OIDC_REDIRECT_URIS || 'http://127.0.0.1:8080/auth/oidc/callback')
  .split(',')
  .map((uri) => uri.trim())
  .filter(Boolean);
const groupsInIdToken = ['1', 'true', 'yes'].includes((process.env.OIDC_GROUPS_IN_ID_TOKEN || '').toLowerCase());

/** The test accounts. The account id is the login and becomes the `sub` claim. */
const ACCOUNTS = new Map([
  ['alice', {
    password: 'alice-password',
    claims: {
      email: 'alice@pitboss.test', email_verified: true, name: 'Alice Admin',
      preferred_username: 'alice', groups: ['pitboss-admins'],
    },
  }],
  ['bob', {
    password: 'bob-password',
    claims: {
      email: 'bob@pitboss.test', email_verified: true, name: 'Bob Support',
      preferred_username: 'bob', groups: ['pitboss-support'],
    },
  }],
  ['carol', {
    password: 'carol-password',
    claims: {
      email: 'carol@pitboss.test', email_verified: true, name: 'Carol Marketing',
      preferred_username: 'carol', groups: ['marketing'],
    },
  }],
]);

function passwordMatches(account, password) {
  const expected = Buffer.from(account.password);
  const given = Buffer.from(String(password ?? ''));
  return expected.length === given.length && timingSafeEqual(expected, given);
}

// A fresh signing key per run: nothing secret is checked in, and the client must fetch the JWKS.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: `test-${Date.now()}` };

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // Every authorization request must carry a PKCE challenge (S256 is the only method v9 knows).
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  conformIdTokenClaims: !groupsInIdToken,
  async findAccount(_ctx, sub) {
    const account = ACCOUNTS.get(sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, ...account.claims };
      },
    };
  },
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<p id="error">${escapeHtml(out.error)}: ${escapeHtml(out.error_description ?? '')}</p>`);
  },
};

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;
}

function loginPage(uid, error) {
  return page('Sign in', `
<h1>Sign in to the test provider</h1>
${error ? `<p id="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
  <input type="text" name="login" autocomplete="username" autofocus>
  <input type="password" name="password" autocomplete="current-password">
  <button type="submit">Sign in</button>
</form>`);
}

function consentPage(uid, clientName, scopes) {
  return page('Authorize', `
<h1>Allow ${escapeHtml(clientName)} to use: ${escapeHtml(scopes.join(', '))}?</h1>
<form method="post" action="/interaction/${uid}/confirm">
  <input type="hidden" name="decision" value="allow">
  <button type="submit">Allow</button>
</form>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Builds (or extends) the grant the consent prompt asks for, so the authorization can resume. */
async function grantConsent(provider, interaction) {
  const { prompt: { details }, params, session: { accountId } } = interaction;
  const grant = interaction.grantId
    ? await provider.Grant.find(interaction.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  if (details.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  return grant.save();
}

/** The login and consent screens: a minimal stand-in for a real provider's UI. */
function interactions(provider) {
  return async (ctx, next) => {
    const match = /^\/interaction\/([\w-]+)(?:\/(login|confirm))?$/.exec(ctx.path);
    if (!match) return next();
    const [, uid, action] = match;
    ctx.set('cache-control', 'no-store');
    ctx.type = 'html';
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    if (interaction.uid !== uid) ctx.throw(400, 'interaction does not match this browser session');
    const { prompt } = interaction;

    if (!action && ctx.method === 'GET') {
      if (prompt.name === 'login') {
        ctx.body = loginPage(uid);
      } else {
        const client = await provider.Client.find(interaction.params.client_id);
        ctx.body = consentPage(uid, client?.clientName ?? interaction.params.client_id,
          String(interaction.params.scope ?? '').split(' '));
      }
      return undefined;
    }
    if (ctx.method !== 'POST') ctx.throw(405);

    const form = await readForm(ctx.req);
    let result;
    if (action === 'login' && prompt.name === 'login') {
      const login = form.get('login') ?? '';
      const account = ACCOUNTS.get(login);
      if (!account || !passwordMatches(account, form.get('password'))) {
        ctx.status = 401;
        ctx.body = loginPage(uid, 'Unknown login or wrong password.');
        return undefined;
      }
      result = { login: { accountId: login } };
    } else if (action === 'confirm' && prompt.name === 'consent') {
      result = { consent: { grantId: await grantConsent(provider, interaction) } };
    } else {
      ctx.throw(400, `unexpected ${action} for the ${prompt.name} prompt`);
    }
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(returnTo);
    return undefined;
  };
}

const server = http.createServer();
server.listen(requestedPort, host, () => {
  const { port } = server.address();
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const issuer = args.issuer ?? process.env.OIDC_ISSUER ?? `http://${urlHost}:${port}`;
  const provider = new Provider(issuer, configuration);
  provider.use(interactions(provider));
  server.on('request', provider.callback());
  console.log(`listening on ${issuer}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
