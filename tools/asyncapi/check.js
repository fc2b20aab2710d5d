#!/usr/bin/env node
// check.js: validates an AsyncAPI document with @asyncapi/parser and prints what it holds.
//
// Usage: node tools/asyncapi/check.js FILE|URL
// Prints one JSON object: {valid, errors[], warnings[] (every other diagnostic), channels:
// [{id, address, messages: [name]}], messages: [name of every components message],
// operations: [{id, action, channel}]}. Exit 0 when the parser reports no error, 1 when it
// does (or the document cannot be read), 2 on a usage error.
'use strict';
const { load } = require('./lib');

async function main() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: node check.js FILE|URL\n');
    return 2;
  }
  let loaded;
  try {
    loaded = await load(process.argv[2]);
  } catch (e) {
    process.stdout.write(JSON.stringify({ valid: false, errors: [{ message: String(e.message || e) }] }) + '\n');
    return 1;
  }
  const { document, diagnostics } = loaded;
  const errors = diagnostics.filter((d) => d.severity === 'error');
  const out = { valid: document !== undefined && errors.length === 0, errors,
    warnings: diagnostics.filter((d) => d.severity !== 'error') };
  if (document) {
    out.channels = document.channels().all().map((c) => ({
      id: c.id(), address: c.address(), messages: c.messages().all().map((m) => m.name()),
    }));
    out.messages = document.components().messages().all().map((m) => m.name());
    out.operations = document.operations().all().map((o) => ({
      id: o.id(), action: o.action(), channel: o.channels().all().map((c) => c.address()),
    }));
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  return out.valid ? 0 : 1;
}

main().then((rc) => process.exit(rc), (e) => {
  process.stderr.write(`check.js: ${e.stack || e}\n`);
  process.exit(1);
});
