/**
 * A real OpenID provider for tests (npm oidc-provider, certified): JWT access tokens for agents and reviewers
 * (client credentials with a resource indicator), and the console's sign-in (authorization code + PKCE) through its
 * own login page. Plus a cookie-keeping HTTP walker that signs a reviewer in without a browser.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

export interface Person {
  sub: string;
  name?: string;
  roles?: string[];
  groups?: string[];
}

export interface TestOidc {
  issuer: string;
  port: number;
  jwksUrl: string;
  /** The `aud` of access tokens: the gateway as a resource (RFC 8707). */
  resource: string;
  consoleClientId: string;
  consoleClientSecret: string;
  /** An access token (JWT) for `sub`, obtained from the token endpoint with the client credentials grant. */
  token(sub: string): Promise<string>;
  stop(): Promise<void>;
}

/** A port that was free a moment ago (the OS picks it); for URLs that must be known before a server starts. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export const secretOf = (sub: string) => `${sub}-client-secret-0123456789abcdef`;

export async function startOidcProvider(opts: { people: Person[]; resource: string; consoleRedirectUris: string[] }): Promise<TestOidc> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const people = new Map(opts.people.map((p) => [p.sub, p]));
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'oidc-test-1', alg: 'RS256', use: 'sig' };
  const consoleClientId = 'portcullis-console';
  const consoleClientSecret = 'console-secret-0123456789abcdef0123456789';

  const provider = new Provider(issuer, {
    clients: [
      // Every person is also a client, so agents and API reviewers get tokens whose sub is that person.
      ...opts.people.map((p) => ({
        client_id: p.sub,
        client_secret: secretOf(p.sub),
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      })),
      {
        client_id: consoleClientId,
        client_secret: consoleClientSecret,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: opts.consoleRedirectUris,
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [jwk as never] },
    cookies: { keys: ['oidc-test-cookie-key-0123456789'] },
    scopes: ['openid', 'profile', 'groups'],
    claims: { openid: ['sub'], profile: ['name'], groups: ['groups', 'roles'] },
    // The console reads groups from the ID token; this provider also serves them at userinfo.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    ttl: { AccessToken: 3600, ClientCredentials: 3600, IdToken: 3600, Interaction: 600, Grant: 3600, Session: 3600, AuthorizationCode: 60 },
    async findAccount(_ctx, id) {
      const p = people.get(id);
      if (!p) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, name: p.name ?? id, groups: p.groups ?? [], roles: p.roles ?? [] }) };
    },
    // The console is first-party: no consent screen, as a company IdP would configure it.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      if (ctx.oidc.client!.clientId !== consoleClientId) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: consoleClientId, accountId: ctx.oidc.session!.accountId });
      grant.addOIDCScope('openid profile groups');
      grant.addOIDCClaims(['name', 'groups', 'roles']);
      await grant.save();
      return grant;
    },
    async extraTokenClaims(_ctx, token) {
      const id = (token as { accountId?: string }).accountId ?? (token as { clientId?: string }).clientId;
      const p = id ? people.get(id) : undefined;
      return p ? { roles: p.roles ?? [], groups: p.groups ?? [] } : undefined;
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        async getResourceServerInfo(_ctx, indicator) {
          if (indicator !== opts.resource) throw new errors.InvalidTarget();
          return { scope: 'mcp', audience: opts.resource, accessTokenFormat: 'jwt', accessTokenTTL: 3600, jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
  });
  // Quiet: the provider reports every server_error on its own emitter as well as in the response.
  provider.on('server_error', (_ctx: unknown, err: Error) => process.stderr.write(`oidc-provider server_error: ${err.stack}\n`));

  const server: Server = createServer(provider.callback());
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));

  return {
    issuer,
    port,
    jwksUrl: `${issuer}/jwks`,
    resource: opts.resource,
    consoleClientId,
    consoleClientSecret,
    async token(sub) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${sub}:${secretOf(sub)}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: opts.resource, scope: 'mcp' }),
      });
      const body = (await res.json()) as { access_token?: string };
      if (!res.ok || !body.access_token) throw new Error(`token for ${sub}: HTTP ${res.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Just enough of a browser: follows redirects by hand and keeps cookies per host:port. */
export class CookieWalker {
  readonly jar = new Map<string, Map<string, string>>();
  /** Every Set-Cookie header seen, raw, for asserting attributes. */
  readonly setCookies: string[] = [];

  cookieHeader(url: string): string {
    const m = this.jar.get(new URL(url).host);
    return m ? [...m].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }

  cookie(url: string, name: string): string | undefined {
    return this.jar.get(new URL(url).host)?.get(name);
  }

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const c = this.cookieHeader(url);
    if (c) headers.set('cookie', c);
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    const host = new URL(url).host;
    for (const sc of res.headers.getSetCookie()) {
      this.setCookies.push(sc);
      const [pair, ...attrs] = sc.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i).trim();
      const value = pair!.slice(i + 1).trim();
      const m = this.jar.get(host) ?? new Map<string, string>();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (expired) m.delete(name);
      else m.set(name, value);
      this.jar.set(host, m);
    }
    return res;
  }

  /** GETs `url` and follows redirects; returns the last response and its URL. */
  async follow(url: string, init: RequestInit = {}, max = 15): Promise<{ res: Response; url: string }> {
    let res = await this.fetch(url, init);
    let at = url;
    for (let i = 0; i < max && res.status >= 300 && res.status < 400; i++) {
      const loc = res.headers.get('location');
      if (!loc) break;
      await res.arrayBuffer();
      at = new URL(loc, at).toString();
      res = await this.fetch(at);
    }
    return { res, url: at };
  }

  /**
   * The console sign-in without a browser: /console/login → the provider's login form → submit → back to the
   * gateway's callback → session cookie. Returns the final URL (the console).
   */
  async signIn(gatewayBase: string, login: string, returnPath?: string): Promise<string> {
    const start = `${gatewayBase}/console/login${returnPath ? `?return=${encodeURIComponent(returnPath)}` : ''}`;
    const first = await this.follow(start);
    const html = await first.res.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (!action || !html.includes('name="login"')) throw new Error(`no login form at ${first.url}: ${first.res.status} ${html.slice(0, 500)}`);
    const submit = new URL(action.replace(/&amp;/g, '&'), first.url).toString();
    const posted = await this.fetch(submit, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ prompt: 'login', login, password: 'any' }),
    });
    const loc = posted.headers.get('location');
    if (!loc) throw new Error(`login submit: HTTP ${posted.status} ${await posted.text()}`);
    const done = await this.follow(new URL(loc, submit).toString());
    if (done.res.status !== 200 || !done.url.startsWith(`${gatewayBase}/console`)) {
      throw new Error(`sign-in ended at ${done.url} with HTTP ${done.res.status}: ${(await done.res.text()).slice(0, 500)}`);
    }
    await done.res.arrayBuffer();
    return done.url;
  }
}
