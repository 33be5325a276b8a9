import { fmtInt } from './context.ts'

/** One line of the result table. */
export interface Row {
  id: string
  scenario: string
  unit: string
  /** our figure */
  ours: number
  /** the physical limit measured in the same run, when there is one */
  limit?: number
  limitLabel?: string
  ratio?: number
  /** minimum ratio aimed for */
  goal?: number
  /** peak RSS of the process during this scenario */
  peakRssBytes: number
  seconds?: number
}

export interface Report {
  namespace: string
  startedAt: string
  options: Record<string, unknown>
  environment: Record<string, unknown>
  rows: Row[]
  /** per-scenario details: breakdowns, sizes, rates of the sub-phases */
  details: Record<string, unknown>
  processMaxRssBytes: number
  interrupted: boolean
  error?: string
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`

function cells (row: Row): string[] {
  const status = row.ratio == null || row.goal == null ? '' : row.ratio >= row.goal ? ' ok' : ' below'
  return [
    row.scenario,
    `${fmtInt(row.ours)} ${row.unit}`,
    row.limit == null ? '—' : `${fmtInt(row.limit)} (${row.limitLabel ?? ''})`,
    row.ratio == null ? '—' : row.ratio.toFixed(3),
    row.goal == null ? '—' : `≥ ${row.goal.toFixed(2)}${status}`,
    mb(row.peakRssBytes)
  ]
}

export function formatTable (report: Report): string {
  const head = ['scenario', 'ours', 'physical limit (same run)', 'ratio', 'goal', 'peak RSS']
  const body = report.rows.map(cells)
  const widths = head.map((h, i) => Math.max(h.length, ...body.map(r => r[i].length)))
  const line = (r: string[]): string => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |'
  const sep = '|' + widths.map(w => '-'.repeat(w + 2)).join('|') + '|'
  const out = [line(head), sep, ...body.map(line)]
  if (body.length === 0) out.push('(no scenario finished)')
  out.push('')
  out.push(`process peak RSS (maxRSS): ${mb(report.processMaxRssBytes)}; namespace ${report.namespace}; ` +
    Object.entries(report.environment).map(([k, v]) => `${k} ${String(v)}`).join(', '))
  if (report.interrupted) out.push('INTERRUPTED: figures above are for the scenarios that finished')
  if (report.error != null) out.push(`ERROR: ${report.error}`)
  return out.join('\n')
}
