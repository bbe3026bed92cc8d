/**
 * Polls `condition` until it holds, or fails after `timeoutMs` naming `what`: the one way tests
 * wait for something that happens in the background (never a fixed sleep).
 */
export async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; !(await condition()); wait = Math.min(wait * 2, 100)) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
