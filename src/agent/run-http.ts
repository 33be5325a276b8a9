export interface HttpResult { ok: boolean, status: number | null, error: string | null }

/** The `http` action, sent from the agent's host; success is a status in `expect_status` (default 2xx). */
export async function runHttp (action: { method?: string, url: string, headers?: Record<string, string>, body?: unknown, expect_status?: number[] },
  opts: { timeoutMs: number, signal: AbortSignal, onOutput: (stream: 'stdout' | 'stderr', text: string) => void }): Promise<HttpResult> {
  const headers: Record<string, string> = { ...action.headers }
  let body: string | undefined
  if (action.body != null) {
    body = typeof action.body === 'string' ? action.body : JSON.stringify(action.body)
    if (typeof action.body !== 'string' && !Object.keys(headers).some(h => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json'
  }
  // a timer of our own, not AbortSignal.timeout: combined by AbortSignal.any, Node 20 holds that
  // signal only weakly, and after a garbage collection the timeout never fires
  const timeout = new AbortController()
  const timer = setTimeout(() => timeout.abort(new DOMException(`timed out after ${opts.timeoutMs} ms`, 'TimeoutError')), opts.timeoutMs)
  try {
    const res = await fetch(action.url, {
      method: action.method ?? 'GET',
      headers,
      body,
      signal: AbortSignal.any([opts.signal, timeout.signal])
    })
    const text = await res.text()
    opts.onOutput('stdout', `HTTP ${res.status} ${res.statusText}\n${text.slice(0, 1024 * 1024)}`)
    const ok = action.expect_status != null ? action.expect_status.includes(res.status) : res.status >= 200 && res.status < 300
    return { ok, status: res.status, error: ok ? null : `HTTP ${res.status}, expected ${action.expect_status?.join(' or ') ?? '2xx'}` }
  } catch (err: any) {
    const reason = opts.signal.aborted ? 'stopped by cancellation' : timeout.signal.aborted || err?.name === 'TimeoutError' ? `timed out after ${opts.timeoutMs / 1000} s` : `request failed: ${err?.cause?.message ?? err?.message}`
    opts.onOutput('stderr', reason + '\n')
    return { ok: false, status: null, error: reason }
  } finally {
    clearTimeout(timer)
  }
}
