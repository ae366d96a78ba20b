// One official stream-chat JS SDK client (the one tests/sdk/js installs), driven line by line
// by a test: it connects a user, watches a channel, reports every event it receives, and sends
// custom events on request.
//
//   HUBBUB_URL, HUBBUB_API_KEY, HUBBUB_USER, HUBBUB_TOKEN, HUBBUB_CHANNEL (type:id)
//
// stdout, one JSON object per line: {"ready": connection_id}, {"event": {...}}, {"closed": code},
//   {"sent": {...}} or {"refused": {status, code, message}} after each command.
// stdin, one JSON object per line: {"op": "send", "event": {...}} | {"op": "quit"}

import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const require = createRequire(new URL('../../sdk/js/package.json', import.meta.url));
const { StreamChat } = require('stream-chat');

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const env = process.env;
const [channelType, channelId] = env.HUBBUB_CHANNEL.split(':');
const client = new StreamChat(env.HUBBUB_API_KEY, {
  baseURL: env.HUBBUB_URL,
  // The SDK reports each socket close through its logger: the close code the server sent.
  logger: (_level, message, extra) => {
    if (message.startsWith('connection:onclose()') && typeof extra?.event?.code === 'number') {
      emit({ closed: extra.event.code });
    }
  },
});
const timer = setTimeout(() => {
  emit({ error: { message: 'client ran for more than 120 s' } });
  process.exit(1);
}, 120000);

try {
  const me = await client.connectUser({ id: env.HUBBUB_USER }, env.HUBBUB_TOKEN);
  const channel = client.channel(channelType, channelId);
  await channel.watch();
  client.on((event) => emit({ event }));
  emit({ ready: me.connection_id });
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line);
    if (command.op === 'quit') break;
    if (command.op === 'send') {
      try {
        const response = await channel.sendEvent(command.event);
        emit({ sent: response.event });
      } catch (err) {
        emit({ refused: { status: err.status, code: err.code, message: err.message } });
      }
    }
  }
} catch (err) {
  emit({ error: { message: String(err && err.stack || err) } });
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  await client.disconnectUser().catch(() => {});
  process.exit(process.exitCode || 0);
}
