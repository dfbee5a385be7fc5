/**
 * Desired state → the Generation one node forwards with. Keeps what must survive from one
 * generation to the next (the key interner that gives service ports and backends stable
 * ids, backend health, the previous service table whose unchanged Maglev tables are
 * reused), so a compile is incremental where it can be. Pure otherwise: no I/O.
 */
import type { NodeConfig } from '../model/node-config';
import type { DesiredState } from '../model/manifests';
import type { Generation } from '../../dataplane/pipeline/generation';
import { KeyInterner, ServiceTable } from '../../dataplane/tables/service-table';
import { compileGeneration } from './generation';
import { compileServices, ServiceCompileStatus } from './services';

export interface NodeCompileResult {
  gen: Generation;
  services: ServiceTable;
  serviceStatus: ServiceCompileStatus[];
  /** Milliseconds the compile took. */
  compileMs: number;
}

export interface NodeCompilerOptions {
  balancer?: 'maglev' | 'random';
  nodePortRange?: { min: number; max: number };
}

export class NodeCompiler {
  readonly interner = new KeyInterner();
  private previous: ServiceTable | null = null;

  constructor(private readonly opts: NodeCompilerOptions = {}) {}

  compile(node: NodeConfig, state: DesiredState | null, version: number): NodeCompileResult {
    const t0 = performance.now();
    const { table, status } = compileServices({
      services: state ? state.services() : [],
      endpointSlices: state ? state.endpointSlices() : [],
      node,
      interner: this.interner,
      previous: this.previous,
      ...(this.opts.balancer ? { balancer: this.opts.balancer } : {}),
      ...(this.opts.nodePortRange ? { nodePortRange: this.opts.nodePortRange } : {}),
    });
    const gen = compileGeneration(node, version, table);
    this.previous = table;
    return { gen, services: table, serviceStatus: status, compileMs: performance.now() - t0 };
  }
}
