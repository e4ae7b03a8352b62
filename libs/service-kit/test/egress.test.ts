// The egress policy for consumers' URLs: pure address checks plus the real resolver (/etc/hosts
// maps localhost to loopback on every machine this runs on).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { CidrList, createEgressPolicy, parseCidr } from '../src/index.ts';

describe('createEgressPolicy', () => {
  const policy = createEgressPolicy();

  it('refuses loopback, private, link-local, CGNAT, multicast and reserved addresses', () => {
    for (const address of [
      '127.0.0.1',
      '10.0.0.1',
      '172.16.5.4',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fd00::1',
      'fe80::1',
      '::ffff:10.0.0.1',
      '::FFFF:127.0.0.1',
      '::ffff:c0a8:101',
    ]) {
      assert.equal(policy.allowsAddress(address), false, address);
    }
  });

  it('allows public addresses, and nothing that is not an address', () => {
    for (const address of ['93.184.216.34', '172.32.0.1', '8.8.8.8', '2606:4700::1111']) {
      assert.equal(policy.allowsAddress(address), true, address);
    }
    assert.equal(policy.allowsAddress('example.com'), false);
  });

  it('lets an operator open chosen CIDRs, and only those', () => {
    const dev = createEgressPolicy(['127.0.0.0/8', '10.20.0.0/16', '::1']);
    assert.equal(dev.allowsAddress('127.0.0.5'), true);
    assert.equal(dev.allowsAddress('10.20.3.4'), true);
    assert.equal(dev.allowsAddress('::1'), true);
    assert.equal(dev.allowsAddress('10.21.0.1'), false);
    assert.equal(dev.refuseUrl('http://localhost:8080/hook'), undefined);
  });

  it('judges what a URL says without DNS', () => {
    assert.match(policy.refuseUrl('http://169.254.169.254/') ?? '', /private or reserved/);
    assert.match(policy.refuseUrl('http://[fe80::1]/') ?? '', /private or reserved/);
    assert.match(policy.refuseUrl('http://localhost:3000/') ?? '', /this machine/);
    assert.match(policy.refuseUrl('http://api.localhost/') ?? '', /this machine/);
    assert.match(policy.refuseUrl('http://localhost./') ?? '', /this machine/);
    assert.equal(policy.refuseUrl('not a url'), 'not a URL');
    assert.equal(policy.refuseUrl('https://hooks.example.com/x'), undefined);
  });

  it('refuses a name that resolves to loopback at connection time', async () => {
    const err = await new Promise<(Error & { code?: string }) | null>((resolve) =>
      policy.lookup('localhost', {}, (e) => resolve(e)),
    );
    assert.equal(err?.code, 'EGRESS_REFUSED');
    const open = createEgressPolicy(['127.0.0.0/8', '::1/128']);
    const addresses = await new Promise<LookupAddress[]>((resolve, reject) =>
      open.lookup('localhost', { all: true }, (e, a) =>
        e ? reject(e) : resolve(a as LookupAddress[]),
      ),
    );
    assert.ok(addresses.length > 0);
    const first = await new Promise<string>((resolve, reject) =>
      open.lookup('localhost', {}, (e, a) => (e ? reject(e) : resolve(a as string))),
    );
    assert.ok(open.allowsAddress(first));
    const missing = await new Promise<(Error & { code?: string }) | null>((resolve) =>
      policy.lookup('no-such-host.invalid', {}, (e) => resolve(e)),
    );
    assert.ok(missing && missing.code !== 'EGRESS_REFUSED');
  });
});

describe('CidrList and parseCidr', () => {
  it('parses comma-separated CIDRs and bare addresses', () => {
    assert.deepEqual(CidrList.parse(' 127.0.0.0/8, ::1 ,'), ['127.0.0.0/8', '::1']);
    assert.deepEqual(CidrList.parse(undefined), []);
    assert.deepEqual(parseCidr('::1'), ['::1', 128, 'ipv6']);
    assert.deepEqual(parseCidr('10.0.0.0/8'), ['10.0.0.0', 8, 'ipv4']);
  });
  it('refuses anything else', () => {
    assert.equal(CidrList.safeParse('10.0.0.0/33').success, false);
    assert.equal(CidrList.safeParse('intranet').success, false);
    assert.throws(() => parseCidr('10.0.0.0/x'), /not a CIDR/);
  });
});
