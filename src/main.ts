import { loadConfig } from './config.ts'
import { startNode } from './node.ts'
import { runCli } from './cli.ts'

// `npm start` (no arguments) runs a node; anything else is a CLI command.
if (process.argv.length > 2) {
  process.exitCode = await runCli(process.argv.slice(2))
} else {
  let config
  try {
    config = loadConfig()
  } catch (err: any) {
    console.error(`dimensigon: ${err.message}`)
    process.exit(2)
  }
  const node = await startNode(config)
  const shutdown = (signal: string): void => {
    node.log.info(`${signal}: stopping`)
    node.stop().then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
}
