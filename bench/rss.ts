/**
 * Peak resident memory per phase: samples process.memoryUsage.rss() every 20 ms (the process-wide
 * maxRSS only ever grows, so it cannot tell the phases apart).
 */
export class RssSampler {
  private peak = 0
  private readonly timer: NodeJS.Timeout

  constructor (intervalMs = 20) {
    this.timer = setInterval(() => this.sample(), intervalMs)
    this.timer.unref()
    this.sample()
  }

  sample (): number {
    const rss = process.memoryUsage.rss()
    if (rss > this.peak) this.peak = rss
    return rss
  }

  /** Starts a new phase: returns a function giving that phase's peak RSS in bytes. */
  phase (): () => number {
    this.peak = 0
    this.sample()
    return () => { this.sample(); return this.peak }
  }

  stop (): void { clearInterval(this.timer) }
}

/** The process-wide peak RSS, in bytes (resourceUsage reports kilobytes). */
export function processMaxRss (): number {
  return process.resourceUsage().maxRSS * 1024
}
