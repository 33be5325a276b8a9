import t from 'tap'
import { validateSteps, topologicalOrder, type StepLink } from '../../domain/orchestration/dag.ts'

const s = (id: string, ...after: string[]): StepLink => (after.length > 0 ? { id, after } : { id })

t.test('a valid DAG has no problems', t => {
  t.same(validateSteps([s('a'), s('b', 'a'), s('c', 'a'), s('d', 'b', 'c')]), [])
  t.same(validateSteps([s('only')]), [])
  t.end()
})

t.test('duplicate ids', t => {
  t.same(validateSteps([s('a'), s('b'), s('a')]), [
    { path: '/steps/2/id', message: 'duplicate step id "a" (first at /steps/0)' }
  ])
  t.end()
})

t.test('unknown after ids are named', t => {
  t.same(validateSteps([s('a'), s('b', 'a', 'ghost')]), [
    { path: '/steps/1/after/1', message: 'unknown step "ghost"' }
  ])
  t.end()
})

t.test('a step after itself', t => {
  t.same(validateSteps([s('a', 'a')]), [
    { path: '/steps/0/after/0', message: 'step "a" cannot come after itself' }
  ])
  t.end()
})

t.test('a cycle is named in run order from its earliest step', t => {
  // a runs after c, b after a, c after b
  t.same(validateSteps([s('a', 'c'), s('b', 'a'), s('c', 'b')]), [
    { path: '/steps/0/after/0', message: 'cycle: a → b → c → a' }
  ])
  // same cycle, listed in another order: still named from the earliest step in the body
  t.same(validateSteps([s('c', 'b'), s('a', 'c'), s('b', 'a')]), [
    { path: '/steps/0/after/0', message: 'cycle: c → a → b → c' }
  ])
  t.same(validateSteps([s('x'), s('a', 'x', 'b'), s('b', 'a')]), [
    { path: '/steps/1/after/1', message: 'cycle: a → b → a' }
  ])
  t.end()
})

t.test('separate cycles are each reported', t => {
  t.same(validateSteps([s('a', 'b'), s('b', 'a'), s('c', 'd'), s('d', 'c'), s('e', 'a')]), [
    { path: '/steps/0/after/0', message: 'cycle: a → b → a' },
    { path: '/steps/2/after/0', message: 'cycle: c → d → c' }
  ])
  t.end()
})

t.test('problems come in a deterministic order: steps in body order, then cycles', t => {
  const steps = [s('a', 'b'), s('b', 'a', 'zz'), s('a'), s('c', 'c')]
  const problems = validateSteps(steps)
  t.same(problems, [
    { path: '/steps/2/id', message: 'duplicate step id "a" (first at /steps/0)' },
    { path: '/steps/1/after/1', message: 'unknown step "zz"' },
    { path: '/steps/3/after/0', message: 'step "c" cannot come after itself' },
    { path: '/steps/0/after/0', message: 'cycle: a → b → a' }
  ])
  t.same(validateSteps(steps), problems, 'same input, same answer')
  t.end()
})

t.test('a long chain does not trouble the checker', t => {
  const steps = Array.from({ length: 1000 }, (_, i) => (i === 0 ? s('s0', 's999') : s(`s${i}`, `s${i - 1}`)))
  const [p] = validateSteps(steps)
  t.equal(p.path, '/steps/0/after/0')
  t.match(p.message, /^cycle: s0 → s1 → s2 → .* → s999 → s0$/)
  t.end()
})

t.test('topologicalOrder', t => {
  t.same(topologicalOrder([s('d', 'b', 'c'), s('c', 'a'), s('b', 'a'), s('a')]), ['a', 'c', 'b', 'd'])
  t.same(topologicalOrder([s('a'), s('b')]), ['a', 'b'], 'independent steps keep body order')
  t.same(topologicalOrder([s('a', 'ghost')]), ['a'], 'unknown ids are ignored')
  t.equal(topologicalOrder([s('a', 'b'), s('b', 'a')]), null)
  t.end()
})
