/**
 * Plain-object builders and assertions shared by the model and compiler tests: the objects
 * are what a manifest would hold (before validation), so each test still runs them through
 * the real validators.
 */
import type { Test } from 'tap';
import { ValidationError } from '../../control/model/errors';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>;

/** A NodeConfig object for node `name` (spec.nodeName too) around `spec`. */
export function nodeConfigObj(spec: Obj, name = 'node-a'): Obj {
  return { apiVersion: 'tapflow.dev/v1alpha1', kind: 'NodeConfig', metadata: { name }, spec: { nodeName: name, ...spec } };
}

/**
 * A valid dual-stack kubenet NodeConfig (node-a: uplink, host and one pod port, service CIDRs
 * of both families), `spec` merged over its spec.
 */
export function dualStackNodeObj(spec: Obj = {}): Obj {
  return nodeConfigObj({
    nodeIPs: ['10.0.0.4', 'fd00::4'],
    podCIDRs: ['10.244.0.0/24', 'fd00:244::/64'],
    clusterCIDRs: ['10.244.0.0/16', 'fd00:244::/56'],
    serviceCIDRs: ['10.96.0.0/12', 'fd00:96::/112'],
    vnetPrefixes: ['10.0.0.0/16', 'fd00::/64'],
    defaultGateway: { ipv4: '10.0.0.1', ipv6: 'fd00::1' },
    ports: [
      { name: 'uplink', tap: 'tfup0', role: 'uplink' },
      { name: 'host', tap: 'tfhost0', role: 'host' },
      { name: 'pod-a', tap: 'tfpa', role: 'pod', addresses: ['10.244.0.2', 'fd00:244::2'] },
    ],
    ...spec,
  });
}

/**
 * The AKS node (Azure CNI: pods are VNet addresses) that examples/nsg and
 * examples/network-policy describe: frontend and redis in shop, prometheus in monitoring.
 */
export function aksExampleNodeObj(spec: Obj = {}): Obj {
  return nodeConfigObj({
    nodeIPs: ['10.224.0.4'],
    networkMode: 'cni',
    vnetPrefixes: ['10.224.0.0/12'],
    ports: [
      { name: 'uplink', tap: 'tfup', role: 'uplink' },
      { name: 'host', tap: 'tfhost', role: 'host' },
      { name: 'frontend', tap: 'tffe', role: 'pod', addresses: ['10.224.0.10'], pod: { namespace: 'shop', name: 'frontend-0' } },
      { name: 'redis', tap: 'tfredis', role: 'pod', addresses: ['10.224.0.11'], pod: { namespace: 'shop', name: 'redis-0' } },
      { name: 'prometheus', tap: 'tfprom', role: 'pod', addresses: ['10.224.0.12'], pod: { namespace: 'monitoring', name: 'prometheus-0' } },
    ],
    ...spec,
  }, 'aks-nodepool1-12345678-vmss000000');
}

/** The ARM id prefix of the Azure test resources (subscription 0, resource group rg1). */
export const AZURE_SUB = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.Network';

/** An NSG security rule as ARM JSON; a list for src/dst/dport uses the plural *Prefixes / *Ranges field. */
export function nsgRule(name: string, priority: number, direction: string, access: string, protocol: string, src: string | string[], dst: string | string[], dport: string | string[] = '*', sport = '*'): Obj {
  const p: Obj = { priority, direction, access, protocol, sourcePortRange: sport };
  if (Array.isArray(src)) p.sourceAddressPrefixes = src;
  else p.sourceAddressPrefix = src;
  if (Array.isArray(dst)) p.destinationAddressPrefixes = dst;
  else p.destinationAddressPrefix = dst;
  if (Array.isArray(dport)) p.destinationPortRanges = dport;
  else p.destinationPortRange = dport;
  return { name, properties: p };
}

/** One endpoint of a test EndpointSlice: its address, node and the conditions that are set. */
export interface Ep {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

/**
 * An EndpointSlice object in namespace default for `service`: one address per endpoint,
 * nodeName from the endpoint (else `defaultNode`, else none), conditions only where set.
 */
export function endpointSliceObj(service: string, name: string, eps: Ep[], ports: Obj[], addressType = 'IPv4', defaultNode?: string): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType,
    endpoints: eps.map((e) => {
      const node = e.node ?? defaultNode;
      return {
        addresses: [e.ip],
        ...(node !== undefined ? { nodeName: node } : {}),
        conditions: {
          ...(e.ready !== undefined ? { ready: e.ready } : {}),
          ...(e.serving !== undefined ? { serving: e.serving } : {}),
          ...(e.terminating !== undefined ? { terminating: e.terminating } : {}),
        },
      };
    }),
    ports,
  };
}

/**
 * Asserts that `validate(obj)` throws a ValidationError whose issues are exactly `want`
 * ([path, code] in order); `msg[i]` must match the i-th issue's message.
 */
export function expectIssues(t: Test, validate: (obj: unknown) => unknown, obj: unknown, want: [string, string][], msg?: RegExp[]): void {
  let got: ValidationError['issues'] = [];
  try {
    validate(obj);
    t.fail('expected a ValidationError');
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    got = e.issues;
  }
  t.same(got.map((i) => [i.path, i.code]), want, want.map((w) => w.join(' ')).join(', '));
  (msg ?? []).forEach((re, i) => t.match(got[i]?.message ?? '', re));
}
