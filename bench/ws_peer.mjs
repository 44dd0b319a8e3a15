// bench/ws_peer.mjs — the peer of bench/run.sh's ws_* cases: a minimal
// Phoenix V2 (JSON) channel server on the npm `ws` package, doing the job of
// bench/chan_server.c and no more, so that chanload can load both the same way.
//
//   PORT=18090 node bench/ws_peer.mjs      (binds 127.0.0.1; GET / answers 200 "ok")
//
// At /socket/websocket it answers, per V2 message [join_ref, ref, topic, event, payload]:
//   "phoenix" "heartbeat"  -> phx_reply ok {}
//   "phx_join"             -> phx_reply ok {}, the socket subscribes to the topic
//   "phx_leave"            -> phx_reply ok {}, the socket unsubscribes
//   "ping" (joined topic)  -> phx_reply ok, the payload as response
//   "new_msg" (joined)     -> [null,null,topic,"new_msg",payload] to every subscriber of the
//                             topic, the sender included: encoded once, the same bytes to all
// Anything else is ignored. No auth, no origin check, no per-channel state:
// the cheapest server that still speaks the protocol.
import http from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT || 4001);
const topics = new Map(); // topic -> Set of sockets

function reply(ws, joinRef, ref, topic, response) {
    ws.send(JSON.stringify([joinRef, ref, topic, 'phx_reply', { status: 'ok', response }]));
}

function subscribe(ws, topic) {
    let subs = topics.get(topic);
    if (!subs) topics.set(topic, (subs = new Set()));
    subs.add(ws);
    (ws.joined ??= new Set()).add(topic);
}

function unsubscribe(ws, topic) {
    const subs = topics.get(topic);
    if (subs) {
        subs.delete(ws);
        if (subs.size === 0) topics.delete(topic);
    }
    ws.joined?.delete(topic);
}

function broadcast(topic, event, payload) {
    const subs = topics.get(topic);
    if (!subs) return;
    const frame = Buffer.from(JSON.stringify([null, null, topic, event, payload]));
    for (const ws of subs) ws.send(frame, { binary: false });
}

function handle(ws, text) {
    let msg;
    try {
        msg = JSON.parse(text);
    } catch {
        return;
    }
    if (!Array.isArray(msg) || msg.length < 5) return;
    const [joinRef, ref, topic, event, payload] = msg;
    if (topic === 'phoenix' && event === 'heartbeat') return reply(ws, null, ref, topic, {});
    if (event === 'phx_join') {
        subscribe(ws, topic);
        return reply(ws, joinRef, ref, topic, {});
    }
    if (event === 'phx_leave') {
        unsubscribe(ws, topic);
        return reply(ws, joinRef, ref, topic, {});
    }
    if (!ws.joined?.has(topic)) return;
    if (event === 'ping') return reply(ws, joinRef, ref, topic, payload);
    if (event === 'new_msg') return broadcast(topic, 'new_msg', payload);
}

const server = http.createServer((req, res) => {
    res.writeHead(req.url === '/' ? 200 : 404, { 'content-type': 'text/plain' });
    res.end(req.url === '/' ? 'ok' : 'not found');
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });

server.on('upgrade', (req, socket, head) => {
    if (!req.url.startsWith('/socket/websocket')) {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
        return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, isBinary) => {
            if (!isBinary) handle(ws, data.toString());
        });
        ws.on('close', () => {
            for (const topic of ws.joined ?? []) unsubscribe(ws, topic);
        });
        ws.on('error', () => {});
    });
});

// The default backlog (511) would refuse part of a burst of thousands of connects.
server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
    console.log(`ws_peer: listening on http://127.0.0.1:${port} (node ${process.version})`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
