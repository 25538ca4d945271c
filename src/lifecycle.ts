/**
 * One shape for every long-lived part of the gateway, and the runner that starts them in order and stops them in
 * reverse. Building (reading secrets, keys and files) happens before any of this: a component's start() is where a
 * child process, a listener, a timer or a network connection may first appear, so a build failure leaves nothing behind.
 */

export type ComponentState = 'idle' | 'starting' | 'ok' | 'degraded' | 'down' | 'stopped';

export interface ComponentStatus {
  state: ComponentState;
  detail?: unknown;
}

export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): ComponentStatus;
}

/** The few log calls the runner makes (the gateway's Logger fits). */
export interface LifecycleLog {
  info(msg: string, meta?: Record<string, unknown>): void;
  error(msg: string, meta?: Record<string, unknown>): void;
}

export interface LifecycleOptions {
  log: LifecycleLog;
  /** How long one component's stop() may take before the runner moves on to the next (it is not cancelled). */
  stopTimeoutMs?: number;
}

export class Lifecycle {
  private readonly components: Component[] = [];
  private readonly started: Component[] = [];
  private readonly stopTimeoutMs: number;

  constructor(private readonly opts: LifecycleOptions) {
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 10_000;
  }

  add(component: Component): this {
    if (this.components.some((c) => c.name === component.name)) throw new Error(`lifecycle: duplicate component name '${component.name}'`);
    this.components.push(component);
    return this;
  }

  /** Starts each component in the order added; on a failure, stops those already started (in reverse) and rethrows. */
  async start(): Promise<void> {
    for (const c of this.components) {
      // Counted as started before it settles: a half-started component (a child spawned, then a throw) is stopped too.
      this.started.push(c);
      try {
        await c.start();
      } catch (err) {
        this.opts.log.error('start failed: stopping what was started', { component: c.name, error: (err as Error)?.message ?? String(err) });
        await this.stop();
        throw err;
      }
    }
  }

  /** Stops the started components in reverse order, each bounded in time; failures are logged, never thrown. */
  async stop(): Promise<void> {
    while (this.started.length > 0) {
      const c = this.started.pop()!;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        // Not unref'd: a hung stop with nothing else pending must still time out and let the rest stop (audit last).
        timer = setTimeout(() => resolve('timeout'), this.stopTimeoutMs);
      });
      try {
        const r = await Promise.race([c.stop().then(() => 'stopped' as const), timeout]);
        if (r === 'timeout') this.opts.log.error('component did not stop in time; moving on', { component: c.name, timeoutMs: this.stopTimeoutMs });
      } catch (err) {
        this.opts.log.error('component stop failed', { component: c.name, error: (err as Error)?.message ?? String(err) });
      } finally {
        clearTimeout(timer);
      }
    }
  }

  status(): Record<string, ComponentStatus> {
    return Object.fromEntries(this.components.map((c) => [c.name, c.status()]));
  }
}

/**
 * A thin adapter for a part whose own shape differs: start/stop may be synchronous or absent, and the state is
 * tracked here unless the part reports its own (`status`, consulted only while it runs).
 */
export function component(
  name: string,
  parts: { start?: () => unknown; stop?: () => unknown; status?: () => ComponentStatus },
): Component {
  let state: ComponentState = 'idle';
  return {
    name,
    async start() {
      state = 'starting';
      try {
        await parts.start?.();
      } catch (err) {
        state = 'down';
        throw err;
      }
      state = 'ok';
    },
    async stop() {
      try {
        await parts.stop?.();
      } finally {
        state = 'stopped';
      }
    },
    status() {
      return state === 'ok' && parts.status ? parts.status() : { state };
    },
  };
}
