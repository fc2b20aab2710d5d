#!/usr/bin/env node
// render.js: the AsyncAPI document as one static HTML page (the project's event docs).
//
// Usage: node tools/asyncapi/render.js FILE|URL OUT.html
// Owns: the page: the info text (a small Markdown subset: headings, lists, tables, `code`,
// **bold**), then one section per channel (topic, Kafka bindings and retention, the
// operations of each service on it, and each message with its key, headers and payload
// schema), then the messages on no channel. Rules: the document must validate (the same
// parser as check.js); everything from the document is HTML-escaped; no script, no
// network, no assets: the page works from a file:// URL.
'use strict';
const fs = require('fs');
const path = require('path');
const { load } = require('./lib');

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const inline = (s) => esc(s).replace(/`([^`]+)`/g, '<code>$1</code>').replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
const anchor = (kind, id) => `${kind}-${String(id).replace(/[^A-Za-z0-9_.-]/g, '-')}`;

function markdown(text) {
  const out = [];
  const lines = String(text || '').split('\n');
  for (let i = 0; i < lines.length;) {
    const line = lines[i];
    if (/^#{1,6} /.test(line)) {
      const level = Math.min(line.indexOf(' ') + 1, 6); // '## x' is an h3: h1 is the title, h2 a channel
      out.push(`<h${level}>${inline(line.replace(/^#+ /, ''))}</h${level}>`);
      i++;
    } else if (line.startsWith('- ')) {
      out.push('<ul>');
      while (i < lines.length && lines[i].startsWith('- ')) out.push(`<li>${inline(lines[i++].slice(2))}</li>`);
      out.push('</ul>');
    } else if (line.startsWith('|')) {
      const rows = [];
      while (i < lines.length && lines[i].startsWith('|')) rows.push(lines[i++]);
      const cells = (r) => r.replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
      out.push('<table><tr>' + cells(rows[0]).map((c) => `<th>${inline(c)}</th>`).join('') + '</tr>');
      for (const r of rows.slice(2)) out.push('<tr>' + cells(r).map((c) => `<td>${inline(c)}</td>`).join('') + '</tr>');
      out.push('</table>');
    } else if (line.trim() === '') {
      i++;
    } else {
      const para = [];
      while (i < lines.length && lines[i].trim() !== '' && !/^(#|- |\|)/.test(lines[i])) para.push(lines[i++]);
      out.push(`<p>${inline(para.join(' '))}</p>`);
    }
  }
  return out.join('\n');
}

// A multi-format schema ({schemaFormat, schema}) shows its schema.
const schemaOf = (j) => (j && j.schemaFormat && j.schema !== undefined ? j.schema : j);
const pretty = (v) => `<pre>${esc(JSON.stringify(v, null, 2))}</pre>`;

function schemaType(s) {
  if (!s || typeof s !== 'object') return '';
  if ('const' in s) return `const ${JSON.stringify(s.const)}`;
  const parts = [];
  if (s.type) parts.push([].concat(s.type).join(' | '));
  if (s.enum) parts.push(`one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  if (s.pattern) parts.push(`pattern ${s.pattern}`);
  if (s.maxLength) parts.push(`max ${s.maxLength} chars`);
  return parts.join('; ');
}

function headersTable(headers) {
  if (!headers || !headers.properties) return '<p>Headers: none.</p>';
  const required = new Set(headers.required || []);
  const rows = Object.entries(headers.properties).map(([name, s]) =>
    `<tr><td><code>${esc(name)}</code></td><td>${required.has(name) ? 'yes' : 'no'}</td><td>${esc(schemaType(s))}</td><td>${inline(s.description || '')}</td></tr>`);
  return `<table><tr><th>header</th><th>always</th><th>value</th><th>meaning</th></tr>${rows.join('')}</table>`;
}

function messageSection(m) {
  const kafka = m.bindings().get('kafka');
  const key = kafka ? kafka.value().key : undefined;
  const payload = m.payload();
  return `<section class="message" id="${anchor('message', m.name())}">
<h4>${esc(m.name())}${m.title() ? ` — ${esc(m.title())}` : ''}</h4>
${m.summary() ? `<p>${inline(m.summary())}</p>` : ''}
${m.description() ? markdown(m.description()) : ''}
<p>Content type: <code>${esc(m.contentType() || '(none)')}</code></p>
<p>Key: ${key ? `${esc(schemaType(key))} — ${inline(key.description || '')}` : 'none (not on Kafka)'}</p>
${headersTable(m.headers() ? m.headers().json() : undefined)}
<details><summary>Payload schema${payload && payload.schemaFormat() ? ` (${esc(payload.schemaFormat())})` : ''}</summary>${payload ? pretty(schemaOf(payload.json())) : '<p>none</p>'}</details>
</section>`;
}

function channelSection(c) {
  const kafka = c.bindings().get('kafka');
  const b = kafka ? kafka.value() : {};
  const conf = b.topicConfiguration || {};
  const confRows = Object.entries(conf).map(([k, v]) => `<tr><td><code>${esc(k)}</code></td><td><code>${esc(JSON.stringify(v))}</code></td></tr>`).join('');
  const ops = c.operations().all().map((o) => {
    const ob = o.bindings().get('kafka');
    const v = ob ? ob.value() : {};
    const who = o.tags().all().map((t) => t.name()).join(', ');
    const group = v.groupId ? ` (group <code>${esc(v.groupId.const)}</code>)` : '';
    return `<li><strong>${esc(o.action())}</strong> by ${esc(who)}${group}: ${inline(o.summary() || '')}</li>`;
  }).join('\n');
  return `<section class="channel" id="${anchor('channel', c.address())}">
<h2>${esc(c.address())}</h2>
${markdown(c.description())}
<h3>Kafka topic</h3>
<table><tr><th>partitions (default)</th><td>${esc(b.partitions ?? '')}</td></tr><tr><th>replicas (default)</th><td>${esc(b.replicas ?? '')}</td></tr>${confRows}</table>
<h3>Operations</h3>
<ul>${ops}</ul>
<h3>Messages</h3>
${c.messages().all().map(messageSection).join('\n')}
</section>`;
}

async function main() {
  if (process.argv.length !== 4) {
    process.stderr.write('usage: node render.js FILE|URL OUT.html\n');
    return 2;
  }
  const { document, diagnostics } = await load(process.argv[2]);
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (!document || errors.length > 0) {
    for (const e of errors) process.stderr.write(`render.js: ${e.path}: ${e.message}\n`);
    return 1;
  }
  const info = document.info();
  const channels = document.channels().all();
  const onChannel = new Set(channels.flatMap((c) => c.messages().all().map((m) => m.name())));
  const loose = document.components().messages().all().filter((m) => !onChannel.has(m.name()));
  const nav = channels.map((c) => `<li><a href="#${anchor('channel', c.address())}">${esc(c.address())}</a></li>`).join('');
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>${esc(info.title())} ${esc(info.version())}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
code,pre{font-family:ui-monospace,monospace;font-size:.9em}pre{background:#f6f6f6;padding:.75rem;overflow:auto}
section.channel{border-top:2px solid #444;margin-top:2rem}section.message{margin-left:1rem;border-left:3px solid #ddd;padding-left:1rem}
</style></head><body>
<h1>${esc(info.title())} <small>${esc(info.version())} (AsyncAPI ${esc(document.version())})</small></h1>
<nav><ul>${nav}</ul></nav>
${markdown(info.description())}
${channels.map(channelSection).join('\n')}
${loose.length ? `<section class="channel" id="messages-elsewhere"><h2>Event types on no Kafka topic</h2>${loose.map(messageSection).join('\n')}</section>` : ''}
<footer><p>Generated by tools/asyncapi/render.js from the AsyncAPI document; the API serves the same document at <code>/asyncapi.json</code>.</p></footer>
</body></html>
`;
  const out = path.resolve(process.argv[3]);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, html);
  return 0;
}

main().then((rc) => process.exit(rc), (e) => {
  process.stderr.write(`render.js: ${e.stack || e}\n`);
  process.exit(1);
});
