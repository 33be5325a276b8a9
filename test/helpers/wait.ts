// Polling helpers for tests that watch a run progress through the API.

export const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** Calls `probe` until it returns something other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T> (probe: () => Promise<T | undefined | false>, opts: { timeoutMs?: number, intervalMs?: number, what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000)
  let last: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${opts.what ?? 'a condition'}${last != null ? `: ${String((last as Error).message ?? last)}` : ''}`)
    }
    await sleep(opts.intervalMs ?? 50)
  }
}

export const TERMINAL_EXECUTION = ['succeeded', 'failed', 'cancelled']
