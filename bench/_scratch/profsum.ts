import { readFileSync, readdirSync } from 'node:fs'
const dir = process.argv[2]
const files = readdirSync(dir).filter(f => f.endsWith('.cpuprofile')).map(f => `${dir}/${f}`)
const file = files.map(f => [f, readFileSync(f, 'utf8').length] as const).sort((a, b) => b[1] - a[1])[0][0]
const p = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map<number, any>(p.nodes.map((n: any) => [n.id, n]))
const self = new Map<number, number>()
const dt: number[] = p.timeDeltas
p.samples.forEach((id: number, i: number) => self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0)))
const total = [...self.values()].reduce((a, b) => a + b, 0)
const agg = new Map<string, number>()
const short = (u: string) => u.replace(/^.*node_modules\//, '').replace(/^file:\/\/\/work\/main\//, '')
for (const [id, t] of self) {
  const n = byId.get(id); const cf = n.callFrame
  const key = `${cf.functionName || '(anon)'} ${short(cf.url)}:${cf.lineNumber + 1}`
  agg.set(key, (agg.get(key) ?? 0) + t)
}
// inclusive by package / file
const parent = new Map<number, number>()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const byFile = new Map<string, number>()
for (const [id, t] of self) {
  const cf = byId.get(id).callFrame
  const f = cf.url === '' ? `(${cf.functionName})` : short(cf.url).replace(/\/[^/]*$/, '/')
  byFile.set(f, (byFile.get(f) ?? 0) + t)
}
console.log('total sampled ms', (total / 1000).toFixed(0))
console.log('--- self time by function (top 30)')
for (const [k, v] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 30))) console.log((100 * v / total).toFixed(1).padStart(5) + '%', k)
console.log('--- self time by directory')
for (const [k, v] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log((100 * v / total).toFixed(1).padStart(5) + '%', k)
// inclusive time for named functions (each sample counted once per distinct matching frame on its stack)
const names = (process.env.INCL ?? '').split(',').filter(Boolean)
if (names.length > 0) {
  const incl = new Map<string, number>()
  for (const [id, t] of self) {
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur != null; cur = parent.get(cur)) {
      const cf = byId.get(cur).callFrame
      const key = `${cf.functionName} ${short(cf.url)}`
      if (names.some(n => cf.functionName === n) && !seen.has(key)) { seen.add(key); incl.set(key, (incl.get(key) ?? 0) + t) }
    }
  }
  console.log('--- inclusive')
  for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1])) console.log((100 * v / total).toFixed(1).padStart(5) + '%', k)
  // children of append
  const kids = new Map<string, number>()
  for (const [id, t] of self) {
    const chain: any[] = []
    for (let cur: number | undefined = id; cur != null; cur = parent.get(cur)) chain.unshift(byId.get(cur).callFrame)
    const i = chain.findIndex(cf => cf.functionName === 'append' && cf.url.includes('event-store'))
    if (i >= 0) { const c = chain[i + 1]; const k = c == null ? '(self)' : `${c.functionName} ${short(c.url)}:${c.lineNumber + 1}`; kids.set(k, (kids.get(k) ?? 0) + t) }
  }
  console.log('--- append children (inclusive)')
  for (const [k, v] of [...kids].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log((100 * v / total).toFixed(1).padStart(5) + '%', k)
}
