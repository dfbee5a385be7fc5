/**
 * One command for every benchmark, in one run on this machine: runs each bench script
 * (each bounded in time, each writing results/<name>.json), then writes BENCHMARKS.md with
 * the tables and ratios against the kernel path measured in the same run, and SVG plots
 * (results/*.svg) of the scale curves and the throughput comparison.
 *
 *   sudo node dist/scripts/bench.js [--only clusterip,stages,...] [--skip ...] [--quick]
 *
 * The main comparison is bench-clusterip (client → ClusterIP → pod through tapflow with the full
 * pipeline, tapflow plain, kernel iptables DNAT, kernel nftables DNAT, direct routing, all in
 * one run); bench-stages is the per-stage profile. bench-services-path (HTTP through a ClusterIP
 * with two endpoints, tapflow vs iptables) is superseded by bench-clusterip and runs only when
 * named in --only. Each bench's stdout lines that start with `|` (markdown tables) or `> `
 * (notes) go into BENCHMARKS.md; docs/benchmarks-notes.md is appended.
 *
 * Benchmarks that need root (namespaces, TAPs) are skipped with a note when not root.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';

interface Bench {
  name: string; script: string; root: boolean; args: string[]; quickArgs: string[]; timeoutS: number;
  /** Hard limit with --quick (default timeoutS). */
  quickTimeoutS?: number;
  /** Runs only when named in --only. */
  optional?: boolean;
}

const BENCHES: Bench[] = [
  { name: 'clusterip', script: 'bench-clusterip.js', root: true, args: [], quickArgs: ['--quick'], timeoutS: 480, quickTimeoutS: 200 },
  { name: 'stages', script: 'bench-stages.js', root: false, args: [], quickArgs: ['--quick'], timeoutS: 120 },
  { name: 'pipeline', script: 'bench-pipeline.js', root: false, args: ['--seconds', '3'], quickArgs: ['--seconds', '1'], timeoutS: 120 },
  { name: 'lpm', script: 'bench-lpm.js', root: false, args: [], quickArgs: [], timeoutS: 180 },
  { name: 'services', script: 'bench-services.js', root: false, args: [], quickArgs: [], timeoutS: 180 },
  { name: 'classify', script: 'bench-classify.js', root: false, args: [], quickArgs: [], timeoutS: 180 },
  { name: 'gso', script: 'bench-gso.js', root: false, args: [], quickArgs: [], timeoutS: 120 },
  { name: 'tap-io', script: 'bench-tap-io.js', root: true, args: [], quickArgs: ['--seconds', '1'], timeoutS: 120 },
  { name: 'forward', script: 'bench-forward.js', root: true, args: [], quickArgs: ['--tcp-seconds', '3', '--udp-seconds', '2'], timeoutS: 300 },
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

/**
 * Run one bench as a child process: its stdout is streamed to our stderr as it comes (progress)
 * and kept for the report; a bench past its limit gets SIGTERM (testbeds tear down on it), then
 * SIGKILL 15 s later.
 */
function run(b: Bench): Promise<{ ok: boolean; seconds: number; note: string; stdout: string }> {
  const file = path.join(__dirname, b.script);
  if (!fs.existsSync(file)) return Promise.resolve({ ok: false, seconds: 0, note: `not built (${b.script} missing)`, stdout: '' });
  if (b.root && !isRoot) return Promise.resolve({ ok: false, seconds: 0, note: 'needs root (namespaces, TAPs)', stdout: '' });
  const limit = quick ? b.quickTimeoutS ?? b.timeoutS : b.timeoutS;
  process.stderr.write(`\n=== bench ${b.name} (bounded ${limit}s) ===\n`);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...(quick ? b.quickArgs : b.args)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      stdout += d;
      process.stderr.write(d);
    });
    const kill = setTimeout(() => {
      timedOut = true;
      process.stderr.write(`\n=== bench ${b.name}: past ${limit}s, stopping it ===\n`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15000).unref();
    }, limit * 1000);
    const done = (note: string, ok: boolean) => {
      clearTimeout(kill);
      resolve({ ok, seconds: (Date.now() - t0) / 1000, note, stdout });
    };
    child.on('error', (e) => done(`failed: ${e.message}`, false));
    child.on('exit', (code, sig) => {
      if (timedOut) done(`stopped after ${limit}s`, false);
      else if (code !== 0) done(sig ? `killed by ${sig}` : `exit ${code}`, false);
      else done('', true);
    });
  });
}

function readJson(name: string): unknown {
  try { return JSON.parse(fs.readFileSync(path.join(resultsDir, `${name}.json`), 'utf8')); } catch { return null; }
}

/** A minimal SVG bar chart: groups of (label, value) bars; a bar's `label` (default: its value) is printed above it. */
export function barChart(title: string, unit: string, groups: { label: string; bars: { name: string; value: number; label?: string }[] }[]): string {
  const W = 760, H = 380, left = 60, bottom = 70, top = 40;
  const max = Math.max(1e-9, ...groups.flatMap((g) => g.bars.map((b) => b.value)));
  const gw = (W - left - 20) / Math.max(1, groups.length);
  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`;
  out += `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`;
  out += `<line x1="${left}" y1="${H - bottom}" x2="${W - 10}" y2="${H - bottom}" stroke="#333"/>`;
  groups.forEach((g, gi) => {
    const bw = (gw - 20) / Math.max(1, g.bars.length);
    g.bars.forEach((b, bi) => {
      const h = (b.value / max) * (H - bottom - top);
      const x = left + gi * gw + 10 + bi * bw;
      out += `<rect x="${x}" y="${H - bottom - h}" width="${Math.max(1, bw - 4)}" height="${h}" fill="${COLORS[bi % COLORS.length]}"><title>${esc(b.name)}: ${esc(b.label ?? String(b.value))} (${fmt(b.value)} ${esc(unit)})</title></rect>`;
      out += `<text x="${x + (bw - 4) / 2}" y="${H - bottom - h - 4}" text-anchor="middle" font-size="9">${esc(b.label ?? fmt(b.value))}</text>`;
    });
    out += `<text x="${left + gi * gw + gw / 2}" y="${H - bottom + 16}" text-anchor="middle">${esc(g.label)}</text>`;
  });
  const names = groups[0]?.bars.map((b) => b.name) ?? [];
  const step = (W - left) / Math.max(1, names.length);
  names.forEach((n, i) => { out += `<rect x="${left + i * step}" y="${H - 28}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${left + i * step + 16}" y="${H - 18}" font-size="11">${esc(n)}</text>`; });
  out += `<text x="14" y="${top + 10}" font-size="11">${esc(unit)}</text></svg>\n`;
  return out;
}

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948'];

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
  const colors = COLORS;
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

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PATH_NAMES: Record<string, string> = {
  'tapflow-full': 'tapflow full pipeline', 'tapflow-plain': 'tapflow plain', 'kernel-iptables': 'kernel iptables DNAT',
  'kernel-nft': 'kernel nftables DNAT', direct: 'direct routing (kernel)',
};

/** Plots for one bench from its JSON (written in this run); returns the markdown lines that show them. */
function plotsFor(name: string, startedMs: number): string[] {
  const fresh = (file: string): Json | null => {
    try {
      if (fs.statSync(path.join(resultsDir, `${file}.json`)).mtimeMs < startedMs) return null; // not from this run
    } catch {
      return null;
    }
    return readJson(file) as Json | null;
  };
  const md: string[] = [];
  const write = (file: string, svg: string, alt: string) => {
    if (!svg) return;
    fs.writeFileSync(path.join(resultsDir, file), svg);
    md.push(`![${alt}](results/${file})`, '');
  };
  if (name === 'clusterip') {
    const j = fresh('bench-clusterip');
    const results = (j?.results ?? []) as { metric: string; key: string; label: string; values: Record<string, number | null>; ratioVsIptables: Record<string, number | null> }[];
    const paths = ((j?.options?.paths ?? []) as string[]);
    const pick = (metric: string, key: string) => results.find((r) => r.metric === metric && r.key === key);
    const groups = (rows: [string, string, string][], ratio: boolean) => {
      const out: { label: string; bars: { name: string; value: number; label: string }[] }[] = [];
      for (const [metric, key, label] of rows) {
        const r = pick(metric, key);
        if (!r) continue;
        out.push({
          label,
          bars: paths.map((p) => {
            const abs = r.values[p] ?? null;
            const v = ratio ? r.ratioVsIptables[p] ?? null : abs;
            return { name: PATH_NAMES[p] ?? p, value: v ?? 0, label: abs === null ? 'n/a' : fmt(abs) };
          }),
        });
      }
      return out;
    };
    const thr = groups([
      ['tcp1', 'gbps', 'TCP 1 stream'], ['tcp4', 'gbps', 'TCP 4 streams'], ['udp64', 'deliveredKpps', 'UDP 64 B delivered'],
      ['keepAlive', 'rps', 'HTTP keep-alive'], ['newConnections', 'cps', 'new conn/s'],
    ], true);
    if (thr.length) write('clusterip-throughput.svg', barChart('via ClusterIP, relative to kernel iptables DNAT (= 1.0); labels: absolute', 'ratio', thr), 'throughput via ClusterIP');
    const lat = groups([
      ['keepAlive', 'p50', 'keep-alive p50'], ['keepAlive', 'p99', 'keep-alive p99'], ['newConnections', 'p50', 'new conn p50'],
      ['newConnections', 'p99', 'new conn p99'], ['ping', 'avgMs', 'ping avg'],
    ], false);
    if (lat.length) write('clusterip-latency.svg', barChart('latency via ClusterIP (ping: pod IP), lower is better', 'ms', lat), 'latency via ClusterIP');
  }
  if (name === 'forward') {
    const j = fresh('bench-forward');
    const res = (j?.results ?? []) as Json[];
    if (Array.isArray(res) && res.length) {
      // Either [{metric, tapflow, kernel}] or bench-forward's per-forwarder results.
      const rows: { metric: string; tapflow: number; kernel: number }[] = res[0].metric !== undefined ? res as never : (() => {
        const t = res.find((r) => r.forwarder === 'tapflow'), k = res.find((r) => r.forwarder === 'kernel');
        const m = (metric: string, f: (r: Json | undefined) => number | undefined) => ({ metric, tapflow: f(t) ?? 0, kernel: f(k) ?? 0 });
        return [
          m('TCP Gbit/s', (r) => r?.tcp?.gbps),
          m('UDP 64 B at pod eth0, kpps', (r) => (r?.udp64?.podRxPps ?? 0) / 1e3),
          m('UDP 64 B delivered, kpps', (r) => (r?.udp64?.deliveredPps ?? 0) / 1e3),
          m('UDP 1400 B at pod eth0, kpps', (r) => (r?.udp1400?.podRxPps ?? 0) / 1e3),
        ];
      })();
      write('forward.svg', barChart('pod IP routing: tapflow vs kernel, relative to kernel (= 1.0); labels: absolute', 'ratio',
        rows.map((x) => ({ label: x.metric, bars: [
          { name: 'tapflow', value: x.kernel > 0 ? x.tapflow / x.kernel : 0, label: fmt(x.tapflow) },
          { name: 'kernel', value: x.kernel > 0 ? 1 : 0, label: fmt(x.kernel) },
        ] }))), 'pod IP routing throughput');
    }
  }
  if (name === 'services') {
    const svc = fresh('bench-services') as { scale?: { services: number; nsPerLookup: number; compileMs: number }[] } | null;
    if (svc && Array.isArray(svc.scale)) {
      write('services-scale.svg', lineChart('service lookup + resolve cost vs services (100,000 endpoints)', 'services', 'ns per new flow',
        [{ name: 'lookup + resolve', points: svc.scale.map((x) => [x.services, x.nsPerLookup] as [number, number]) }]), 'services scale');
      write('services-compile.svg', lineChart('service table compile time vs services (cold)', 'services', 'ms',
        [{ name: 'compile (cold)', points: svc.scale.map((x) => [x.services, x.compileMs] as [number, number]) }]), 'services compile time');
    }
  }
  if (name === 'classify') {
    const cls = fresh('bench-classify') as { scale?: { rules: number; nsPerClassify: number }[] } | null;
    if (cls && Array.isArray(cls.scale)) {
      write('classify-scale.svg', lineChart('first-packet classification cost vs NSG rules (+ rules/5 policies)', 'rules', 'ns per classification',
        [{ name: 'classify (allowed flows)', points: cls.scale.map((x) => [x.rules, x.nsPerClassify] as [number, number]) }]), 'classify scale');
    }
  }
  return md;
}

/**
 * Issue #6's targets in one table, from this run's results JSON (a bench that did not run
 * this time shows "-"). Measured, never asserted.
 */
export function targetsTable(ranNow: Set<string>): string[] {
  const read = (name: string): Record<string, any> | null => { // eslint-disable-line @typescript-eslint/no-explicit-any
    if (!ranNow.has(name)) return null;
    try { return JSON.parse(fs.readFileSync(path.join(resultsDir, `bench-${name}.json`), 'utf8')); } catch { return null; }
  };
  const rows: string[] = ['| target (issue #6) | measured | |', '|---|---:|---|'];
  const verdict = (ok: boolean | null) => (ok === null ? 'not measured' : ok ? 'met' : 'missed');
  const ci = read('clusterip');
  for (const r of (ci?.results ?? []) as { label: string; target?: number; ratioVsIptables: Record<string, number | null> }[]) {
    if (r.target === undefined) continue;
    const v = r.ratioVsIptables['tapflow-full'];
    rows.push(`| ${r.label}, full pipeline / kernel iptables DNAT ≥ ${r.target.toFixed(2)} | ${v === null || v === undefined ? '-' : `${v.toFixed(2)}×`} | ${verdict(v === null || v === undefined ? null : v >= r.target)} |`);
  }
  const st = read('stages')?.summary;
  const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  const cached = num(st?.mppsCachedFull), first = num(st?.mppsFirstPackets10kServices), mib = num(st?.flowTable1M?.mib);
  rows.push(`| in-process cached path ≥ 10 Mpps on one core (whole forwarder, full pipeline) | ${cached === null ? '-' : `${cached.toFixed(2)} Mpps`} | ${verdict(cached === null ? null : cached >= 10)} |`);
  rows.push(`| first packets ≥ 1 M/s with 10k services and 1,000 rules | ${first === null ? '-' : `${first.toFixed(2)} M/s`} | ${verdict(first === null ? null : first >= 1)} |`);
  rows.push(`| 1M tracked flows in ≤ 128 MiB | ${mib === null ? '-' : `${mib} MiB`} | ${verdict(mib === null ? null : mib <= 128)} |`);
  return rows;
}

async function main(): Promise<void> {
  fs.mkdirSync(resultsDir, { recursive: true });
  const startedMs = Date.now();
  const ran: { name: string; ok: boolean; seconds: number; note: string; stdout: string }[] = [];
  for (const b of BENCHES) {
    if (only ? !only.includes(b.name) : b.optional) continue;
    if (skip.includes(b.name)) continue;
    ran.push({ name: b.name, ...(await run(b)) });
  }
  const os = require('node:os') as typeof import('node:os');
  const md: string[] = [];
  md.push('# Benchmarks', '');
  md.push(`Generated by \`node dist/scripts/bench.js${quick ? ' --quick' : ''}\` on ${new Date(startedMs).toISOString()} — ${process.version}, ` +
    `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), Linux ${os.release()}, load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}. ` +
    'All numbers are from this one run; ratios compare with the kernel path measured in the same run, in the same namespace topology. ' +
    'See "How to read these numbers" at the end before quoting any of them.', '');
  md.push('| benchmark | status | seconds |', '|---|---|---|');
  for (const r of ran) md.push(`| ${r.name} | ${r.ok ? 'ok' : `${r.stdout.includes('\n|') ? 'partial' : 'skipped/failed'}: ${r.note}`} | ${r.seconds.toFixed(1)} |`);
  md.push('');
  md.push('## Targets', '', ...targetsTable(new Set(ran.filter((r) => r.stdout.includes('\n|')).map((r) => r.name))), '',
    '> Where a target is missed, docs/benchmarks-notes.md (appended below) says what limits it; the CPU rows of the clusterip table show whether a path was CPU-bound.', '');
  for (const r of ran) {
    // Keep markdown lines (tables `|`, notes `> `); anything else between them becomes one blank line.
    const kept: string[] = [];
    let gap = false;
    for (const l of r.stdout.split('\n')) {
      if (l.startsWith('|') || l.startsWith('> ')) {
        if (gap && kept.length > 0) kept.push('');
        kept.push(l);
        gap = false;
      } else gap = true;
    }
    if (!r.ok && kept.length === 0) continue;
    md.push(`## ${r.name}`, '');
    if (!r.ok) md.push(`> ${r.note}: partial results (its errors are listed at the end of its output).`, '');
    if (kept.length > 0) md.push(...kept, '');
    else md.push('```', r.stdout.trim().split('\n').slice(-20).join('\n'), '```', '');
    md.push(...plotsFor(r.name, startedMs));
  }
  const extra = path.join(root, 'docs', 'benchmarks-notes.md');
  if (fs.existsSync(extra)) md.push(fs.readFileSync(extra, 'utf8'));
  fs.writeFileSync(path.join(root, 'BENCHMARKS.md'), md.join('\n') + '\n');
  process.stderr.write(`\nwritten: BENCHMARKS.md, results/*.json, results/*.svg\n`);
}

if (require.main === module) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}
