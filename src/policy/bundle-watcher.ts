/** Watches the bundle file and hot-loads each new version; a bundle that fails to load is logged and ignored. */
import { readFile, stat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../telemetry/logger.js';
import type { PolicyEngine } from './engine.js';

export type ComponentState = 'not_ready' | 'ok' | 'error' | 'warn';

export interface BundleWatcherOptions {
  path: string;
  pollIntervalMs: number;
  engine: PolicyEngine;
  log: Logger;
  onActivate?: () => void;
  /** Told of every rejected bundle (metrics count them); the watcher keeps its own count in `rejections` too. */
  onReject?: (reason: string) => void;
}

export class BundleWatcher {
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private lastSeen = '';
  private lastError: string | null = null;
  private loading: Promise<void> | null = null;
  private pending = false;
  /** Bundles rejected since start: a counter for metrics (portcullis_policy_bundle_rejections_total). */
  rejections = 0;

  constructor(private readonly opts: BundleWatcherOptions) {}

  async start(): Promise<void> {
    await this.check();
    // fs.watch on the directory sees atomic renames (how opa build and deploy tools replace files);
    // the poll is the fallback for file systems without events.
    try {
      const file = basename(this.opts.path);
      this.watcher = watch(dirname(this.opts.path), (_event, name) => {
        if (name === null || name === file) void this.check();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      this.opts.log.warn('bundle directory cannot be watched; polling only', { path: this.opts.path });
    }
    this.timer = setInterval(() => void this.check(), this.opts.pollIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.watcher?.close();
  }

  status(): ComponentState {
    if (!this.opts.engine.bundle) return this.lastError ? 'error' : 'not_ready';
    return this.lastError ? 'warn' : 'ok';
  }

  get error(): string | null {
    return this.lastError;
  }

  /** Coalesces bursts of events into at most one load in flight plus one queued. */
  check(): Promise<void> {
    if (this.loading) {
      this.pending = true;
      return this.loading;
    }
    this.loading = this.load().finally(() => {
      this.loading = null;
      if (this.pending) {
        this.pending = false;
        void this.check();
      }
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    const { path, engine, log } = this.opts;
    let key: string;
    try {
      const st = await stat(path);
      key = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      if (this.lastSeen !== 'missing') {
        this.lastSeen = 'missing';
        this.lastError = `bundle ${path} not found`;
        log.error('policy bundle missing; calls are denied until one loads', { path, code: (err as NodeJS.ErrnoException).code });
      }
      return;
    }
    if (key === this.lastSeen) return;
    this.lastSeen = key;
    let archive: Buffer;
    try {
      archive = await readFile(path);
    } catch (err) {
      this.lastError = `cannot read bundle: ${(err as Error).message}`;
      return;
    }
    if (engine.bundle && archive.length === 0) return; // a writer truncated the file and is about to fill it
    try {
      const info = await engine.activate(archive);
      this.lastError = null;
      log.info('policy bundle activated', { path, revision: info.revision, generation: info.generation, sha256: info.sha256 });
      if (info.missingBuiltins.length > 0) {
        log.warn('policy bundle calls builtins the gateway does not provide; any rule that reaches one fails closed (see policies/README.md §7)', {
          revision: info.revision,
          builtins: info.missingBuiltins,
        });
      }
      this.opts.onActivate?.();
    } catch (err) {
      this.lastError = `bundle rejected: ${(err as Error).message}`;
      this.rejections++;
      this.opts.onReject?.((err as Error).message);
      log.error('policy bundle rejected; the last good bundle keeps serving', {
        path,
        reason: (err as Error).message,
        serving: engine.bundle?.revision ?? null,
      });
    }
  }
}
