// Runs one scenario of scenarios.mjs with the official stream-chat SDK against a Hubbub server.
//
//   HUBBUB_URL=http://127.0.0.1:PORT HUBBUB_API_KEY=... HUBBUB_API_SECRET=... \
//   HUBBUB_ARGS='{"...": ...}' node run.mjs <scenario>
//
// Protocol on stdout, one JSON object per line:
//   {"ready": <any>}            the scenario waits for the caller (see `ready()` in scenarios.mjs);
//                               the caller acts, then writes one line to our stdin to resume
//   {"result": <any>}           last line on success, exit code 0
//   {"error": {...}}            last line on failure, exit code 1 (details also on stderr)
// The process always exits: after HUBBUB_TIMEOUT_MS (default 30000) it fails with a timeout.

import * as scenarios from './scenarios.mjs';

const name = process.argv[2];
const timeoutMs = Number(process.env.HUBBUB_TIMEOUT_MS || 30000);

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function describe(err) {
  if (!(err instanceof Error)) return { message: String(err) };
  return {
    name: err.name,
    message: err.message,
    code: err.code,
    status: err.status,
    stack: err.stack,
  };
}

function fail(err) {
  const info = describe(err);
  emit({ error: info });
  process.stderr.write(`scenario ${name} failed: ${info.stack || info.message}\n`);
  process.exit(1);
}

const timer = setTimeout(
  () => fail(new Error(`scenario ${name} did not finish within ${timeoutMs} ms`)),
  timeoutMs,
);

async function main() {
  // Every exported function of scenarios.mjs is a scenario, except `context` (the helpers).
  const isScenario = (k) => k !== 'context' && typeof scenarios[k] === 'function';
  const scenario = isScenario(name) ? scenarios[name] : undefined;
  if (!scenario) {
    const known = Object.keys(scenarios).filter(isScenario);
    throw new Error(`unknown scenario ${JSON.stringify(name)}; known: ${known.join(', ')}`);
  }
  for (const key of ['HUBBUB_URL', 'HUBBUB_API_KEY', 'HUBBUB_API_SECRET']) {
    if (!process.env[key]) throw new Error(`${key} is not set`);
  }
  const env = {
    url: process.env.HUBBUB_URL.replace(/\/+$/, ''),
    key: process.env.HUBBUB_API_KEY,
    secret: process.env.HUBBUB_API_SECRET,
    args: JSON.parse(process.env.HUBBUB_ARGS || '{}'),
    emit,
  };
  const ctx = scenarios.context(env);
  try {
    return await scenario(ctx);
  } finally {
    await ctx.close();
  }
}

main().then(
  (result) => {
    clearTimeout(timer);
    emit({ result: result ?? null });
    // Keep-alive HTTP agents would hold the event loop open: leave explicitly.
    process.exit(0);
  },
  fail,
);
