// views_stats.js: statistics (#/stats): the counts of GET /api/v1/tasks/stats and an inline SVG
// bar chart of GET /api/v1/analytics/daily (created vs completed per UTC day), with a table
// of the same numbers for screen readers.

import { request } from './api.js';
import { el, svgEl, showError } from './ui.js';

const CHART = { height: 180, top: 16, bottom: 28, left: 28, barGap: 1, dayWidth: 20 };

export function renderStats(main) {
  const counts = el('div', { id: 'stats-counts' }, 'Loading…');
  const chartBox = el('figure', { class: 'chart' });
  main.replaceChildren(el('h1', {}, 'Stats'), el('h2', {}, 'Counts'), counts,
    el('h2', { id: 'chart-heading' }, 'Created and completed per day (UTC)'), chartBox);
  loadCounts(counts).catch(showError);
  loadChart(chartBox).catch(showError);
}

async function loadCounts(box) {
  const { body: s } = await request('GET', '/api/v1/tasks/stats');
  const rows = [
    ['Total', s.total], ['To do', s.by_status.todo], ['In progress', s.by_status.in_progress],
    ['Done', s.by_status.done], ['Overdue', s.overdue], ['Done in the last 7 days', s.done_last_7_days],
    ['Low priority', s.by_priority.low], ['Medium priority', s.by_priority.medium],
    ['High priority', s.by_priority.high], ['Urgent', s.by_priority.urgent],
  ];
  box.replaceChildren(el('dl', { class: 'counts' },
    rows.map(([label, value]) => el('div', {}, el('dt', {}, label), el('dd', {}, String(value))))));
}

async function loadChart(box) {
  const { body } = await request('GET', '/api/v1/analytics/daily');
  const days = body.days;
  box.replaceChildren(
    drawChart(days),
    el('figcaption', {},
      el('span', { class: 'legend legend-created' }, 'created'), ' ',
      el('span', { class: 'legend legend-completed' }, 'completed'),
      ` — ${body.from} to ${body.to}`),
    dataTable(days));
}

function drawChart(days) {
  const { height, top, bottom, left, barGap, dayWidth } = CHART;
  const width = left + days.length * dayWidth + 4;
  const max = Math.max(1, ...days.map((d) => Math.max(d.created, d.completed)));
  const plot = height - top - bottom;
  const barWidth = (dayWidth - 4) / 2 - barGap;
  const svg = svgEl('svg', {
    id: 'stats-chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-labelledby': 'chart-heading', preserveAspectRatio: 'xMinYMid meet',
  });
  svg.append(
    svgEl('line', { class: 'axis', x1: left, y1: top + plot, x2: width, y2: top + plot }),
    svgEl('text', { class: 'tick', x: left - 4, y: top + 4, 'text-anchor': 'end' }, String(max)),
    svgEl('text', { class: 'tick', x: left - 4, y: top + plot, 'text-anchor': 'end' }, '0'));
  days.forEach((day, i) => {
    const x = left + i * dayWidth + 2;
    for (const [kind, value, offset] of [['created', day.created, 0], ['completed', day.completed, barWidth + barGap]]) {
      const h = (value / max) * plot;
      svg.append(svgEl('rect', {
        class: `bar bar-${kind}`, x: x + offset, y: top + plot - h, width: barWidth, height: h,
      }, svgEl('title', {}, `${day.day}: ${value} ${kind}`)));
    }
    if (i % 7 === 0 || i === days.length - 1) {
      svg.append(svgEl('text', { class: 'tick', x, y: height - 8 }, day.day.slice(5)));
    }
  });
  return svg;
}

function dataTable(days) {
  return el('table', { class: 'sr-only' },
    el('caption', {}, 'Tasks created and completed per day'),
    el('thead', {}, el('tr', {},
      el('th', { scope: 'col' }, 'Day'), el('th', { scope: 'col' }, 'Created'), el('th', { scope: 'col' }, 'Completed'))),
    el('tbody', {}, days.map((d) => el('tr', {},
      el('th', { scope: 'row' }, d.day), el('td', {}, String(d.created)), el('td', {}, String(d.completed))))));
}
