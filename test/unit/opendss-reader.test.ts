/** The OpenDSS lexer and reader on small inline inputs: every syntax case the test feeders use, and bad input. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { DssInputError } from '../../gateway/import/opendss/dss-input-error.js';
import { lexDss } from '../../gateway/import/opendss/dss-lexer.js';
import { readDssScript } from '../../gateway/import/opendss/dss-reader.js';

/** Each statement as `command name=value positional ...`, for compact expectations. */
function render(text: string): string[] {
  return lexDss(text, 'test.dss', '/').map((s) => s.params.map((p) => (p.name === undefined ? p.value : `${p.name}=${p.value}`)).join(' '));
}

function folder(t: Test, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-dss-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text, 'latin1');
  }
  return dir;
}

t.test('CRLF, LF and lone CR line ends all end a line', async (t) => {
  t.strictSame(render('New Line.a bus1=1 bus2=2\r\nNew Line.b bus1=2 bus2=3\nNew Line.c bus1=3 bus2=4\rNew Line.d'), [
    'New Line.a bus1=1 bus2=2',
    'New Line.b bus1=2 bus2=3',
    'New Line.c bus1=3 bus2=4',
    'New Line.d',
  ]);
});

t.test('a stray NUL byte is dropped, wherever it is', async (t) => {
  t.strictSame(render('New Load.x bus1=5 kW=1\0\r\nNew Lo\0ad.y bus1=6\r\n'), ['New Load.x bus1=5 kw=1', 'New Load.y bus1=6']);
});

t.test('~ and more continue the previous statement', async (t) => {
  t.strictSame(render('New Transformer.T phases=1\n~ wdg=1 bus=650\n  ~ wdg=2 bus=634\nMORE kva=500\nnew line.l'), [
    'New Transformer.T phases=1 wdg=1 bus=650 wdg=2 bus=634 kva=500',
    'new line.l',
  ]);
});

t.test('! and // comments end the line; /* */ blocks span lines; a comment inside brackets is text', async (t) => {
  const text = [
    '! a whole-line comment',
    'New Line.a bus1=1 ! trailing',
    '// another comment',
    'New Line.b bus1=2 // trailing too',
    '/* a block',
    'New Line.hidden bus1=9',
    '*/',
    'New Line.c rmatrix=(1 | 2 ! 3)',
  ].join('\n');
  t.strictSame(render(text), ['New Line.a bus1=1', 'New Line.b bus1=2', 'New Line.c rmatrix=1 | 2 ! 3']);
});

t.test('a quote or bracket groups only where a value starts: a comment after one inside a name or a quoted value is still cut', async (t) => {
  t.strictSame(render("New Line.O'Hare bus1=1 ! to 2\nNew Line.b bus1=2 linecode=\"odd(name\" // no bus2 here\nNew Line.c bus1=3 Units='ft' ! it's"), [
    "New Line.O'Hare bus1=1",
    'New Line.b bus1=2 linecode=odd(name',
    'New Line.c bus1=3 units=ft',
  ]);
});

t.test('values: spaces around =, commas as separators, quoted and bracketed values; names lower-cased', async (t) => {
  t.strictSame(render('New Transformer.Reg1 Buses=[650.1 RG60.1] kVs=[2.4  2.4], XHL = 0.01 "x y"=1 Name="a b" k=(8 1000 /)'), [
    'New Transformer.Reg1 buses=650.1 RG60.1 kvs=2.4  2.4 xhl=0.01 x y=1 name=a b k=8 1000 /',
  ]);
});

t.test('bad input: the error names the file, the line and what is wrong', async (t) => {
  t.throws(() => lexDss('New Line.a\nNew Line.b rmatrix=(1 2\n', 'bad.dss', '/'), new DssInputError('bad.dss', 2, 'unclosed (: no matching ) on this line'));
  t.throws(() => lexDss('\n! nothing before\n~ bus1=2\n', 'cont.dss', '/'), { message: 'cont.dss:3: "~" continues a statement, but there is none before it' });
  t.throws(() => lexDss('New Line.a, =5', 'eq.dss', '/'), { message: 'eq.dss:1: "=" without a property name before it' });
});

t.test('Redirect and Compile: relative paths, case-insensitive names, each statement keeps its file and line', async (t) => {
  const dir = folder(t, {
    'Master.dss': 'Clear\r\nRedirect  linecodes.DSS\r\nredirect (Sub/Loads.dss)\r\nNew Line.after bus1=1\r\n',
    'LineCodes.dss': 'New Linecode.lc1 nphases=3\r\n',
    'sub/LOADS.DSS': 'New Load.l1 bus1=7\nredirect ../LineCodes.dss\n',
  });
  const script = readDssScript(join(dir, 'Master.dss'));
  t.strictSame(
    script.statements.map((s) => `${s.file.slice(dir.length + 1)}:${s.line} ${s.params[0]!.value} ${s.params[1]?.value ?? ''}`.trim()),
    ['Master.dss:1 Clear', 'LineCodes.dss:1 New Linecode.lc1', 'sub/LOADS.DSS:1 New Load.l1', 'LineCodes.dss:1 New Linecode.lc1', 'Master.dss:4 New Line.after'],
  );
  t.strictSame(
    script.files.map((f) => f.slice(dir.length + 1)),
    ['Master.dss', 'LineCodes.dss', 'sub/LOADS.DSS'],
  );
});

t.test('Redirect returns to the caller folder, Compile stays in the compiled file folder', async (t) => {
  const dir = folder(t, {
    'run.dss': 'Redirect a/one.dss\nBuscoords here.csv\nCompile (b/two.dss)\nBuscoords there.csv\n',
    'a/one.dss': 'New Line.one\n',
    'b/two.dss': 'New Line.two\n',
  });
  const script = readDssScript(join(dir, 'run.dss'));
  const coords = script.statements.filter((s) => s.params[0]!.value.toLowerCase() === 'buscoords');
  t.strictSame(
    coords.map((s) => s.dir),
    [dir, join(dir, 'b')],
  );
});

t.test('a Redirect to a missing file names the redirecting file and line', async (t) => {
  const dir = folder(t, { 'm.dss': 'Clear\nRedirect nowhere.dss\n' });
  t.throws(() => readDssScript(join(dir, 'm.dss')), { message: `${join(dir, 'm.dss')}:2: Redirect nowhere.dss: file not found (looked in ${dir}, ignoring case)` });
});

t.test('a Redirect cycle stops at once with the chain of files', async (t) => {
  const dir = folder(t, { 'a.dss': 'Redirect b.dss\n', 'b.dss': 'Redirect A.DSS\n' });
  t.throws(() => readDssScript(join(dir, 'a.dss')), { message: `${join(dir, 'b.dss')}:1: Redirect A.DSS: a Redirect cycle (a.dss -> b.dss -> a.dss)` });
  const self = folder(t, { 'self.dss': 'New Circuit.c\nRedirect self.dss\n' });
  t.throws(() => readDssScript(join(self, 'self.dss')), { message: `${join(self, 'self.dss')}:2: Redirect self.dss: a Redirect cycle (self.dss -> self.dss)` }, 'a file redirecting to itself');
  // The same file redirected twice one after the other is no cycle.
  const twice = folder(t, { 'm.dss': 'Redirect l.dss\nRedirect l.dss\n', 'l.dss': 'New Line.x bus1=1 bus2=2\n' });
  t.equal(readDssScript(join(twice, 'm.dss')).statements.length, 2, 'both read');
});
