// Semantic checks of the step graph that JSON Schema cannot express (CONTRACT §4: 422 naming them).
import type { Problem } from '../decider.ts'

export interface StepLink {
  id: string
  after?: string[]
}

/**
 * Duplicate ids, unknown or self `after` entries, and cycles, in a deterministic order:
 * per step in body order (its id, then its `after` entries), then cycles in the order found.
 */
export function validateSteps (steps: StepLink[]): Problem[] {
  const problems: Problem[] = []
  const firstIndex = new Map<string, number>()
  steps.forEach((step, i) => {
    if (firstIndex.has(step.id)) {
      problems.push({ path: `/steps/${i}/id`, message: `duplicate step id "${step.id}" (first at /steps/${firstIndex.get(step.id)})` })
    } else {
      firstIndex.set(step.id, i)
    }
  })
  steps.forEach((step, i) => {
    (step.after ?? []).forEach((dep, j) => {
      if (dep === step.id) {
        problems.push({ path: `/steps/${i}/after/${j}`, message: `step "${step.id}" cannot come after itself` })
      } else if (!firstIndex.has(dep)) {
        problems.push({ path: `/steps/${i}/after/${j}`, message: `unknown step "${dep}"` })
      }
    })
  })
  problems.push(...findCycles(steps, firstIndex))
  return problems
}

/**
 * Each back edge of a depth-first search over `after` links is one cycle. Self links and unknown
 * ids were reported above and are skipped; an id names its first occurrence, so a duplicate's own
 * links are left out (the duplicate is already reported).
 */
function findCycles (steps: StepLink[], firstIndex: Map<string, number>): Problem[] {
  const problems: Problem[] = []
  const state = new Map<number, 'open' | 'done'>()
  const stack: number[] = []

  const visit = (i: number): void => {
    state.set(i, 'open')
    stack.push(i)
    const step = steps[i]
    ;(step.after ?? []).forEach(dep => {
      const d = firstIndex.get(dep)
      if (d === undefined || d === i) return
      if (state.get(d) === 'open') {
        problems.push(cycleProblem(stack.slice(stack.indexOf(d)), steps))
      } else if (!state.has(d)) {
        visit(d)
      }
    })
    stack.pop()
    state.set(i, 'done')
  }

  for (const i of firstIndex.values()) if (!state.has(i)) visit(i)
  return problems
}

/**
 * `chain` runs along `after` links (each entry comes after the next, the last after the first).
 * Named in run order from the step earliest in the body, `a → b → c → a`; the path points at the
 * `after` entry of that first step that closes the loop.
 */
function cycleProblem (chain: number[], steps: StepLink[]): Problem {
  const runOrder = [...chain].reverse()
  const start = runOrder.indexOf(Math.min(...runOrder))
  const ids = [...runOrder.slice(start), ...runOrder.slice(0, start)].map(i => steps[i].id)
  const first = steps[runOrder[start]]
  const j = (first.after as string[]).indexOf(ids[ids.length - 1]) // in a cycle, so it has `after`
  return { path: `/steps/${runOrder[start]}/after/${j}`, message: `cycle: ${[...ids, ids[0]].join(' → ')}` }
}

/**
 * Step ids in an order where every step follows all it comes after; ties keep body order.
 * Returns null when the steps have a cycle; unknown `after` ids are ignored (validateSteps reports them).
 */
export function topologicalOrder (steps: StepLink[]): string[] | null {
  const ids = new Set(steps.map(s => s.id))
  const waiting = new Map<string, Set<string>>()
  for (const s of steps) waiting.set(s.id, new Set((s.after ?? []).filter(d => ids.has(d) && d !== s.id)))
  const order: string[] = []
  while (waiting.size > 0) {
    // first ready step in body order; O(n²) overall, fine for ≤ 1000 steps
    const ready = [...waiting].find(([, deps]) => deps.size === 0)
    if (ready === undefined) return null
    order.push(ready[0])
    waiting.delete(ready[0])
    for (const deps of waiting.values()) deps.delete(ready[0])
  }
  return order
}
