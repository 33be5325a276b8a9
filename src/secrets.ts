import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * A key given in the environment, or else one generated once and kept in the data dir, so a
 * single node keeps its tokens valid across restarts. Several nodes must be given the same one.
 */
export function keyFromEnvOrFile (value: string | undefined, dataDir: string, file: string): string {
  if (value != null) return value
  const path = join(dataDir, file)
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    mkdirSync(dataDir, { recursive: true })
    const key = randomBytes(32).toString('base64url')
    writeFileSync(path, key + '\n', { mode: 0o600, flag: 'wx' })
    return key
  }
}
