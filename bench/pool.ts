/**
 * Runs `task(i)` for i in [0, total) with at most `concurrency` in flight: a fixed set of workers
 * pulling the next index. Stops handing out work once `signal` aborts; the first error stops all.
 */
export async function workerPool (
  total: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
  opts: { signal?: AbortSignal, onProgress?: (done: number) => void, progressEvery?: number } = {}
): Promise<number> {
  let next = 0
  let done = 0
  let failed: unknown = null
  const every = opts.progressEvery ?? Math.max(1, Math.floor(total / 20))
  const worker = async (): Promise<void> => {
    while (failed == null && opts.signal?.aborted !== true) {
      const i = next++
      if (i >= total) return
      try {
        await task(i)
      } catch (err) {
        failed ??= err
        return
      }
      done++
      if (opts.onProgress != null && done % every === 0) opts.onProgress(done)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker))
  if (failed != null) throw failed
  return done
}
