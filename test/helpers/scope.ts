/** Collects teardown steps during `before` and runs them in reverse order in `after`, even when some fail. */
export class Scope {
  private readonly steps: Array<() => unknown> = [];

  /** Registers a teardown step and returns `value` for chaining. */
  defer<T>(value: T, step: (v: T) => unknown): T {
    this.steps.push(() => step(value));
    return value;
  }

  async close(): Promise<void> {
    const errors: unknown[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'teardown failed');
  }
}
