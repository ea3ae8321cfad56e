import t from 'tap';
import type { SiteConfig } from '../../gateway/config/site-config.js';
import { Topology } from '../../gateway/engine/topology.js';
import { twoFeeders } from '../fixtures/two-feeders.js';

t.test('lookups from customer down to feeder', (t) => {
  const topo = new Topology(twoFeeders);
  t.equal(topo.siteId, 'test-site');
  const transformer = topo.transformerOf('C133');
  t.equal(transformer?.id, 'T13B');
  t.equal(transformer?.sectionId, 'F1-S3');
  t.equal(transformer?.feederId, 'F1');
  t.equal(transformer?.areaClass, 'town');
  t.equal(topo.section('F1-S3')?.feederId, 'F1');
  t.strictSame(topo.section('F1-S3')?.transformers, ['T13A', 'T13B']);
  t.strictSame(topo.section('F1-S3')?.customers, ['C131', 'C132', 'C133', 'C134']);
  t.equal(topo.transformerOf('C999'), undefined);
  t.equal(topo.section('nope'), undefined);
  t.equal(topo.customerCount(), 17);
  t.end();
});

t.test('adjacency and the two sides of a device', (t) => {
  const topo = new Topology(twoFeeders);
  t.strictSame(topo.section('F1-S2')?.switches, ['F1-R1', 'F1-SW2', 'F1-FU1', 'TIE-2']);
  t.strictSame(topo.section('F2-S3')?.switches, ['TIE-1', 'F2-SW2']);
  t.strictSame(topo.section('F1-S1')?.switches, ['F1-CB', 'F1-R1']);
  t.equal(topo.otherSide('F1-R1', 'F1-S1'), 'F1-S2');
  t.equal(topo.otherSide('F1-R1', 'F1-S2'), 'F1-S1');
  t.equal(topo.otherSide('F1-CB', 'F1-S1'), null, 'the bus side of a breaker is no section');
  t.equal(topo.switchDevice('TIE-2')?.feederId, 'F2');
  t.equal(topo.switchDevice('TIE-2')?.normal, 'open');
  t.equal(topo.switchDevice('F1-CB')?.from, null);
  t.end();
});

t.test('feeders list their own devices and the ties ending on them', (t) => {
  const topo = new Topology(twoFeeders);
  t.strictSame([...topo.feederIds()], ['F1', 'F2']);
  t.strictSame(topo.feeder('F1')?.switches, ['F1-CB', 'F1-R1', 'F1-SW2', 'F1-SW3', 'F1-FU1', 'TIE-1', 'TIE-2']);
  t.strictSame(topo.feeder('F2')?.switches, ['F2-CB', 'F2-SW1', 'F2-SW2', 'TIE-2', 'TIE-1']);
  t.strictSame(topo.feeder('F1')?.sections, ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4', 'F1-S5']);
  t.end();
});

t.test('depth along the normal tree and upstream relation', (t) => {
  const topo = new Topology(twoFeeders);
  t.equal(topo.depth('F1-CB'), 0);
  t.equal(topo.depth('F1-R1'), 1);
  t.equal(topo.depth('F1-SW2'), 2);
  t.equal(topo.depth('F1-FU1'), 2);
  t.equal(topo.depth('F1-SW3'), 3);
  t.equal(topo.depth('F2-SW2'), 2);
  t.ok(topo.isUpstreamOf('F1-CB', 'F1-SW3'));
  t.ok(topo.isUpstreamOf('F1-R1', 'F1-SW3'));
  t.ok(topo.isUpstreamOf('F1-SW2', 'F1-SW3'));
  t.notOk(topo.isUpstreamOf('F1-FU1', 'F1-SW3'), 'a sibling lateral is not upstream');
  t.notOk(topo.isUpstreamOf('F1-SW3', 'F1-R1'), 'downstream is not upstream');
  t.notOk(topo.isUpstreamOf('F2-CB', 'F1-SW3'), 'another feeder is not upstream');
  t.notOk(topo.isUpstreamOf('F1-CB', 'F1-CB'));
  t.end();
});

function withFeeder1(patch: (f: SiteConfig['feeders'][number]) => void): SiteConfig {
  const copy = structuredClone(twoFeeders);
  patch(copy.feeders[0]!);
  return copy;
}

t.test('bad references are rejected with the offending id', (t) => {
  t.throws(
    () => new Topology(withFeeder1((f) => f.switches.push({ id: 'X', kind: 'sectionalizer', from: 'F1-S1', to: 'NOPE', normal: 'closed' }))),
    /switch X names unknown section NOPE/,
  );
  t.throws(
    () => new Topology(withFeeder1((f) => f.transformers.push({ id: 'TX', section: 'NOPE', areaClass: 'rural', customers: [] }))),
    /transformer TX names unknown section NOPE/,
  );
  t.throws(
    () => new Topology(withFeeder1((f) => f.transformers.push({ id: 'TX', section: 'F1-S1', areaClass: 'rural', customers: ['C111'] }))),
    /customer C111 is on two transformers/,
  );
  t.throws(() => new Topology(withFeeder1((f) => (f.breaker = 'F1-R1'))), /breaker F1-R1 is not a bus-fed switch/);
  t.throws(() => new Topology(withFeeder1((f) => f.sections.push({ id: 'F2-S1' }))), /duplicate section id F2-S1/);
  t.end();
});
