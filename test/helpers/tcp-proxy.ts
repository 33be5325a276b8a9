import { connect, createServer, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  /** the loopback port clients connect to */
  port: number
  /** whether it currently forwards */
  readonly up: boolean
  /** how many client connections it has accepted so far */
  readonly accepted: number
  /** destroys every open connection (both sides) and refuses new ones until restore() */
  cut: () => Promise<void>
  /** accepts and forwards again, on the same port */
  restore: () => Promise<void>
  close: () => Promise<void>
}

/**
 * A TCP forwarder on a free loopback port to `target`, to take a dependency (Postgres) away from a
 * process and give it back without touching the dependency itself. While cut, nothing listens on
 * the port: connection attempts are refused (ECONNREFUSED), as with a stopped server.
 */
export async function startTcpProxy (target: { host?: string, port: number }, opts: { port?: number } = {}): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1'
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = opts.port ?? 0
  let accepted = 0

  const track = (s: Socket): void => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
    s.on('error', () => {}) // resets are expected when cutting
  }

  const listen = async (): Promise<void> => {
    const srv = createServer(client => {
      accepted++
      track(client)
      const upstream = connect({ host, port: target.port })
      track(upstream)
      client.pipe(upstream)
      upstream.pipe(client)
      client.once('close', () => upstream.destroy())
      upstream.once('close', () => client.destroy())
    })
    // right after a cut the port may linger for a moment; retry briefly
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          srv.once('error', reject)
          srv.listen(port, '127.0.0.1', () => { srv.off('error', reject); resolve() })
        })
        break
      } catch (err: any) {
        if (err?.code !== 'EADDRINUSE' || attempt > 50) throw err
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    }
    port = (srv.address() as { port: number }).port
    server = srv
  }

  const cut = async (): Promise<void> => {
    const srv = server
    server = undefined
    const closed = srv == null ? Promise.resolve() : new Promise<void>(resolve => srv.close(() => resolve()))
    for (const s of sockets) s.destroy()
    await closed
  }

  await listen()
  return {
    get port () { return port },
    get up () { return server != null },
    get accepted () { return accepted },
    cut,
    restore: async () => { if (server == null) await listen() },
    close: cut
  }
}
