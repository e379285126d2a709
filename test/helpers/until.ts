// Waiting for a condition in a test: polls `cond` until it gives a truthy value (returned), and
// fails naming `what` after `timeoutMs`. For state that has no event to await.
export async function until<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 5000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
