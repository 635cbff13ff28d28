// hocuspocus.mjs - the peer of `make bench-sync`: a Hocuspocus server
// (npm @hocuspocus/server, pinned in package.json), documents in memory only,
// no extension, default settings but quiet. Run with --expose-gc:
//
//   node --expose-gc bench/sync/hocuspocus.mjs
//
// It listens on 127.0.0.1 on a free port and prints
// "listening on ws://127.0.0.1:PORT" on stdout. Besides WebSockets it answers:
//
//   GET /bench/gc     runs a full garbage collection, then answers like /bench/stats
//                     (the generator asks before reading RSS: the peer's figure is
//                     its live memory, not garbage waiting for a collection)
//   GET /bench/stats  {"updates", "connections", "documents", "rss", "heapUsed"}:
//                     updates counts every document change Hocuspocus applied
//                     (its onChange hook), so bench/sync.sh can check that the
//                     peer really integrated what the generator sent.
//
// It exits on SIGTERM or SIGINT (Hocuspocus's own handler).
import { Server } from '@hocuspocus/server';

let updates = 0;
let connections = 0;

function stats(instance) {
    const m = process.memoryUsage();
    return {
        updates,
        connections,
        documents: instance.getDocumentsCount(),
        rss: m.rss,
        heapUsed: m.heapUsed,
    };
}

const server = new Server({
    port: 0,
    quiet: true,
    async onChange() {
        updates++;
    },
    async connected() {
        connections++;
    },
    async onDisconnect() {
        connections--;
    },
    async onRequest({ request, response, instance }) {
        if (request.url === '/bench/gc' || request.url === '/bench/stats') {
            if (request.url === '/bench/gc') {
                if (typeof global.gc !== 'function') {
                    response.writeHead(500, { 'Content-Type': 'text/plain' });
                    response.end('run node with --expose-gc\n');
                    throw null; // handled: Hocuspocus skips its default answer
                }
                global.gc();
            }
            response.writeHead(200, { 'Content-Type': 'application/json' });
            response.end(JSON.stringify(stats(instance)) + '\n');
            throw null;
        }
    },
});

// Hocuspocus passes {port, address} to http.Server.listen, which reads
// `host`, not `address`: listen on the loopback ourselves.
server.configuration.address = '127.0.0.1';
server.httpServer.listen({ port: 0, host: '127.0.0.1' }, () => {
    process.stdout.write(`listening on ws://127.0.0.1:${server.httpServer.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, async () => {
        await server.destroy();
        process.exit(0);
    });
}
