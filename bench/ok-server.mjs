// Child process of bench/run.mjs: a trivial HTTP server on 127.0.0.1 that answers every request
// with 200 "ok" and checks nothing (workload 8, authenticated fetch overhead). It runs in its own
// process so that its work is not done on the benchmark's thread. It sends its port over IPC and
// exits when the IPC channel closes (the benchmark ends, or dies).
import http from 'node:http'

const server = http.createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' })
    res.end('ok')
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
process.on('disconnect', () => process.exit(0))
