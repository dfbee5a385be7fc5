/**
 * Azure ARM resources: NSG validation the way Azure refuses a PUT (every issue at its exact
 * field path, with a stable code), both the ARM shape and az CLI's flattened shape, default
 * rules, references (ids, resourceId() expressions), VNets, NICs, and loader registration.
 */
import t from 'tap';
import { ValidationError } from './errors';
import {
  ArmIndex, azureDefaultRules, checkNetworkSecurityGroup, parseArmRef, validateNetworkInterface, validateNetworkSecurityGroup,
  validateVirtualNetwork,
} from './nsg';
import { loadManifests } from './manifests';
import { Issues } from './errors';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const NSG_ID = '/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg1';

function rule(name: string, props: Obj): Obj {
  return {
    name,
    properties: {
      priority: 100, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourceAddressPrefix: '*', destinationAddressPrefix: '*',
      sourcePortRange: '*', destinationPortRange: '80', ...props,
    },
  };
}

function nsgWith(rules: Obj[]): Obj {
  return { type: 'Microsoft.Network/networkSecurityGroups', name: 'nsg1', id: NSG_ID, location: 'westeurope', properties: { securityRules: rules } };
}

function issuesOf(obj: unknown): { path: string; code: string; message: string }[] {
  const issues = new Issues();
  checkNetworkSecurityGroup(obj, issues);
  return issues.list;
}

t.test('a valid NSG normalizes; the six default rules are implied', (t) => {
  const n = validateNetworkSecurityGroup(nsgWith([
    rule('web', { destinationPortRanges: ['80', '443', '8000-8080'], destinationPortRange: '', sourceAddressPrefixes: ['203.0.113.0/24', '198.51.100.7'], sourceAddressPrefix: '' }),
    rule('ssh-out', { direction: 'Outbound', priority: 100, protocol: 'tcp', access: 'deny', destinationAddressPrefix: 'Internet', destinationPortRange: '22' }),
  ]));
  t.equal(n.name, 'nsg1');
  t.equal(n.resourceGroup, 'rg1');
  t.equal(n.ref.id, NSG_ID.toLowerCase());
  t.same(n.rules[0].destinationPorts, [{ from: 80, to: 80 }, { from: 443, to: 443 }, { from: 8000, to: 8080 }]);
  t.same(n.rules[0].source, { kind: 'prefixes', prefixes: [{ family: 4, v4: 0xcb007100, len: 24, text: '203.0.113.0/24' }, { family: 4, v4: 0xc6336407, len: 32, text: '198.51.100.7/32' }] });
  t.same([n.rules[1].protocol, n.rules[1].access, n.rules[1].destination], ['Tcp', 'Deny', { kind: 'tag', tag: 'Internet' }], 'enums are case-insensitive as in the API');
  t.same(n.defaultRules.map((r) => `${r.direction} ${r.priority} ${r.name} ${r.access}`), [
    'Inbound 65000 AllowVnetInBound Allow',
    'Inbound 65001 AllowAzureLoadBalancerInBound Allow',
    'Inbound 65500 DenyAllInBound Deny',
    'Outbound 65000 AllowVnetOutBound Allow',
    'Outbound 65001 AllowInternetOutBound Allow',
    'Outbound 65500 DenyAllOutBound Deny',
  ]);
  t.equal(azureDefaultRules().length, 6);
  t.end();
});

t.test('validation errors name the rule and the exact field path', (t) => {
  const cases: { name: string; rules: Obj[]; path: string; code: string; message: RegExp }[] = [
    { name: 'priority below 100', rules: [rule('a', { priority: 99 })], path: 'properties.securityRules[0].properties.priority', code: 'INVALID_FIELD', message: /99 is out of range; a security rule's priority is 100\.\.4096/ },
    { name: 'priority above 4096', rules: [rule('a', {}), rule('b', { priority: 101 }), rule('c', { priority: 102 }), rule('d', { priority: 4097 })], path: 'properties.securityRules[3].properties.priority', code: 'INVALID_FIELD', message: /4097 is out of range/ },
    { name: 'priority not an integer', rules: [rule('a', { priority: '100' })], path: 'properties.securityRules[0].properties.priority', code: 'INVALID_TYPE', message: /expected an integer 100\.\.4096/ },
    { name: 'bad protocol "Any"', rules: [rule('a', { protocol: 'Any' })], path: 'properties.securityRules[0].properties.protocol', code: 'INVALID_FIELD', message: /write "\*" for any protocol/ },
    { name: 'bad direction', rules: [rule('a', { direction: 'In' })], path: 'properties.securityRules[0].properties.direction', code: 'INVALID_FIELD', message: /must be one of "Inbound", "Outbound"/ },
    { name: 'missing access', rules: [rule('a', { access: undefined })], path: 'properties.securityRules[0].properties.access', code: 'MISSING_FIELD', message: /required/ },
    { name: 'malformed prefix', rules: [rule('a', { sourceAddressPrefix: '10.0.0.300' })], path: 'properties.securityRules[0].properties.sourceAddressPrefix', code: 'INVALID_FIELD', message: /not an address, a CIDR/ },
    { name: 'host bits', rules: [rule('a', { destinationAddressPrefix: '10.0.0.5/24' })], path: 'properties.securityRules[0].properties.destinationAddressPrefix', code: 'INVALID_FIELD', message: /host bits set beyond the \/24 prefix; write "10\.0\.0\.0\/24"/ },
    { name: 'unknown service tag', rules: [rule('a', { sourceAddressPrefix: 'Storage.WestEurope' })], path: 'properties.securityRules[0].properties.sourceAddressPrefix', code: 'INVALID_FIELD', message: /service tag "Storage\.WestEurope" is not supported/ },
    { name: 'tag mixed into a prefix list', rules: [rule('a', { sourceAddressPrefix: undefined, sourceAddressPrefixes: ['10.0.0.0/8', 'VirtualNetwork'] })], path: 'properties.securityRules[0].properties.sourceAddressPrefixes[1]', code: 'INVALID_FIELD', message: /cannot be combined/ },
    { name: 'singular and plural both set', rules: [rule('a', { destinationPortRanges: ['443'] })], path: 'properties.securityRules[0].properties.destinationPortRanges', code: 'INVALID_FIELD', message: /both set/ },
    { name: 'no source at all', rules: [rule('a', { sourceAddressPrefix: undefined })], path: 'properties.securityRules[0].properties.sourceAddressPrefix', code: 'MISSING_FIELD', message: /required/ },
    { name: 'reversed port range', rules: [rule('a', { destinationPortRange: '90-80' })], path: 'properties.securityRules[0].properties.destinationPortRange', code: 'INVALID_FIELD', message: /reversed; write "80-90"/ },
    { name: 'port out of range', rules: [rule('a', { sourcePortRange: '70000' })], path: 'properties.securityRules[0].properties.sourcePortRange', code: 'INVALID_FIELD', message: /0\.\.65535/ },
    { name: 'comma list in the singular field', rules: [rule('a', { destinationPortRange: '80,443' })], path: 'properties.securityRules[0].properties.destinationPortRange', code: 'INVALID_FIELD', message: /list them in destinationPortRanges/ },
    { name: 'application security groups', rules: [rule('a', { sourceApplicationSecurityGroups: [{ id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/web' }] })], path: 'properties.securityRules[0].properties.sourceApplicationSecurityGroups', code: 'INVALID_FIELD', message: /application security groups are not supported/ },
    { name: 'misspelt field', rules: [rule('a', { destinationPortRage: '22' })], path: 'properties.securityRules[0].properties.destinationPortRage', code: 'UNKNOWN_FIELD', message: /did you mean "destinationPortRange"/ },
    { name: 'bad rule name', rules: [rule('-bad name', {})], path: 'properties.securityRules[0].name', code: 'INVALID_FIELD', message: /not a valid rule name/ },
  ];
  for (const c of cases) {
    const got = issuesOf(nsgWith(c.rules));
    t.equal(got.length, 1, `${c.name}: one issue (${got.map((i) => `${i.path}: ${i.message}`).join('; ')})`);
    t.equal(got[0]?.path, c.path, `${c.name}: path`);
    t.equal(got[0]?.code, c.code, `${c.name}: code`);
    t.match(got[0]?.message, c.message, `${c.name}: message`);
  }
  t.end();
});

t.test('duplicate priority in one direction names both rules; other direction is fine', (t) => {
  const got = issuesOf(nsgWith([rule('allow-web', { priority: 200 }), rule('allow-out', { priority: 200, direction: 'Outbound' }), rule('deny-web', { priority: 200 })]));
  t.equal(got.length, 1);
  t.equal(got[0].path, 'properties.securityRules[2].properties.priority');
  t.equal(got[0].code, 'DUPLICATE_VALUE');
  t.match(got[0].message, /rules "allow-web" \(properties\.securityRules\[0\]\) and "deny-web" \(properties\.securityRules\[2\]\) both have priority 200 in direction Inbound/);
  const names = issuesOf(nsgWith([rule('same', { priority: 100 }), rule('Same', { priority: 101 })]));
  t.same(names.map((i) => [i.path, i.code]), [['properties.securityRules[1].name', 'DUPLICATE_VALUE']], 'rule names are unique (case-insensitive)');
  t.end();
});

t.test('several problems are reported together', (t) => {
  try {
    validateNetworkSecurityGroup(nsgWith([rule('a', { priority: 5000, protocol: 'Gre' }), rule('b', { sourceAddressPrefix: '1.2.3.4/33' })]));
    t.fail('should throw');
  } catch (e) {
    t.ok(e instanceof ValidationError);
    t.same((e as ValidationError).issues.map((i) => i.path), [
      'properties.securityRules[0].properties.priority',
      'properties.securityRules[0].properties.protocol',
      'properties.securityRules[1].properties.sourceAddressPrefix',
    ]);
  }
  t.end();
});

t.test('az CLI output (properties flattened): paths follow the flattened shape', (t) => {
  const az = {
    type: 'Microsoft.Network/networkSecurityGroups', name: 'nsg1', id: NSG_ID, resourceGroup: 'rg1', provisioningState: 'Succeeded',
    securityRules: [
      { name: 'a', priority: 100, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourceAddressPrefix: '*', sourceAddressPrefixes: [], destinationAddressPrefix: '*', destinationAddressPrefixes: [], sourcePortRange: '*', sourcePortRanges: [], destinationPortRange: '80', destinationPortRanges: [], provisioningState: 'Succeeded', etag: 'W/"x"', type: 'Microsoft.Network/networkSecurityGroups/securityRules', resourceGroup: 'rg1' },
      { name: 'b', priority: 100, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '81' },
    ],
    defaultSecurityRules: azureDefaultRules().map((r) => ({ name: r.name, priority: r.priority, direction: r.direction, access: r.access, protocol: '*', sourceAddressPrefix: r.source.kind === 'tag' ? r.source.tag : '*', destinationAddressPrefix: r.destination.kind === 'tag' ? r.destination.tag : '*', sourcePortRange: '*', destinationPortRange: '*' })),
  };
  const got = issuesOf(az);
  t.same(got.map((i) => i.path), ['securityRules[1].priority']);
  az.securityRules[1].priority = 110;
  const n = validateNetworkSecurityGroup(az);
  t.equal(n.rules.length, 2);
  t.equal(n.defaultRules.length, 6);
  t.ok(n.defaultRules.every((r) => r.isDefault));
  t.end();
});

t.test('ARM references: ids (case-insensitive) and resourceId() expressions', (t) => {
  const id = parseArmRef('/subscriptions/S1/resourceGroups/RG1/providers/Microsoft.Network/virtualNetworks/VNet1/subnets/Web');
  t.same(id, { raw: '/subscriptions/S1/resourceGroups/RG1/providers/Microsoft.Network/virtualNetworks/VNet1/subnets/Web', id: '/subscriptions/s1/resourcegroups/rg1/providers/microsoft.network/virtualnetworks/vnet1/subnets/web', type: 'microsoft.network/virtualnetworks/subnets', names: ['vnet1', 'web'] });
  const expr = parseArmRef("[resourceId('Microsoft.Network/networkSecurityGroups', 'nsg-web')]");
  t.same(expr, { raw: "[resourceId('Microsoft.Network/networkSecurityGroups', 'nsg-web')]", id: null, type: 'microsoft.network/networksecuritygroups', names: ['nsg-web'] });
  const full = parseArmRef("[resourceId('sub1', 'rg1', 'Microsoft.Network/networkSecurityGroups', 'nsg1')]");
  t.equal((full as { id: string }).id, NSG_ID.toLowerCase());
  t.match(parseArmRef("[resourceId('Microsoft.Network/networkSecurityGroups', parameters('nsgName'))]"), /must be string literals/);
  t.match(parseArmRef("[concat('a', 'b')]"), /only \[resourceId/);
  t.match(parseArmRef('/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups'), /not an ARM resource id/);

  const index = new ArmIndex<string>();
  index.add(parseArmRef(NSG_ID) as never, 'nsg1');
  index.add(parseArmRef('/subscriptions/sub1/resourceGroups/rg2/providers/Microsoft.Network/networkSecurityGroups/dup') as never, 'dup-rg2');
  index.add(parseArmRef('/subscriptions/sub1/resourceGroups/rg3/providers/Microsoft.Network/networkSecurityGroups/dup') as never, 'dup-rg3');
  t.same(index.resolve(parseArmRef(NSG_ID.toUpperCase()) as never), { ok: true, value: 'nsg1' }, 'ids match case-insensitively');
  t.same(index.resolve(expr === null ? (null as never) : (parseArmRef("[resourceId('Microsoft.Network/networkSecurityGroups', 'NSG1')]") as never)), { ok: true, value: 'nsg1' }, 'an expression matches by type and name');
  t.match(index.resolve(parseArmRef("[resourceId('Microsoft.Network/networkSecurityGroups', 'dup')]") as never), { ok: false, reason: /matches 2 resources/ });
  t.match(index.resolve(parseArmRef("[resourceId('Microsoft.Network/networkSecurityGroups', 'nope')]") as never), { ok: false, reason: /names no network security group/ });
  t.end();
});

t.test('virtual network: address space, subnets inside it and not overlapping, peerings', (t) => {
  const v = validateVirtualNetwork({
    type: 'Microsoft.Network/virtualNetworks', name: 'vnet1', id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1',
    properties: {
      addressSpace: { addressPrefixes: ['10.0.0.0/16'] },
      subnets: [{ name: 'a', properties: { addressPrefix: '10.0.1.0/24', networkSecurityGroup: { id: NSG_ID } } }, { name: 'b', properties: { addressPrefixes: ['10.0.2.0/24'] } }],
      virtualNetworkPeerings: [{ name: 'hub', properties: { remoteAddressSpace: { addressPrefixes: ['10.100.0.0/16'] }, peeringState: 'Connected' } }],
    },
  });
  t.same(v.subnets.map((s) => [s.name, s.ref.id, s.networkSecurityGroup?.names[0] ?? null]), [['a', '/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/vnet1/subnets/a', 'nsg1'], ['b', '/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/vnet1/subnets/b', null]]);
  t.same(v.peeredPrefixes.map((c) => c.text), ['10.100.0.0/16']);
  try {
    validateVirtualNetwork({ type: 'Microsoft.Network/virtualNetworks', name: 'v', properties: { addressSpace: { addressPrefixes: ['10.0.0.0/16'] }, subnets: [{ name: 'a', properties: { addressPrefix: '10.1.0.0/24' } }, { name: 'b', properties: { addressPrefix: '10.0.0.0/24' } }, { name: 'c', properties: { addressPrefix: '10.0.0.128/25' } }] } });
    t.fail('should throw');
  } catch (e) {
    t.same((e as ValidationError).issues.map((i) => [i.path, i.message.replace(/ \(.*$/, '')]), [
      ['properties.subnets[0].properties.addressPrefix', '10.1.0.0/24 is not inside the VNet\'s address space'],
      ['properties.subnets[2].properties.addressPrefix', '10.0.0.128/25 overlaps subnet "b"'],
    ]);
  }
  t.end();
});

t.test('network interface: IP configurations, subnet and NSG references', (t) => {
  const nic = validateNetworkInterface({
    type: 'Microsoft.Network/networkInterfaces', name: 'nic1',
    properties: { networkSecurityGroup: { id: NSG_ID }, ipConfigurations: [{ name: 'ipconfig1', properties: { privateIPAddress: '10.0.1.4', primary: true, subnet: { id: "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet1', 'a')]" } } }] },
  });
  t.equal(nic.ipConfigurations[0].privateIPAddress?.text, '10.0.1.4');
  t.same(nic.ipConfigurations[0].subnet?.names, ['vnet1', 'a']);
  try {
    validateNetworkInterface({ type: 'Microsoft.Network/networkInterfaces', name: 'nic1', properties: { networkSecurityGroup: { id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v' }, ipConfigurations: [{ name: 'x', properties: { privateIPAddress: '10.0.1.400' } }] } });
    t.fail('should throw');
  } catch (e) {
    t.same((e as ValidationError).issues.map((i) => i.path), ['properties.networkSecurityGroup.id', 'properties.ipConfigurations[0].properties.privateIPAddress']);
  }
  t.end();
});

t.test('standalone subnet resources (az network vnet subnet show, template child resources)', (t) => {
  const ms = loadManifests(JSON.stringify([
    { type: 'Microsoft.Network/virtualNetworks/subnets', name: 'web', id: '/subscriptions/s/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/web', resourceGroup: 'rg1', addressPrefix: '10.0.1.0/24', networkSecurityGroup: { id: NSG_ID } },
    { type: 'Microsoft.Network/virtualNetworks/subnets', apiVersion: '2023-09-01', name: 'vnet1/db', properties: { addressPrefix: '10.0.2.0/24' } },
  ]), 'subnets.json');
  const [web, db] = ms.map((m) => m.object as { ref: { id: string | null; names: string[] }; vnet: { names: string[] }; networkSecurityGroup: unknown; addressPrefixes: { text: string }[] });
  t.same([web.ref.names, web.vnet.names, web.addressPrefixes.map((c) => c.text)], [['vnet1', 'web'], ['vnet1'], ['10.0.1.0/24']]);
  t.ok(web.networkSecurityGroup !== null);
  t.same([db.ref.id, db.ref.names, db.vnet.names], [null, ['vnet1', 'db'], ['vnet1']]);
  t.end();
});

t.test('the manifest loader reads ARM resources (az show objects and az list arrays)', (t) => {
  const text = JSON.stringify([
    nsgWith([rule('web', {})]),
    { type: 'Microsoft.Network/networkInterfaces', name: 'nic1', id: '/subscriptions/s/resourceGroups/rg1/providers/Microsoft.Network/networkInterfaces/nic1', properties: { ipConfigurations: [{ name: 'c', properties: { privateIPAddress: '10.0.1.4' } }] } },
  ]);
  const ms = loadManifests(text, 'azure.json');
  t.same(ms.map((m) => m.key), ['Microsoft.Network/networkSecurityGroups/rg1/nsg1', 'Microsoft.Network/networkInterfaces/rg1/nic1']);
  try {
    loadManifests(JSON.stringify(nsgWith([rule('web', { priority: 1 })])), 'nsg.json');
    t.fail('should throw');
  } catch (e) {
    t.match((e as ValidationError).issues[0], { path: 'nsg.json[doc 0].properties.securityRules[0].properties.priority', code: 'INVALID_FIELD' });
  }
  t.end();
});
