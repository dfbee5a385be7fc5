/**
 * One command for every benchmark, in one run on this machine: runs each bench script
 * (each bounded in time, each writing results/<name>.json), then writes BENCHMARKS.md with
 * the tables and ratios against the kernel path measured in the same run, and SVG plots
 * (results/*.svg) of the scale curves and the throughput comparison.
 *
 *   sudo node dist/scripts/bench.js [--only forward,pipeline,...] [--skip ...] [--quick]
 *
 * Benchmarks that need root (namespaces, TAPs) are skipped with a note when not root.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

interface Bench { name: string; script: string; root: boolean; args: string[]; quickArgs: string[]; timeoutS: number }

const BENCHES: Bench[] = [
  { name: 'pipeline', script: 'bench-pipeline.js', root: false, args: ['--seconds', '3'], quickArgs: ['--seconds', '1'], timeoutS: 120 },
  { name: 'lpm', script: 'bench-lpm.js', root: false, args: [], quickArgs: [], timeoutS: 180 },
  { name: 'services', script: 'bench-services.js', root: false, args: [], quickArgs: [], timeoutS: 180 },
  { name: 'classify', script: 'bench-classify.js', root: false, args: [], quickArgs: [], timeoutS: 180 },
  { name: 'gso', script: 'bench-gso.js', root: false, args: [], quickArgs: [], timeoutS: 120 },
  { name: 'tap-io', script: 'bench-tap-io.js', root: true, args: [], quickArgs: ['--seconds', '1'], timeoutS: 120 },
  { name: 'forward', script: 'bench-forward.js', root: true, args: [], quickArgs: ['--tcp-seconds', '3', '--udp-seconds', '2'], timeoutS: 300 },
  { name: 'services-path', script: 'bench-services-path.js', root: true, args: [], quickArgs: [], timeoutS: 400 },
  { name: 'control', script: 'bench-control.js', root: false, args: [], quickArgs: [], timeoutS: 300 },
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const root = path.resolve(__dirname, '..', '..');
const resultsDir = path.join(root, 'results');
const only = arg('--only')?.split(',');
const skip = arg('--skip')?.split(',') ?? [];
const quick = process.argv.includes('--quick');
const isRoot = process.getuid?.() === 0;

function run(b: Bench): { ok: boolean; seconds: number; note: string; stdout: string } {
  const file = path.join(__dirname, b.script);
  if (!fs.existsSync(file)) return { ok: false, seconds: 0, note: `not built (${b.script} missing)`, stdout: '' };
  if (b.root && !isRoot) return { ok: false, seconds: 0, note: 'needs root (namespaces, TAPs)', stdout: '' };
  process.stderr.write(`\n=== bench ${b.name} (bounded ${b.timeoutS}s) ===\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [file, ...(quick ? b.quickArgs : b.args)], {
    cwd: root, timeout: b.timeoutS * 1000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20,
  });
  const seconds = (Date.now() - t0) / 1000;
  process.stderr.write(r.stdout ?? '');
  if (r.error) return { ok: false, seconds, note: `failed: ${r.error.message}`, stdout: r.stdout ?? '' };
  if (r.status !== 0) return { ok: false, seconds, note: `exit ${r.status}`, stdout: r.stdout ?? '' };
  return { ok: true, seconds, note: '', stdout: r.stdout ?? '' };
}

function readJson(name: string): unknown {
  try { return JSON.parse(fs.readFileSync(path.join(resultsDir, `${name}.json`), 'utf8')); } catch { return null; }
}

/** A minimal SVG bar chart: groups of (label, value) bars. */
export function barChart(title: string, unit: string, groups: { label: string; bars: { name: string; value: number }[] }[]): string {
  const W = 720, H = 360, left = 60, bottom = 60, top = 40;
  const max = Math.max(1e-9, ...groups.flatMap((g) => g.bars.map((b) => b.value)));
  const colors = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759'];
  const gw = (W - left - 20) / Math.max(1, groups.length);
  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`;
  out += `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`;
  out += `<line x1="${left}" y1="${H - bottom}" x2="${W - 10}" y2="${H - bottom}" stroke="#333"/>`;
  groups.forEach((g, gi) => {
    const bw = (gw - 20) / Math.max(1, g.bars.length);
    g.bars.forEach((b, bi) => {
      const h = (b.value / max) * (H - bottom - top);
      const x = left + gi * gw + 10 + bi * bw;
      out += `<rect x="${x}" y="${H - bottom - h}" width="${bw - 4}" height="${h}" fill="${colors[bi % colors.length]}"><title>${esc(b.name)}: ${b.value} ${esc(unit)}</title></rect>`;
      out += `<text x="${x + (bw - 4) / 2}" y="${H - bottom - h - 4}" text-anchor="middle" font-size="10">${fmt(b.value)}</text>`;
    });
    out += `<text x="${left + gi * gw + gw / 2}" y="${H - bottom + 16}" text-anchor="middle">${esc(g.label)}</text>`;
  });
  const names = groups[0]?.bars.map((b) => b.name) ?? [];
  names.forEach((n, i) => { out += `<rect x="${left + i * 140}" y="${H - 24}" width="12" height="12" fill="${colors[i % colors.length]}"/><text x="${left + i * 140 + 16}" y="${H - 14}">${esc(n)}</text>`; });
  out += `<text x="14" y="${top + 10}" font-size="11">${esc(unit)}</text></svg>\n`;
  return out;
}

/** A minimal SVG line chart over a log-scaled x axis. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: { name: string; points: [number, number][] }[]): string {
  const W = 720, H = 360, left = 70, bottom = 50, top = 40, right = 20;
  const xs = series.flatMap((s) => s.points.map((p) => p[0])).filter((x) => x > 0);
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  if (xs.length === 0) return '';
  const lx0 = Math.log10(Math.min(...xs)), lx1 = Math.max(lx0 + 1e-9, Math.log10(Math.max(...xs)));
  const y1 = Math.max(1e-9, ...ys);
  const X = (x: number) => left + ((Math.log10(x) - lx0) / (lx1 - lx0)) * (W - left - right);
  const Y = (y: number) => H - bottom - (y / y1) * (H - bottom - top);
  const colors = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759'];
  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`;
  out += `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`;
  out += `<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="#333"/><line x1="${left}" y1="${top}" x2="${left}" y2="${H - bottom}" stroke="#333"/>`;
  out += `<text x="${W / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)} (log scale)</text><text x="12" y="${top - 8}">${esc(yLabel)}</text>`;
  for (const x of [...new Set(xs)]) out += `<text x="${X(x)}" y="${H - bottom + 14}" text-anchor="middle" font-size="10">${x}</text>`;
  out += `<text x="${left - 6}" y="${Y(y1)}" text-anchor="end" font-size="10">${fmt(y1)}</text><text x="${left - 6}" y="${Y(0)}" text-anchor="end" font-size="10">0</text>`;
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => p[0] > 0).map((p) => `${X(p[0])},${Y(p[1])}`).join(' ');
    out += `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" points="${pts}"/>`;
    for (const p of s.points) if (p[0] > 0) out += `<circle cx="${X(p[0])}" cy="${Y(p[1])}" r="3" fill="${colors[i % colors.length]}"><title>${p[0]}: ${p[1]}</title></circle>`;
    out += `<rect x="${left + 10 + i * 180}" y="${top}" width="12" height="12" fill="${colors[i % colors.length]}"/><text x="${left + 26 + i * 180}" y="${top + 10}">${esc(s.name)}</text>`;
  });
  return out + '</svg>\n';
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function main(): void {
  fs.mkdirSync(resultsDir, { recursive: true });
  const ran: { name: string; ok: boolean; seconds: number; note: string; stdout: string }[] = [];
  for (const b of BENCHES) {
    if (only && !only.includes(b.name)) continue;
    if (skip.includes(b.name)) continue;
    ran.push({ name: b.name, ...run(b) });
  }
  const md: string[] = [];
  md.push('# Benchmarks', '');
  md.push(`Generated by \`node dist/scripts/bench.js\` on ${new Date().toISOString()} — ${process.version}, ` +
    `${require('node:os').cpus().length} cores (${require('node:os').cpus()[0]?.model ?? 'cpu'}). All numbers are from this one run; ` +
    'ratios compare with the kernel path measured in the same run, in the same namespace topology.', '');
  md.push('| benchmark | status | seconds |', '|---|---|---|');
  for (const r of ran) md.push(`| ${r.name} | ${r.ok ? 'ok' : `skipped/failed: ${r.note}`} | ${r.seconds.toFixed(1)} |`);
  md.push('');
  for (const r of ran) {
    if (!r.ok) continue;
    md.push(`## ${r.name}`, '');
    const table = r.stdout.split('\n').filter((l) => l.startsWith('|'));
    if (table.length > 0) md.push(...table, '');
    else md.push('```', r.stdout.trim().split('\n').slice(-20).join('\n'), '```', '');
  }
  // Plots from whatever JSON the benches left.
  const fwd = readJson('bench-forward') as { results?: { metric: string; tapflow: number; kernel: number }[] } | null;
  if (fwd && Array.isArray(fwd.results)) {
    const svg = barChart('tapflow vs kernel (same topology)', 'see metric', fwd.results.map((x) => ({ label: x.metric, bars: [{ name: 'tapflow', value: x.tapflow }, { name: 'kernel', value: x.kernel }] })));
    fs.writeFileSync(path.join(resultsDir, 'forward.svg'), svg);
    md.push('![throughput](results/forward.svg)', '');
  }
  const svc = readJson('bench-services') as { scale?: { services: number; nsPerLookup: number; compileMs: number }[] } | null;
  if (svc && Array.isArray(svc.scale)) {
    fs.writeFileSync(path.join(resultsDir, 'services-scale.svg'), lineChart('service lookup + resolve cost vs services', 'services', 'ns per new flow',
      [{ name: 'lookup+resolve', points: svc.scale.map((s) => [s.services, s.nsPerLookup] as [number, number]) }]));
    md.push('![services scale](results/services-scale.svg)', '');
  }
  const cls = readJson('bench-classify') as { scale?: { rules: number; nsPerClassify: number }[] } | null;
  if (cls && Array.isArray(cls.scale)) {
    fs.writeFileSync(path.join(resultsDir, 'classify-scale.svg'), lineChart('first-packet classification cost vs rules', 'rules', 'ns per classification',
      [{ name: 'classify', points: cls.scale.map((s) => [s.rules, s.nsPerClassify] as [number, number]) }]));
    md.push('![classify scale](results/classify-scale.svg)', '');
  }
  const extra = path.join(root, 'docs', 'benchmarks-notes.md');
  if (fs.existsSync(extra)) md.push(fs.readFileSync(extra, 'utf8'));
  fs.writeFileSync(path.join(root, 'BENCHMARKS.md'), md.join('\n') + '\n');
  process.stderr.write(`\nwritten: BENCHMARKS.md, results/*.json, results/*.svg\n`);
}

if (require.main === module) main();
