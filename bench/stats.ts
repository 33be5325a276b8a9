export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Runs `first` then `second` on even rounds and the other way round on odd ones, to cancel drift. */
export async function alternate (round: number, first: () => Promise<void>, second: () => Promise<void>): Promise<void> {
  if (round % 2 === 0) { await first(); await second() } else { await second(); await first() }
}

export function spread (xs: number[]): string {
  return xs.map(x => Math.round(x).toLocaleString('en-US')).join(' / ')
}
