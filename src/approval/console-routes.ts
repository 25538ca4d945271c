/**
 * The reviewers' web console at /console: three static files (HTML, CSS, JS) under a strict CSP, the sign-in
 * routes, and /console/session, which tells the page who is signed in and hands it the CSRF token.
 */
import { readFileSync } from 'node:fs';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { ConsoleAuth } from './console-auth.js';
import type { Logger } from '../telemetry/logger.js';

export interface ConsoleRoutesOptions {
  /** Absent: the console still loads, and says sign-in is not configured (the API takes bearer tokens). */
  auth?: ConsoleAuth;
  log: Logger;
}

// Read once at start: the files ship next to this module (copied into dist/ by scripts/copy-assets.mjs).
function asset(name: string): string {
  return readFileSync(new URL(`./console/${name}`, import.meta.url), 'utf8');
}

// No inline script or style anywhere, so the policy can forbid both: an injected <script> cannot run.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function hardened(res: Response): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cache-Control', 'no-store');
}

export function createConsoleRoutes(opts: ConsoleRoutesOptions): express.Router {
  const { auth, log } = opts;
  const html = asset('index.html');
  const js = asset('console.js');
  const css = asset('console.css');
  const router = express.Router();

  const page = (_req: Request, res: Response) => {
    hardened(res);
    res.type('html').send(html);
  };
  router.get('/console', page);
  router.get('/console/approvals/:id', page);
  router.get('/console/console.js', (_req, res) => {
    hardened(res);
    res.type('text/javascript').send(js);
  });
  router.get('/console/console.css', (_req, res) => {
    hardened(res);
    res.type('text/css').send(css);
  });

  const wrap =
    (fn: (req: Request, res: Response) => Promise<void> | void) =>
    (req: Request, res: Response, next: NextFunction): void => {
      Promise.resolve(fn(req, res)).catch((err: unknown) => {
        log.error('console route failed', { path: req.path, error: (err as Error)?.stack ?? String(err) });
        next(err);
      });
    };

  router.get(
    '/console/session',
    wrap(async (req, res) => {
      hardened(res);
      const s = auth ? await auth.session(req) : null;
      if (!s) {
        res.json({ signedIn: false, signInAvailable: auth !== undefined });
        return;
      }
      const name = typeof s.subject.claims.name === 'string' ? s.subject.claims.name : undefined;
      res.json({
        signedIn: true,
        signInAvailable: true,
        user: { sub: s.subject.sub, iss: s.subject.iss, name, groups: s.subject.groups, roles: s.subject.roles },
        csrf: s.csrf,
        expiresAt: new Date(s.expiresAt).toISOString(),
      });
    }),
  );

  if (auth) {
    router.get('/console/login', wrap((req, res) => auth.login(req, res)));
    router.get('/console/callback', wrap((req, res) => auth.callback(req, res)));
    router.post(
      '/console/logout',
      wrap(async (req, res) => {
        hardened(res);
        const s = await auth.session(req);
        if (s && !auth.csrfOk(req, s)) {
          res.status(403).json({ error: 'csrf', message: 'missing or wrong X-CSRF-Token header' });
          return;
        }
        auth.logout(req, res);
        res.status(204).end();
      }),
    );
  }
  return router;
}
