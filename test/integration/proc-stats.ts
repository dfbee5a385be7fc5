/**
 * Process figures for the flood and crash-restart tests: a process's peak and current
 * resident set (VmHWM / VmRSS from /proc/<pid>/status) and its effective capabilities.
 */
import * as fs from 'node:fs';

/** VmHWM (peak resident set) and VmRSS of a process, in MiB; null when it is gone. */
export function memoryOf(pid: number): { hwmMiB: number; rssMiB: number } | null {
  try {
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(st)?.[1] ?? NaN);
    return { hwmMiB: +(kb('VmHWM') / 1024).toFixed(1), rssMiB: +(kb('VmRSS') / 1024).toFixed(1) };
  } catch {
    return null;
  }
}

/** A field of /proc/<pid>/status (CapEff, Uid, NoNewPrivs, ...), or null. */
export function statusField(pid: number, field: string): string | null {
  try {
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(st)?.[1]?.trim() ?? null;
  } catch {
    return null;
  }
}
