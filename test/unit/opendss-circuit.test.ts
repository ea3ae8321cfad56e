/** The circuit model built from DSS statements: New/Edit, like=, node suffixes, open terminals, bus coordinates. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildCircuitModel, type CircuitModel, type DssElement } from '../../gateway/import/opendss/circuit-model.js';
import { readDssScript } from '../../gateway/import/opendss/dss-reader.js';

function circuit(t: Test, master: string, others: Record<string, string> = {}): { model: CircuitModel; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fw-dss-model-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'master.dss'), master);
  for (const [name, text] of Object.entries(others)) writeFileSync(join(dir, name), text);
  return { model: buildCircuitModel(readDssScript(join(dir, 'master.dss')).statements), dir };
}

const element = (model: CircuitModel, key: string): DssElement => {
  const found = model.elements.find((e) => e.key === key);
  if (!found) throw new Error(`no ${key}`);
  return found;
};

t.test('New Circuit creates the source on bus1 (sourcebus when not given); New object= works too', async (t) => {
  const a = circuit(t, 'Clear\nNew Circuit.Feeder1 basekv=12.47\n').model;
  t.equal(a.circuitName, 'Feeder1');
  t.strictSame(element(a, 'vsource.source').buses, ['sourcebus']);
  const b = circuit(t, 'New object=circuit.ieee123\n~ basekv=4.16 Bus1=150 pu=1.00\n').model;
  t.equal(b.circuitName, 'ieee123');
  t.strictSame(element(b, 'vsource.source').buses, ['150']);
});

t.test('bus node suffixes are dropped: 650.1.2.3 and 650 are one bus; bus names are case-insensitive', async (t) => {
  const { model } = circuit(t, 'New Circuit.c\nNew Line.L1 Bus1=650.1.2.3 Bus2=RG60.2\nNew Line.L2 bus1=rg60 bus2=632.3.2\n');
  t.strictSame(element(model, 'line.l1').buses, ['650', 'rg60']);
  t.strictSame(element(model, 'line.l2').buses, ['rg60', '632']);
  t.equal(model.busNames.get('rg60'), 'RG60', 'the bus keeps the spelling it was first written with');
});

t.test('positional values: New Line.x 1 2 sets bus1 and bus2; values past the known order are skipped', async (t) => {
  const { model } = circuit(t, 'New Circuit.c\nNew Line.x 10.1 20.1 lc 0.5\nNew WireData.w Rac=1 normamps=619 743\n');
  t.strictSame(element(model, 'line.x').buses, ['10', '20']);
  t.equal(element(model, 'line.x').props.get('linecode'), 'lc');
  t.equal(element(model, 'wiredata.w').props.get('normamps'), '619');
});

t.test('transformers: wdg=/bus=/kv=, buses=[...] and kvs=[...]', async (t) => {
  const { model } = circuit(t, 'New Circuit.c\nNew Transformer.A phases=1 wdg=1 bus=1144260.2 kv=7.2 wdg=2 bus=X_1.2 kv=0.24\nNew Transformer.B buses=[150 150r] kvs=[4.16 4.16]\n');
  t.strictSame(element(model, 'transformer.a').buses, ['1144260', 'x_1']);
  t.strictSame(element(model, 'transformer.a').kvs, [7.2, 0.24]);
  t.strictSame(element(model, 'transformer.b').buses, ['150', '150r']);
  t.strictSame(element(model, 'transformer.b').kvs, [4.16, 4.16]);
});

t.test('like= copies buses, voltages and properties; later properties override', async (t) => {
  const { model } = circuit(t, 'New Circuit.c\nnew transformer.reg3a phases=1 buses=[25.1 25r.1] kvs=[2.402 2.402] XHL=.01\nnew transformer.reg3c like=reg3a buses=[25.3 25r.3] ppm=0.0\n');
  const reg3c = element(model, 'transformer.reg3c');
  t.strictSame(reg3c.buses, ['25', '25r']);
  t.strictSame(reg3c.kvs, [2.402, 2.402]);
  t.equal(reg3c.props.get('xhl'), '.01');
  t.equal(reg3c.props.get('ppm'), '0.0');
});

t.test('Edit, Class.name.prop=value, Disable: enabled=False/no and the like', async (t) => {
  const { model } = circuit(
    t,
    [
      'New Circuit.c',
      'New Line.a bus1=1 bus2=2 enabled=False',
      'New Line.b bus1=2 bus2=3',
      'New Line.c bus1=3 bus2=4',
      'New Line.d bus1=4 bus2=5 enabled=True',
      'Edit Line.b enabled=no',
      'Line.c.enabled=n length=2',
      'Disable Line.d',
    ].join('\n'),
  );
  t.strictSame(
    ['line.a', 'line.b', 'line.c', 'line.d'].map((k) => element(model, k).enabled),
    [false, false, false, false],
  );
  t.equal(element(model, 'line.c').props.get('length'), '2', 'the rest of a Class.name.prop= line edits the same element');
});

t.test('open Class.name term=n / terminal=n / without a terminal; close undoes it', async (t) => {
  const { model } = circuit(t, 'New Circuit.c\nNew Line.Sw7 bus1=151 bus2=300\nNew Line.Sw8 bus1=54 bus2=94\nNew Line.Sw9 bus1=1 bus2=2\nopen Line.Sw7 terminal=2\nOpen line.sw8 term=1\nopen Line.Sw9\nclose Line.Sw9 2\n');
  t.strictSame([...element(model, 'line.sw7').openTerminals], [2]);
  t.strictSame([...element(model, 'line.sw8').openTerminals], [1]);
  t.strictSame([...element(model, 'line.sw9').openTerminals], [1]);
});

t.test('BusCoords/Buscoords: comma or space separated, relative to the script folder, case-insensitive', async (t) => {
  const { model } = circuit(t, 'New Circuit.c\nBusCoords coords.CSV\nBuscoords more.dat\n', {
    'coords.csv': 'SourceBus, 200, 400\r\n650, 200, 350\r\n\r\n',
    'more.dat': '1     700     1500\r\n2\t700\t1675\r\n',
  });
  t.strictSame(Object.fromEntries(model.coords), { sourcebus: [200, 400], 650: [200, 350], 1: [700, 1500], 2: [700, 1675] });
});

t.test('Set, Solve, Show and the like change nothing; unknown commands are recorded with their place', async (t) => {
  const { model, dir } = circuit(t, 'New Circuit.c\nSet VoltageBases=[4.16, 0.48]\nCalcVoltageBases\nSolve\nShow Voltage LN Nodes\nFrobnicate now\n');
  t.strictSame(model.notUnderstood, [{ file: join(dir, 'master.dss'), line: 6, command: 'Frobnicate' }]);
  t.equal(model.elements.length, 1);
});

t.test('errors name file and line: Edit of an undefined element, like= of an undefined one, New without a name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-dss-bad-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const run = (text: string): void => {
    writeFileSync(join(dir, 'm.dss'), text);
    buildCircuitModel(readDssScript(join(dir, 'm.dss')).statements);
  };
  const file = join(dir, 'm.dss');
  t.throws(() => run('New Circuit.c\nEdit Line.nope enabled=no\n'), { message: `${file}:2: Line.nope is not defined (yet) at this point` });
  t.throws(() => run('New Circuit.c\nNew Line.a like=b\n'), { message: `${file}:2: Line.a: like=b, but Line.b is not defined` });
  t.throws(() => run('New Circuit.c\n\nNew Line\n'), { message: `${file}:3: New Line: expected Class.name` });
  t.throws(() => run('New Circuit.c\nBusCoords missing.csv\n'), { message: `${file}:2: BusCoords missing.csv: file not found (looked in ${dir}, ignoring case)` });
});
