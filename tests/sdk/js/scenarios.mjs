// Scenarios for issue #3 (real-time custom events), written against the OFFICIAL stream-chat JS
// SDK exactly as an application would use it. Each exported scenario takes the context built by
// `context()` and either returns a JSON-serialisable result or throws (the test fails).
//
// Waiting is always for an event, bounded by a timeout. Absence ("X did not receive E") is
// proven without sleeping: after E, a marker user event is sent to X's user, and X's socket must
// deliver the marker without having delivered E first (one socket keeps the server's order).

import { createInterface } from 'node:readline';
import { StreamChat } from 'stream-chat';

const WAIT_MS = 5000;

// ------------------------------------------------------------------------------------------
// helpers

function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

function equal(actual, expected, what) {
  if (actual !== expected) {
    throw new Error(
      `assertion failed: ${what}: expected ${JSON.stringify(expected)}, ` +
        `got ${JSON.stringify(actual)}`,
    );
  }
}

function isTimestamp(value) {
  return typeof value === 'string' && Number.isFinite(Date.parse(value));
}

/** Records every event of `type` (or all events when type is null) emitted by `target`. */
class Recorder {
  constructor(target, type, label) {
    this.label = label;
    this.type = type;
    this.events = [];
    this.waiters = [];
    const listener = (event) => {
      this.events.push(event);
      for (const waiter of [...this.waiters]) {
        if (waiter.pred(event)) waiter.resolve(event);
      }
    };
    this.sub = type ? target.on(type, listener) : target.on(listener);
  }

  /** The first recorded event matching `pred`, waiting up to `ms` for it. */
  waitFor(pred = () => true, ms = WAIT_MS, what = '') {
    const found = this.events.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (event) => {
          clearTimeout(waiter.timer);
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          resolve(event);
        },
      };
      waiter.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(
          new Error(
            `${this.label}: no ${this.type || 'event'} ${what} within ${ms} ms ` +
              `(recorded: ${JSON.stringify(this.events.map(summary))})`,
          ),
        );
      }, ms);
      this.waiters.push(waiter);
    });
  }

  matching(pred) {
    return this.events.filter(pred);
  }

  stop() {
    this.sub.unsubscribe();
  }
}

function summary(event) {
  return { type: event.type, cid: event.cid, user: event.user?.id, text: event.text, n: event.n };
}

/** Runs `fn`; it must reject with the given HTTP status and/or Stream code. */
async function expectFailure(fn, { status, code }, what) {
  let result;
  try {
    result = await fn();
  } catch (err) {
    if (status !== undefined) equal(err.status, status, `${what}: HTTP status`);
    if (code !== undefined) equal(err.code, code, `${what}: Stream error code`);
    return { status: err.status, code: err.code, message: err.message };
  }
  throw new Error(`${what}: expected a failure, got ${JSON.stringify(result).slice(0, 300)}`);
}

function checkChannelEvent(event, { type, cid, userId, text }, who) {
  equal(event.type, type, `${who}: type`);
  equal(event.cid, cid, `${who}: cid`);
  const [channelType, channelId] = cid.split(':');
  equal(event.channel_type, channelType, `${who}: channel_type`);
  equal(event.channel_id, channelId, `${who}: channel_id`);
  equal(event.user?.id, userId, `${who}: user.id`);
  assert(isTimestamp(event.created_at), `${who}: created_at is a timestamp (${event.created_at})`);
  if (text !== undefined) equal(event.text, text, `${who}: text (custom field, flat)`);
  assert(!('custom' in event), `${who}: no "custom" wrapper on the wire`);
}

// ------------------------------------------------------------------------------------------
// context

export function context({ url, key, secret, args, emit }) {
  const clients = [];
  const server = new StreamChat(key, secret, { baseURL: url });
  let markers = 0;
  let stdin;

  const ctx = {
    url,
    key,
    args,
    server,
    /** A fresh client-side SDK instance (never getInstance: that is a process-wide singleton). */
    newClient() {
      const closeCodes = [];
      const wsFailures = [];
      const client = new StreamChat(key, {
        baseURL: url,
        allowServerSideConnect: true,
        // The SDK reports each socket close through its logger ('connection:onclose() - ...',
        // extra.event = the CloseEvent): kept to check the code the server closed with.
        logger: (_level, message, extra) => {
          if (message.startsWith('connection:onclose()') && typeof extra?.event?.code === 'number') {
            closeCodes.push(extra.event.code);
          }
          // '..._errorFromWSEvent() - WS failed with code N': each failed (re)connect attempt.
          const failed = /WS failed with code (\S+)/.exec(message);
          if (failed) wsFailures.push(failed[1]);
        },
      });
      client.hubbubCloseCodes = closeCodes;
      client.hubbubWsFailures = wsFailures;
      clients.push(client);
      return client;
    },
    token(userId) {
      return args.tokens?.[userId] ?? server.createToken(userId);
    },
    /** connectUser as an application does; checks what it resolves to. */
    async connect(userId, extra = {}) {
      const client = ctx.newClient();
      const me = await client.connectUser({ id: userId, ...extra }, ctx.token(userId));
      assert(me && typeof me === 'object', `connectUser(${userId}) resolves to the handshake`);
      equal(me.type, 'health.check', `connectUser(${userId}) handshake type`);
      equal(me.me?.id, userId, `connectUser(${userId}) me.id`);
      assert(
        typeof me.connection_id === 'string' && me.connection_id.length > 0,
        `connectUser(${userId}) gives a connection_id (${me.connection_id})`,
      );
      equal(client._getConnectionID(), me.connection_id, `${userId}: client's connection id`);
      equal(client.userID, userId, `${userId}: client.userID`);
      return { client, me };
    },
    record(target, type, label) {
      return new Recorder(target, type, label);
    },
    /** Proves `client` (of `userId`) received everything sent to it before now. */
    async sync(client, userId, label) {
      const n = ++markers;
      const rec = new Recorder(client, 'hubbub_marker', `${label} marker`);
      try {
        await server.sendUserCustomEvent(userId, { type: 'hubbub_marker', n });
        await rec.waitFor((e) => e.n === n);
      } finally {
        rec.stop();
      }
    },
    /** Tells the caller we are at `value`, then waits for one line on stdin to go on. */
    async ready(value) {
      stdin ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]();
      emit({ ready: value });
      const { done } = await stdin.next();
      if (done) throw new Error(`stdin closed while waiting after ready(${JSON.stringify(value)})`);
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.disconnectUser(1000)));
      process.stdin.pause();
    },
  };
  return ctx;
}

// ------------------------------------------------------------------------------------------
// scenarios

/**
 * Channel custom events, typing, stopWatching, disconnectUser.
 * args: {channelType, channelId, sender, watchers: [..], idle}
 *   all of them members; `idle` connects but never watches.
 */
export async function channelEvents(ctx) {
  const { channelType, channelId, sender, watchers, idle } = ctx.args;
  const cid = `${channelType}:${channelId}`;
  const ids = [sender, ...watchers];

  const conns = {};
  for (const id of [...ids, idle]) conns[id] = await ctx.connect(id);
  const connectionIds = Object.values(conns).map((c) => c.me.connection_id);
  equal(new Set(connectionIds).size, connectionIds.length, 'connection ids are distinct');

  const channels = {};
  const custom = {};
  const typingStart = {};
  const typingStop = {};
  const watchingStop = {};
  const anyFriendship = {};
  for (const id of ids) {
    const channel = conns[id].client.channel(channelType, channelId);
    const state = await channel.watch();
    equal(state.channel?.cid, cid, `${id}: watch() response channel.cid`);
    assert(channel.initialized, `${id}: channel initialized by watch()`);
    channels[id] = channel;
    custom[id] = ctx.record(channel, 'friendship_request', `${id} channel.on`);
    typingStart[id] = ctx.record(channel, 'typing.start', `${id} channel.on`);
    typingStop[id] = ctx.record(channel, 'typing.stop', `${id} channel.on`);
    watchingStop[id] = ctx.record(channel, 'user.watching.stop', `${id} channel.on`);
  }
  for (const id of [...ids, idle]) {
    anyFriendship[id] = ctx.record(conns[id].client, 'friendship_request', `${id} client.on`);
  }

  // 1. A custom event reaches every watcher, the sender included.
  const text = 'Hey there, long time no see!';
  const response = await channels[sender].sendEvent({ type: 'friendship_request', text });
  checkChannelEvent(response.event, { type: 'friendship_request', cid, userId: sender, text },
    'sendEvent response.event');
  const received = {};
  for (const id of ids) {
    const event = await custom[id].waitFor((e) => e.text === text);
    checkChannelEvent(event, { type: 'friendship_request', cid, userId: sender, text }, id);
    equal(event.created_at, response.event.created_at, `${id}: same event as the response`);
    received[id] = event;
  }

  // 2. A member that does not watch gets nothing.
  await ctx.sync(conns[idle].client, idle, idle);
  equal(anyFriendship[idle].events.length, 0, `${idle} (member, not watching): custom events`);

  // 3. keystroke()/stopTyping() reach the other watchers as typing.start/typing.stop.
  await channels[sender].keystroke();
  for (const id of watchers) {
    const event = await typingStart[id].waitFor((e) => e.user?.id === sender);
    checkChannelEvent(event, { type: 'typing.start', cid, userId: sender }, `${id} typing.start`);
  }
  await channels[sender].stopTyping();
  for (const id of watchers) {
    const event = await typingStop[id].waitFor((e) => e.user?.id === sender);
    checkChannelEvent(event, { type: 'typing.stop', cid, userId: sender }, `${id} typing.stop`);
  }

  // 4. stopWatching() ends delivery to that client, not to the others.
  const [leaver, stayer] = watchers;
  await channels[leaver].stopWatching();
  await watchingStop[sender].waitFor((e) => e.user?.id === leaver, WAIT_MS, `for ${leaver}`);
  const text2 = 'after stopWatching';
  await channels[sender].sendEvent({ type: 'friendship_request', text: text2 });
  await custom[stayer].waitFor((e) => e.text === text2);
  await custom[sender].waitFor((e) => e.text === text2);
  await ctx.sync(conns[leaver].client, leaver, leaver);
  equal(anyFriendship[leaver].matching((e) => e.text === text2).length, 0,
    `${leaver} after stopWatching(): events`);

  // 5. disconnectUser() closes the socket; the server drops its watch (user.watching.stop).
  await conns[stayer].client.disconnectUser();
  equal(conns[stayer].client.userID, undefined, `${stayer}: no user after disconnectUser()`);
  assert(!conns[stayer].client.wsConnection?.isHealthy, `${stayer}: socket closed`);
  await watchingStop[sender].waitFor((e) => e.user?.id === stayer, WAIT_MS, `for ${stayer}`);
  const text3 = 'after disconnectUser';
  await channels[sender].sendEvent({ type: 'friendship_request', text: text3 });
  await custom[sender].waitFor((e) => e.text === text3);
  equal(custom[stayer].matching((e) => e.text === text3).length, 0,
    `${stayer} after disconnectUser(): events`);

  return {
    connectionIds,
    received: Object.fromEntries(
      Object.entries(received).map(([id, e]) => [id, { ...e, received_at: undefined }]),
    ),
    response: response.event,
  };
}

/**
 * User custom events from a server-side JS client (key + secret).
 * args: {target, other}
 */
export async function userEvents(ctx) {
  const { target, other } = ctx.args;
  const first = await ctx.connect(target);
  const second = await ctx.connect(target);
  const bystander = await ctx.connect(other);
  assert(first.me.connection_id !== second.me.connection_id, 'two connections, two ids');

  const recs = [first, second, bystander].map((c, i) =>
    ctx.record(c.client, 'friendship_request', ['first', 'second', 'other'][i]));

  const text = 'Tommaso wants to be your friend';
  const response = await ctx.server.sendUserCustomEvent(target, {
    type: 'friendship_request',
    text,
  });
  assert(typeof response.duration === 'string', 'sendUserCustomEvent response has duration');

  const received = [];
  for (const rec of recs.slice(0, 2)) {
    const event = await rec.waitFor((e) => e.text === text);
    equal(event.type, 'friendship_request', `${rec.label}: type`);
    equal(event.text, text, `${rec.label}: text (flat)`);
    assert(!('cid' in event) || event.cid === undefined, `${rec.label}: no cid on a user event`);
    equal(event.user?.id, target, `${rec.label}: user.id is the target`);
    assert(isTimestamp(event.created_at), `${rec.label}: created_at`);
    received.push(event);
  }
  await ctx.sync(bystander.client, other, 'other');
  equal(recs[2].events.length, 0, 'another user: user events of the target');

  const unknown = await expectFailure(
    () => ctx.server.sendUserCustomEvent(`nobody-${Date.now()}`, { type: 'friendship_request' }),
    { status: 404 },
    'sendUserCustomEvent to an unknown user',
  );
  const dotted = await expectFailure(
    () => ctx.server.sendUserCustomEvent(target, { type: 'friendship.request' }),
    { status: 400 },
    'sendUserCustomEvent with a dotted type',
  );
  // A user token may not send user events (server-side only).
  const clientSide = await expectFailure(
    () => bystander.client.sendUserCustomEvent(target, { type: 'friendship_request' }),
    { status: 403, code: 17 },
    'sendUserCustomEvent with a user token',
  );
  await ctx.sync(first.client, target, 'first');
  equal(recs[0].events.length, 1, 'target got only the one accepted event');

  return { received, unknown, dotted, clientSide };
}

/**
 * Watchers for an event the Python SDK sends server-side (the caller sends it after ready).
 * args: {channelType, channelId, watchers: [..], text, sender}
 */
export async function watchForServerEvent(ctx) {
  const { channelType, channelId, watchers, text, sender } = ctx.args;
  const cid = `${channelType}:${channelId}`;
  const recs = [];
  for (const id of watchers) {
    const { client } = await ctx.connect(id);
    const channel = client.channel(channelType, channelId);
    await channel.watch();
    recs.push(ctx.record(channel, 'friendship_request', id));
  }
  await ctx.ready('watching');
  const received = {};
  for (const rec of recs) {
    const event = await rec.waitFor((e) => e.text === text);
    checkChannelEvent(event, { type: 'friendship_request', cid, userId: sender, text }, rec.label);
    received[rec.label] = event;
  }
  return received;
}

/** connectUser with a token signed by another secret fails fast with code 43. args: {user} */
export async function badToken(ctx) {
  const { user } = ctx.args;
  const forged = new StreamChat(ctx.key, 'not-the-secret-of-this-app-at-all-000000000000', {
    baseURL: ctx.url,
  }).createToken(user);
  const client = ctx.newClient();
  const started = Date.now();
  // connect() rethrows a refused handshake as Error(JSON.stringify({code, StatusCode, message,
  // isWSFailure})) (connection.ts), so the code travels inside the message.
  const failure = await expectFailure(
    () => client.connectUser({ id: user }, forged),
    {},
    'connectUser with a bad signature',
  );
  const elapsedMs = Date.now() - started;
  let parsed;
  try {
    parsed = JSON.parse(failure.message);
  } catch {
    throw new Error(`connectUser rejected with a non-API error: ${failure.message}`);
  }
  equal(parsed.code, 43, 'error code (token signature invalid)');
  equal(parsed.StatusCode, 401, 'error StatusCode');
  equal(parsed.isWSFailure, false, 'not a (retryable) WS failure');
  assert(elapsedMs < 5000, `connectUser rejected quickly (took ${elapsedMs} ms)`);
  return { ...parsed, elapsedMs };
}

/**
 * A non-member cannot watch a messaging channel; anyone can watch a livestream.
 * args: {user, messagingId, livestreamId}
 */
export async function watchPermissions(ctx) {
  const { user, messagingId, livestreamId } = ctx.args;
  const { client } = await ctx.connect(user);
  const denied = await expectFailure(
    () => client.channel('messaging', messagingId).watch(),
    { status: 403, code: 17 },
    'non-member watching a messaging channel',
  );
  const live = client.channel('livestream', livestreamId);
  const state = await live.watch();
  equal(state.channel?.cid, `livestream:${livestreamId}`, 'livestream watch() channel.cid');
  // Watching it really subscribes: an event sent there comes back to this watcher.
  const rec = ctx.record(live, 'friendship_request', `${user} livestream`);
  await live.sendEvent({ type: 'friendship_request', text: 'live' });
  const event = await rec.waitFor((e) => e.text === 'live');
  checkChannelEvent(event, {
    type: 'friendship_request', cid: `livestream:${livestreamId}`, userId: user, text: 'live',
  }, 'livestream watcher');
  return { denied };
}

/**
 * Survives a server restart: the SDK reconnects by itself, recoverState() re-watches, and new
 * events flow again. The caller restarts the server after ready.
 * args: {channelType, channelId, users: [a, b]}
 */
export async function reconnect(ctx) {
  const { channelType, channelId, users } = ctx.args;
  const [a, b] = users;
  const sides = {};
  for (const id of users) {
    const { client, me } = await ctx.connect(id);
    const channel = client.channel(channelType, channelId);
    await channel.watch();
    sides[id] = {
      client,
      channel,
      before: me.connection_id,
      recovered: ctx.record(client, 'connection.recovered', `${id}`),
      custom: ctx.record(channel, 'friendship_request', `${id}`),
    };
  }
  await sides[a].channel.sendEvent({ type: 'friendship_request', text: 'before restart' });
  await sides[b].custom.waitFor((e) => e.text === 'before restart');

  await ctx.ready('watching');
  // The caller has restarted the server by now.
  // (connection.changed {online: false} is debounced by 5 s in the SDK and never fires when
  // the reconnect is quicker, so the signal waited for is connection.recovered: dispatched after
  // recoverState() has re-queried the active channels with watch: true on the new socket.)
  for (const id of users) {
    const { client, before } = sides[id];
    await sides[id].recovered.waitFor(
      () => client._getConnectionID() && client._getConnectionID() !== before, 20000,
      'on a new connection');
    assert(client.wsConnection?.isHealthy, `${id}: healthy after reconnect`);
    // A restart must close sockets with a close frame and a code the SDK reconnects on at once:
    // not 1000 (treated as final) and not 1006 (no close frame: the server dropped them late).
    const codes = client.hubbubCloseCodes;
    assert(codes.length > 0, `${id}: the SDK saw its socket close`);
    assert(codes[0] !== 1000 && codes[0] !== 1006,
      `${id}: server closed the socket with a reconnect code (got ${codes[0]})`);
    sides[id].closeCode = codes[0];
  }
  await sides[a].channel.sendEvent({ type: 'friendship_request', text: 'after restart' });
  for (const id of users) {
    const event = await sides[id].custom.waitFor((e) => e.text === 'after restart');
    checkChannelEvent(event, {
      type: 'friendship_request', cid: `${channelType}:${channelId}`, userId: a,
      text: 'after restart',
    }, `${id} after restart`);
  }
  return Object.fromEntries(
    users.map((id) => [id, {
      before: sides[id].before,
      after: sides[id].client._getConnectionID(),
      closeCode: sides[id].closeCode,
    }]),
  );
}

/** Polls `pred` every 50 ms until it holds, for at most `ms`. */
async function until(pred, ms, what) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Issue 11: a member removed from a channel. The caller removes `member` after ready, sends a
 * channel event `secret` and then a marker user event to `member`.
 * args: {channelType, channelId, member}
 */
export async function removedMember(ctx) {
  const { channelType, channelId, member } = ctx.args;
  const cid = `${channelType}:${channelId}`;
  const { client } = await ctx.connect(member);
  const channel = client.channel(channelType, channelId);
  await channel.watch();
  assert(client.activeChannels[cid], 'the watched channel is active');
  const all = ctx.record(client, null, member);
  await ctx.ready('watching');
  await all.waitFor((e) => e.type === 'hubbub_marker', 10000, 'marker after the removal');
  const types = all.events.map((e) => e.type);
  assert(!types.includes('secret'), `no channel event after the removal (got ${types})`);
  const note = all.events.find((e) => e.type === 'notification.removed_from_channel');
  assert(note, `notification.removed_from_channel received (got ${types})`);
  equal(note.cid, cid, 'notification cid');
  // The SDK evicts the channel (it would re-watch it on recovery otherwise).
  assert(!client.activeChannels[cid], 'the SDK dropped the channel from activeChannels');
  return { types, note };
}

/**
 * Issue 11: a user deleted while connected. The caller soft-deletes `user` after ready. The
 * SDK sees its socket close, tries to reconnect, is refused with code 16, and stops.
 * args: {user}
 */
export async function deletedUser(ctx) {
  const { user } = ctx.args;
  const { client } = await ctx.connect(user);
  await ctx.ready('connected');
  await until(() => client.hubbubCloseCodes.length > 0, 10000, 'the socket to close');
  const closeCode = client.hubbubCloseCodes[0];
  // Its reconnect is refused with the deletion's error (a frame, then close 1000).
  await until(() => client.hubbubWsFailures.includes('16'), 15000,
    `a reconnect refused with code 16 (failures so far: ${client.hubbubWsFailures})`);
  // No reconnect loop: give it time for several more attempts, then check none happened.
  const failures = client.hubbubWsFailures.length;
  await new Promise((r) => setTimeout(r, 5000));
  equal(client.hubbubWsFailures.length, failures, 'no further reconnect attempts');
  assert(!client.wsConnection?.isHealthy, 'the SDK is not connected');
  // REST with the same token: 404, code 16.
  const rest = await expectFailure(
    () => client.queryUsers({ id: user }),
    { status: 404, code: 16 },
    'REST call of a deleted user',
  );
  // A new connectUser is refused too (and does not restore the account).
  const again = ctx.newClient();
  const refused = await expectFailure(
    () => again.connectUser({ id: user, name: 'restored?' }, ctx.token(user)),
    {},
    'connectUser of a deleted user',
  );
  const parsed = JSON.parse(refused.message);
  equal(parsed.code, 16, 'connect error code');
  equal(parsed.isWSFailure, false, 'not a retryable WS failure');
  return { closeCode, failures: client.hubbubWsFailures, rest, connect: parsed };
}

/**
 * Multi-tenancy seen by a client-side SDK user (issue 16): the app has multi_tenant_enabled.
 * args: {user, ownChannel, otherChannel, sameTeam: [ids], otherTeam: [ids]}
 *   `ownChannel` is of the user's team (the user is a member), `otherChannel` of another team.
 */
export async function multiTenant(ctx) {
  const { user, ownChannel, otherChannel, sameTeam, otherTeam } = ctx.args;
  const { client } = await ctx.connect(user);
  const own = client.channel('messaging', ownChannel);
  const state = await own.watch();
  equal(state.channel.cid, `messaging:${ownChannel}`, 'own team channel watched');
  await own.sendEvent({ type: 'hello' });

  const other = client.channel('messaging', otherChannel);
  const watch = await expectFailure(() => other.watch(), { status: 403, code: 17 },
    'watch another team\'s channel');
  assert(!other.initialized, 'the other team\'s channel is not initialised');
  // The channel cannot be watched, so Channel.sendEvent would refuse locally: the same request
  // through the SDK's own HTTP client.
  const send = await expectFailure(
    () => client.post(`${client.baseURL}/channels/messaging/${otherChannel}/event`,
      { event: { type: 'hello' } }),
    { status: 403, code: 17 }, 'send an event to another team\'s channel');

  const channels = await client.queryChannels(
    { cid: { $in: [`messaging:${ownChannel}`, `messaging:${otherChannel}`] } }, {}, { watch: false });
  const cids = channels.map((c) => c.cid);
  equal(JSON.stringify(cids), JSON.stringify([`messaging:${ownChannel}`]),
    'queryChannels returns the own team\'s channel only');

  const { users } = await client.queryUsers({ id: { $in: [...sameTeam, ...otherTeam] } });
  const seen = users.map((u) => u.id).sort();
  equal(JSON.stringify(seen), JSON.stringify([...sameTeam].sort()),
    'queryUsers returns users who share a team only');
  for (const u of users) {
    assert(Array.isArray(u.teams) && u.teams.length > 0, `${u.id}: teams on the wire`);
  }
  return { watch, send, cids, seen };
}

/**
 * Presence, as an application subscribes to it: queryUsers(..., {presence: true}) and
 * channel.watch({presence: true}) make the watcher's connection receive
 * user.presence.changed when the subject's first connection opens and its last one closes.
 * args: {watcher, subject, member, channelType, channelId}  (watcher and member are members)
 */
export async function presence(ctx) {
  const { watcher, subject, member, channelType, channelId } = ctx.args;
  const { client: w } = await ctx.connect(watcher);
  const rec = ctx.record(w, 'user.presence.changed', `${watcher} presence`);
  const found = await w.queryUsers({ id: { $in: [subject] } }, {}, { presence: true });
  equal(found.users.length, 1, 'queryUsers finds the subject');
  equal(found.users[0].online, false, 'the subject is offline before it connects');

  const { client: s } = await ctx.connect(subject);
  const online = await rec.waitFor((e) => e.user?.id === subject && e.user.online, undefined,
    'subject online');
  const onlineInState = w.state.users[subject]?.online;
  await s.disconnectUser(1000);
  const offline = await rec.waitFor((e) => e.user?.id === subject && !e.user.online, undefined,
    'subject offline');

  const channel = w.channel(channelType, channelId);
  await channel.watch({ presence: true });
  const { client: m } = await ctx.connect(member);
  const memberOnline = await rec.waitFor((e) => e.user?.id === member && e.user.online,
    undefined, 'member online');
  await m.disconnectUser(1000);
  await ctx.close();
  return { online, offline, onlineInState, memberOnline };
}

/**
 * Watchers of a channel record a burst of `total` events the caller sends after ready
 * (server-side, from concurrent senders, so the server coalesces frames per socket).
 * args: {channelType, channelId, watchers: [..], total}. Returns, per watcher, the [s, n] of
 * each event in the order the SDK delivered them.
 */
export async function burst(ctx) {
  const { channelType, channelId, watchers, total } = ctx.args;
  const recs = [];
  for (const id of watchers) {
    const { client } = await ctx.connect(id);
    const channel = client.channel(channelType, channelId);
    await channel.watch();
    recs.push(ctx.record(channel, 'burst', id));
  }
  await ctx.ready('watching');
  const received = {};
  for (const rec of recs) {
    await rec.waitFor(() => rec.events.length >= total, 20000, `(all ${total})`);
    received[rec.label] = rec.events.map((e) => ({ s: e.s, n: e.n, cid: e.cid }));
  }
  return received;
}

/**
 * Issue #9: a member's client-side calls have no per-second burst cap; only the call past the
 * per-user limit of its window (60) is refused, with 429 and code 9. The caller starts the
 * server on the default limits with a short window (HUBBUB_RATE_LIMIT_WINDOW), so that the
 * budget comes back within the test.
 * args: {channelType, channelId, user}
 */
export async function userRateLimit(ctx) {
  const { channelType, channelId, user } = ctx.args;
  const { client } = await ctx.connect(user);
  const channel = client.channel(channelType, channelId);
  await channel.watch();

  // Every reply to a custom event, success or refusal, with the limit it was counted against.
  const replies = [];
  const note = (response) => {
    if (response?.config?.url?.endsWith('/event')) {
      const h = response.headers;
      replies.push({
        status: response.status,
        code: response.data?.code,
        limit: Number(h['x-ratelimit-limit']),
        remaining: Number(h['x-ratelimit-remaining']),
        reset: Number(h['x-ratelimit-reset']),
      });
    }
  };
  client.axiosInstance.interceptors.response.use(
    (response) => { note(response); return response; },
    (error) => { note(error.response); return Promise.reject(error); },
  );

  // Ordinary use: a keystroke and four custom events at once. Stream's per-second burst rule
  // is for app limits only: all five pass.
  const burst = await Promise.all([
    channel.keystroke(),
    ...[1, 2, 3, 4].map((n) => channel.sendEvent({ type: 'burst', n })),
  ]);
  equal(burst.length, 5, 'burst replies');
  equal(replies.filter((r) => r.status === 201).length, 5, 'the five burst events answered 201');

  // Then on until one is refused: the first refusal must be the 61st call of its window.
  let refusal;
  for (let n = 0; n < 400 && !refusal; n += 1) {
    try {
      await channel.sendEvent({ type: 'steady', n });
    } catch (err) {
      refusal = { status: err.status, code: err.code, message: err.message };
    }
  }
  assert(refusal, 'a call past the per-user limit was refused');
  equal(refusal.status, 429, 'refusal HTTP status');
  equal(refusal.code, 9, 'refusal Stream code');
  const refused = replies[replies.length - 1];
  equal(refused.status, 429, 'last reply is the refusal');
  equal(refused.limit, 60, 'x-ratelimit-limit of the refusal');
  equal(refused.remaining, 0, 'x-ratelimit-remaining of the refusal');
  const sameWindow = replies.filter((r) => r.reset === refused.reset);
  equal(sameWindow.length, 61, 'calls counted in the refusal\'s window');
  assert(sameWindow.slice(0, 60).every((r) => r.status === 201),
    `the first 60 calls of the window passed (${JSON.stringify(sameWindow.slice(0, 60))})`);

  // The next window gives the budget back.
  const waitMs = refused.reset * 1000 - Date.now() + 50;
  if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  const after = await channel.sendEvent({ type: 'steady', n: 'next window' });
  equal(after.event?.type, 'steady', 'a call in the next window passes');
  return { refusal, refused, windowCalls: sameWindow.length, replies: replies.length };
}

/**
 * Issue #14: nothing missed. A watcher's socket is cut underneath the SDK and its reconnects
 * fail until the caller's events were sent; meanwhile `count` custom events go to `channelId`,
 * the watcher is removed from `removedChannelId` (which then gets events of its own), and a
 * user event is sent to the watcher (who has no connection). The SDK reconnects (to
 * `otherUrl` if given: another node of a cluster) and `client.sync` returns exactly the
 * missed events in order, `notification.removed_from_channel` for the other channel, and the
 * user event once.
 * args: {channelType, channelId, removedChannelId, watcher, sender, count, otherUrl?}
 */
export async function syncAfterCut(ctx) {
  const { channelType, channelId, removedChannelId, watcher, sender, count, otherUrl } =
    ctx.args;
  const cid = `${channelType}:${channelId}`;
  const removedCid = `${channelType}:${removedChannelId}`;
  const { client, me } = await ctx.connect(watcher);
  const channel = client.channel(channelType, channelId);
  await channel.watch();
  await client.channel(channelType, removedChannelId).watch();
  const live = ctx.record(client, 'missed_event', `${watcher} client.on`);
  const inboxLive = ctx.record(client, 'inbox_note', `${watcher} client.on`);
  const recovered = ctx.record(client, 'connection.recovered', watcher);
  const serverChannel = ctx.server.channel(channelType, channelId);
  const removedChannel = ctx.server.channel(channelType, removedChannelId);

  // The last event the watcher saw before the cut: its created_at is the sync cursor.
  await serverChannel.sendEvent({ type: 'missed_event', n: -1, user_id: sender });
  const last = await live.waitFor((e) => e.n === -1);
  const lastSyncAt = last.created_at;

  // Cut the socket underneath the SDK; its reconnects fail until the URL is given back.
  client.wsBaseURL = 'ws://127.0.0.1:9';
  client.wsConnection.ws.terminate();
  for (let i = 0; i < 50; i++) {
    const { users } = await ctx.server.queryUsers({ id: watcher });
    if (users[0] && !users[0].online) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (let n = 0; n < count; n++) {
    await serverChannel.sendEvent({ type: 'missed_event', n, user_id: sender });
  }
  await removedChannel.removeMembers([watcher]);
  await removedChannel.sendEvent({ type: 'missed_event', n: 1000, user_id: sender });
  await ctx.server.sendUserCustomEvent(watcher, { type: 'inbox_note', text: 'while away' });
  equal(live.matching((e) => e.n >= 0).length, 0, 'events received live while cut');

  client.setBaseURL(otherUrl || ctx.url);
  await recovered.waitFor(
    () => client._getConnectionID() && client._getConnectionID() !== me.connection_id, 25000,
    'on a new connection');

  const synced = await client.sync([cid, removedCid], lastSyncAt);
  const missed = synced.events.filter((e) => e.type === 'missed_event');
  equal(JSON.stringify(missed.map((e) => e.n)),
    JSON.stringify([...Array(count).keys()]), 'the missed events, in order');
  for (const event of missed) {
    checkChannelEvent(event, { type: 'missed_event', cid, userId: sender }, `synced ${event.n}`);
  }
  const stamps = missed.map((e) => e.created_at);
  assert(stamps.every((s, i) => i === 0 || s > stamps[i - 1]), 'created_at strictly increases');
  assert(stamps[0] > lastSyncAt, 'every synced event is after last_sync_at');
  equal(synced.events.filter((e) => e.cid === removedCid && e.type !== 'notification.removed_from_channel').length,
    0, 'events of the channel the watcher was removed from');
  const removed = synced.events.filter((e) => e.type === 'notification.removed_from_channel');
  equal(JSON.stringify(removed.map((e) => e.cid)), JSON.stringify([removedCid]),
    'notification.removed_from_channel');
  const notes = synced.events.filter((e) => e.type === 'inbox_note');
  equal(notes.length, 1, 'the user event sent while away');
  equal(notes[0].text, 'while away', 'the user event text');
  equal(notes[0].cid, undefined, 'a user event has no cid');
  equal(inboxLive.events.length, 0, 'the user event was not also delivered live');

  // Again, with inaccessible_cids: the channel events again, the user event not twice.
  const again = await client.sync([cid, removedCid], lastSyncAt, { with_inaccessible_cids: true });
  equal(JSON.stringify(again.inaccessible_cids), JSON.stringify([removedCid]), 'inaccessible_cids');
  equal(again.events.filter((e) => e.type === 'missed_event').length, count, 'events again');
  equal(again.events.filter((e) => e.type !== 'missed_event').length, 0, 'nothing else again');

  // Live delivery goes on, once.
  await serverChannel.sendEvent({ type: 'missed_event', n: count, user_id: sender });
  await live.waitFor((e) => e.n === count);
  return {
    before: me.connection_id,
    after: client._getConnectionID(),
    missed: missed.map((e) => e.n),
    removed: removed.map((e) => e.cid),
    notes: notes.length,
  };
}

/** A user event to a connected user is delivered live and never kept for /sync. */
export async function userEventWhileConnected(ctx) {
  const { userId, channelType, channelId } = ctx.args;
  const { client } = await ctx.connect(userId);
  const notes = ctx.record(client, 'inbox_note', userId);
  const before = new Date(Date.now() - 1000).toISOString();
  await ctx.server.sendUserCustomEvent(userId, { type: 'inbox_note', text: 'live' });
  await notes.waitFor((e) => e.text === 'live');
  const synced = await client.sync([`${channelType}:${channelId}`], before);
  equal(synced.events.filter((e) => e.type === 'inbox_note').length, 0,
    'a user event delivered live is not returned by sync');
  return { live: notes.events.length };
}
