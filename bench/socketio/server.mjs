// The Socket.IO 4 reference server of Hubbub's benchmark: the same room broadcast, the
// idiomatic Socket.IO way, measured by the same generator (bench/run.py --systems ...,socketio).
//
//   node bench/socketio/server.mjs --port 8000
//
// What it does per request is what bench/baseline_server.py does, with Socket.IO's machinery:
//   GET  /healthz                          -> 200 (the generator waits for it)
//   WS   /socket.io/?EIO=4&transport=websocket
//                                          Engine.IO v4 over WebSocket; the generator connects to
//                                          the default namespace ("40") and gets its socket id
//   POST /channels/{type}/{id}/query?connection_id=SID
//                                          that socket joins the room "{type}:{id}" (watching)
//   POST /channels/{type}/{id}/event       body {"event": {...}}: adds the same envelope as Hubbub
//                                          (cid, channel_id, channel_type, created_at, user) and
//                                          io.to(room).emit("event", ...): Socket.IO encodes the
//                                          packet once and writes it to every socket of the room
// No authentication and no storage, as the bare aiohttp baseline. Engine.IO's own heartbeat
// (ping "2" / pong "3") runs every HUBBUB_HEALTH_CHECK_INTERVAL seconds (default 25, Hubbub's).
import http from 'node:http';
import { Server } from 'socket.io';

const USER = {
  id: 'w-sender', name: 'w-sender', role: 'user', teams: [], language: '', banned: false,
  online: false, invisible: false, created_at: '2026-01-01T00:00:00.000000Z',
  updated_at: '2026-01-01T00:00:00.000000Z', last_active: '2026-01-01T00:00:00.000000Z',
  blocked_user_ids: [],
};

function option(name, fallback) {
  const k = process.argv.indexOf(name);
  return k >= 0 && k + 1 < process.argv.length ? process.argv[k + 1] : fallback;
}

const host = option('--host', '127.0.0.1');
const port = Number(option('--port', '0'));
const intervalMs = 1000 * Number(process.env.HUBBUB_HEALTH_CHECK_INTERVAL || 25);

function reply(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

const ROUTE = /^\/channels\/([^/]+)\/([^/?]+)\/(query|event)(\?.*)?$/;

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    reply(res, 200, { status: 'ok' });
    return;
  }
  const m = req.method === 'POST' ? ROUTE.exec(req.url) : null;
  if (!m) {
    // Socket.IO answers its own path on the same server; anything else is unknown here.
    if (!req.url.startsWith('/socket.io/')) reply(res, 404, { message: 'not found' });
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const [, type, id, action] = m;
    const room = `${type}:${id}`;
    if (action === 'query') {
      const sid = new URL(req.url, 'http://x').searchParams.get('connection_id') || '';
      const socket = io.of('/').sockets.get(sid);
      if (socket) socket.join(room);
      reply(res, 201, { channel: { cid: room }, members: [], duration: '0ms' });
      return;
    }
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      reply(res, 400, { message: 'invalid JSON' });
      return;
    }
    // The custom fields first, as Hubbub and the bare baseline send them: the generator tells
    // its events from other frames by their first key.
    const out = {
      ...body.event, cid: room, channel_id: id, channel_type: type,
      created_at: new Date().toISOString(), user: USER,
    };
    io.to(room).emit('event', out);
    reply(res, 201, { event: out, duration: '0ms' });
  });
});

const io = new Server(server, {
  transports: ['websocket'],
  serveClient: false,
  pingInterval: intervalMs,
  pingTimeout: 20000,
  perMessageDeflate: false,
});

// Node closes a keep-alive connection after 5 s without a request by default. When the loop
// is busy longer than that (thousands of deliveries per event on a loaded core), the timer
// fires before the next request, already in the socket, is read, and the close resets it
// (seen: "connection reset by peer" at 5000 watchers). aiohttp keeps idle connections 75 s.
server.keepAliveTimeout = 75_000;
server.headersTimeout = 80_000;
server.listen(port, host);
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
