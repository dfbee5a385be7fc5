/**
 * Pod (v1) — only what the data plane needs: labels (selectors), the node it runs on, the
 * containers' ports (named targetPorts, NetworkPolicy named ports) and its IPs and phase.
 *
 * Every PodSpec/Container field the API has is tolerated (kubectl output is full of them) and
 * left unread; a field the API does not have is UNKNOWN_FIELD. status is read leniently.
 */
import { Issues, fieldPath } from './errors';
import { IP } from './node-config';
import { K8sChecker, ObjectMeta, Protocol, TOP_FIELDS, checkObjectMeta, checkTypeMeta, dns1123LabelProblem, dns1123SubdomainProblem, portNameProblem } from './k8s';

export const POD_API_VERSION = 'v1';
export const POD_KIND = 'Pod';

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
export const POD_PHASES: readonly PodPhase[] = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];

export interface ContainerPort {
  /** IANA_SVC_NAME, unique in its container; null when unnamed. */
  name: string | null;
  containerPort: number;
  protocol: Protocol;
  /** 0 = none. */
  hostPort: number;
  hostIP: IP | null;
}

export interface Container {
  name: string;
  ports: ContainerPort[];
}

export interface PodSpec {
  nodeName: string | null;
  hostNetwork: boolean;
  containers: Container[];
  /** Init containers (sidecars with restartPolicy Always can serve ports). */
  initContainers: Container[];
}

export interface PodStatus {
  phase: PodPhase | null;
  /** status.podIPs[0] (or status.podIP). */
  podIP: IP | null;
  /** At most one per family, primary first. */
  podIPs: IP[];
  hostIP: IP | null;
  /** The Ready condition; null when not reported. */
  ready: boolean | null;
}

export interface Pod {
  apiVersion: typeof POD_API_VERSION;
  kind: typeof POD_KIND;
  metadata: ObjectMeta;
  spec: PodSpec;
  status: PodStatus;
}

/**
 * The container port named `name` (FindPort semantics: first match over containers, then init
 * containers; protocol must match when given). Null when the pod has no such port.
 */
export function findNamedPort(pod: Pod, name: string, protocol?: Protocol): number | null {
  for (const c of [...pod.spec.containers, ...pod.spec.initContainers]) {
    for (const p of c.ports) if (p.name === name && (protocol === undefined || p.protocol === protocol)) return p.containerPort;
  }
  return null;
}

const SPEC_FIELDS = [
  'volumes', 'initContainers', 'containers', 'ephemeralContainers', 'restartPolicy', 'terminationGracePeriodSeconds',
  'activeDeadlineSeconds', 'dnsPolicy', 'nodeSelector', 'serviceAccountName', 'serviceAccount', 'automountServiceAccountToken',
  'nodeName', 'hostNetwork', 'hostPID', 'hostIPC', 'shareProcessNamespace', 'securityContext', 'imagePullSecrets', 'hostname',
  'subdomain', 'affinity', 'schedulerName', 'tolerations', 'hostAliases', 'priorityClassName', 'priority', 'dnsConfig',
  'readinessGates', 'runtimeClassName', 'enableServiceLinks', 'preemptionPolicy', 'overhead', 'topologySpreadConstraints',
  'setHostnameAsFQDN', 'os', 'hostUsers', 'schedulingGates', 'resourceClaims', 'resources', 'hostnameOverride',
];
const CONTAINER_FIELDS = [
  'name', 'image', 'command', 'args', 'workingDir', 'ports', 'envFrom', 'env', 'resources', 'resizePolicy', 'restartPolicy',
  'restartPolicyRules', 'volumeMounts', 'volumeDevices', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle',
  'terminationMessagePath', 'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce', 'tty',
];
const PORT_FIELDS = ['name', 'hostPort', 'containerPort', 'protocol', 'hostIP'];

/** Validate + normalize a decoded Pod; throws ValidationError listing every problem. */
export function validatePod(obj: unknown): Pod {
  const issues = new Issues();
  const pod = checkPod(obj, issues);
  issues.throwIfAny({ what: 'Pod' });
  return pod as Pod;
}

/** Validate + normalize into `issues` (never throws); meaningful only when no issue was added. */
export function checkPod(input: unknown, issues: Issues): Pod | undefined {
  const k = new K8sChecker(issues);
  const top = k.object(input, '', TOP_FIELDS, 'a Pod object (apiVersion, kind, metadata, spec, status)');
  if (top === null) return undefined;
  checkTypeMeta(k, top, POD_API_VERSION, POD_KIND);
  const metadata = checkObjectMeta(k, top, { kind: POD_KIND, namespaced: true, nameRule: 'dns1123-subdomain' });

  const spec: PodSpec = { nodeName: null, hostNetwork: false, containers: [], initContainers: [] };
  const specRaw = k.get(top, 'spec');
  if (specRaw === undefined) k.missing('spec', 'required: the pod spec (containers)');
  else {
    const s = k.object(specRaw, 'spec', SPEC_FIELDS, 'an object (PodSpec)');
    if (s !== null) {
      const nn = k.string(s, 'nodeName', 'spec', 'a node name', null, true);
      if (nn !== undefined) spec.nodeName = k.name(nn, 'spec.nodeName', dns1123SubdomainProblem) ?? null;
      spec.hostNetwork = k.bool(s, 'hostNetwork', 'spec', false);
      const containerNames = new Map<string, string>();
      const read = (key: 'containers' | 'initContainers', required: boolean): Container[] => {
        const out: Container[] = [];
        const lp = fieldPath('spec', key);
        const raw = k.list(s, key, 'spec', 'containers {name, image, ports, ...}', required ? 'required: at least one container' : null);
        if (required && raw !== undefined && raw.length === 0) k.invalid(lp, 'must list at least one container');
        raw?.forEach((v, i) => {
          const cp = fieldPath(lp, i);
          const c = k.object(v, cp, CONTAINER_FIELDS, 'a container {name, image, ports, ...}');
          if (c === null) return;
          const name = k.string(c, 'name', cp, 'a DNS-1123 label', 'required: the container name');
          if (name !== undefined && k.name(name, fieldPath(cp, 'name'), dns1123LabelProblem, 'container name: ') !== undefined) {
            const prev = containerNames.get(name);
            if (prev !== undefined) k.dup(fieldPath(cp, 'name'), `duplicate container name "${name}" (also ${prev})`);
            else containerNames.set(name, fieldPath(cp, 'name'));
          }
          const ports: ContainerPort[] = [];
          const portNames = new Map<string, string>();
          k.list(c, 'ports', cp, 'container ports {name, containerPort, protocol}', null)?.forEach((pv, j) => {
            const pp = fieldPath(fieldPath(cp, 'ports'), j);
            const po = k.object(pv, pp, PORT_FIELDS, 'a container port {name, containerPort, protocol}');
            if (po === null) return;
            const pn = k.string(po, 'name', pp, 'an IANA_SVC_NAME', null, true);
            let pname: string | null = null;
            if (pn !== undefined && k.name(pn, fieldPath(pp, 'name'), portNameProblem) !== undefined) {
              const prev = portNames.get(pn);
              if (prev !== undefined) k.dup(fieldPath(pp, 'name'), `duplicate port name "${pn}" (also ${prev}); port names are unique within a container`);
              else portNames.set(pn, fieldPath(pp, 'name'));
              pname = pn;
            }
            const containerPort = k.port(po, 'containerPort', pp, 'required: the port the container listens on (1..65535)');
            const protocol = k.protocol(po, 'protocol', pp);
            const hostPort = k.int(po, 'hostPort', pp, { min: 0, max: 65535, what: 'a port number' }, null) ?? 0;
            const hip = k.string(po, 'hostIP', pp, 'an IP address', null, true);
            const hostIP = hip === undefined ? null : k.ip(hip, fieldPath(pp, 'hostIP')) ?? null;
            if (containerPort !== undefined) ports.push({ name: pname, containerPort, protocol, hostPort, hostIP });
          });
          out.push({ name: name ?? '', ports });
        });
        return out;
      };
      spec.containers = read('containers', true);
      spec.initContainers = read('initContainers', false);
    }
  }

  const status: PodStatus = { phase: null, podIP: null, podIPs: [], hostIP: null, ready: null };
  const stRaw = k.get(top, 'status');
  const st = stRaw === undefined ? null : k.looseObject(stRaw, 'status');
  if (st !== null) {
    status.phase = k.enumOf(st, 'phase', 'status', POD_PHASES, null, true) ?? null;
    const pip = k.string(st, 'podIP', 'status', 'an IP address', null, true);
    const podIP = pip === undefined ? undefined : k.ip(pip, 'status.podIP');
    k.list(st, 'podIPs', 'status', '{ip} objects', null)?.forEach((v, i) => {
      const p = fieldPath('status.podIPs', i);
      const o = k.object(v, p, ['ip'], 'an object {ip}');
      if (o === null) return;
      const t = k.string(o, 'ip', p, 'an IP address', 'required');
      const ip = t === undefined ? undefined : k.ip(t, fieldPath(p, 'ip'));
      if (ip === undefined) return;
      if (status.podIPs.some((x) => x.family === ip.family)) k.invalid(fieldPath(p, 'ip'), `a second IPv${ip.family} address; podIPs holds at most one per family`);
      else status.podIPs.push(ip);
    });
    if (podIP !== undefined) {
      if (status.podIPs.length === 0) status.podIPs.push(podIP);
      else if (status.podIPs[0].text !== podIP.text) k.invalid('status.podIPs[0].ip', `must equal status.podIP (${podIP.text}); got ${status.podIPs[0].text}`);
    }
    status.podIP = status.podIPs[0] ?? null;
    const hip = k.string(st, 'hostIP', 'status', 'an IP address', null, true);
    if (hip !== undefined) status.hostIP = k.ip(hip, 'status.hostIP') ?? null;
    k.list(st, 'conditions', 'status', 'conditions', null)?.forEach((v) => {
      if (typeof v === 'object' && v !== null && (v as Record<string, unknown>).type === 'Ready') {
        const s = (v as Record<string, unknown>).status;
        if (s === 'True') status.ready = true;
        else if (s === 'False') status.ready = false;
      }
    });
  }

  return { apiVersion: POD_API_VERSION, kind: POD_KIND, metadata, spec, status };
}
