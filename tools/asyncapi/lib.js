// lib.js: reading an AsyncAPI document with the real parser (@asyncapi/parser, pinned in
// package.json / package-lock.json).
//
// Owns: the one way check.js and render.js load a document: a file (its relative $refs
// resolved from its folder) or an http(s) URL (parsed from the fetched text alone, so a
// served document must be self-contained). Rules: diagnostics of severity 0 are errors;
// nothing here prints.
'use strict';
const fs = require('fs');
const path = require('path');
const { Parser, fromFile } = require('@asyncapi/parser');

const SEVERITY = ['error', 'warning', 'information', 'hint'];

async function load(source) {
  const parser = new Parser();
  let result;
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source);
    if (!res.ok) throw new Error(`GET ${source}: HTTP ${res.status}`);
    result = await parser.parse(await res.text());
  } else {
    const file = path.resolve(source);
    fs.accessSync(file, fs.constants.R_OK);
    result = await fromFile(parser, file).parse();
  }
  const diagnostics = result.diagnostics.map((d) => ({
    severity: SEVERITY[d.severity] || String(d.severity),
    code: d.code,
    message: d.message,
    path: d.path.join('/'),
  }));
  return { document: result.document, diagnostics };
}

module.exports = { load };
