/**
 * Desired state → the Generation one node forwards with. Keeps what must survive from one
 * generation to the next (the key interner that gives service ports and backends stable
 * ids, backend health, the previous service table whose unchanged Maglev tables are
 * reused, the LoadBalancer IP allocation), so a compile is incremental where it can be.
 * Pure otherwise: no I/O.
 */
import type { NodeConfig } from '../model/node-config';
import type { DesiredState } from '../model/manifests';
import type { Generation } from '../../dataplane/pipeline/generation';
import { KeyInterner, ServiceTable } from '../../dataplane/tables/service-table';
import { compileGeneration } from './generation';
import { compileServices, ServiceCompileCache, ServiceCompileStatus } from './services';
import { compileFilters } from './classifier';
import type { FilterTable } from '../../dataplane/tables/classifier';
import type { Issue } from '../model/errors';
import { NIC_ARM_TYPE, NSG_ARM_TYPE, SUBNET_ARM_TYPE, VNET_ARM_TYPE } from '../model/kinds';
import { allocateLoadBalancerIPs, LbAllocationResult, LbAllocationState } from './lb-allocator';

export interface NodeCompileResult {
  gen: Generation;
  services: ServiceTable;
  /** Per input Service; LoadBalancer IP allocation errors are included in `errors`. */
  serviceStatus: ServiceCompileStatus[];
  /** null when no NSG or NetworkPolicy is configured (everything allowed). */
  filters: FilterTable | null;
  /** Filter problems that did not stop the compile (the table fails closed for them). */
  filterIssues: Issue[];
  /** LoadBalancer IPs allocated from spec.loadBalancerPools (lb-allocator.ts); `active` false without pools. */
  lbStatus: LbAllocationResult;
  /** Milliseconds the compile took. */
  compileMs: number;
}

export interface NodeCompilerOptions {
  balancer?: 'maglev' | 'random';
  /** Overrides NodeConfig spec.nodePortRange. */
  nodePortRange?: { min: number; max: number };
  /** LoadBalancer allocation to start from (restored from disk after a restart). */
  lbState?: LbAllocationState | null;
}

export class NodeCompiler {
  readonly interner = new KeyInterner();
  private previous: ServiceTable | null = null;
  /** Per-service compile results: a change recompiles only the services it touches. */
  readonly serviceCache = new ServiceCompileCache();
  private lbPrevious: LbAllocationState | null;

  constructor(private readonly opts: NodeCompilerOptions = {}) {
    this.lbPrevious = opts.lbState ?? null;
  }

  /** The current LoadBalancer allocation (what to persist). */
  get lbState(): LbAllocationState | null {
    return this.lbPrevious;
  }

  compile(node: NodeConfig, state: DesiredState | null, version: number): NodeCompileResult {
    const t0 = performance.now();
    const input = state ? state.services() : [];
    const lb = allocateLoadBalancerIPs({ services: input, node, previous: this.lbPrevious });
    const { table, status } = compileServices({
      services: lb.services,
      endpointSlices: state ? state.endpointSlices() : [],
      node,
      interner: this.interner,
      previous: this.previous,
      cache: this.serviceCache,
      ...(this.opts.balancer ? { balancer: this.opts.balancer } : {}),
      nodePortRange: this.opts.nodePortRange ?? node.spec.nodePortRange,
    });
    if (lb.active) {
      const byKey = new Map(status.map((s) => [s.key, s]));
      for (const a of lb.allocations) if (a.errors.length > 0) byKey.get(a.service)?.errors.push(...a.errors);
    }
    let filters: FilterTable | null = null;
    let filterIssues: Issue[] = [];
    if (state) {
      const objs = <T>(kind: string) => state.list(kind).map((m) => m.object as T);
      const nsgs = objs<never>(NSG_ARM_TYPE), policies = objs<never>('NetworkPolicy');
      if (nsgs.length > 0 || policies.length > 0) {
        const f = compileFilters({
          nsgs, vnets: objs<never>(VNET_ARM_TYPE), subnets: objs<never>(SUBNET_ARM_TYPE), nics: objs<never>(NIC_ARM_TYPE),
          networkPolicies: policies, pods: state.pods(), namespaces: state.namespaces(), node,
        });
        filters = f.table;
        filterIssues = f.issues;
      }
    }
    const gen = compileGeneration(node, version, table, filters);
    this.previous = table;
    // No desired state yet (agent start before the first push): keep the restored allocation.
    if (state !== null && lb.active) this.lbPrevious = lb.state;
    return { gen, services: table, serviceStatus: status, lbStatus: lb, filters, filterIssues, compileMs: performance.now() - t0 };
  }
}
