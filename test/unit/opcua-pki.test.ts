/**
 * The PKI folder and `feederwatch pki`: reading certificates (PEM and DER), trusting one from rejected/ or
 * from anywhere, listing, and the command's usage errors and exit codes. The certificate below was made
 * with openssl; its thumbprint and dates are written out from `openssl x509 -fingerprint -sha1 -dates`.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { CommandContext } from '../../gateway/cli/commands.js';
import { pkiCommand } from '../../gateway/cli/pki.js';
import { UsageError } from '../../gateway/cli/usage-error.js';
import { packagePath } from '../../gateway/paths.js';
import { findRejected, idealCertificateName, listPki, pkiLayout, readCertificate, trustCertificate } from '../../drivers/opcua/pki-store.js';

const PEM = `-----BEGIN CERTIFICATE-----
MIIDczCCAlugAwIBAgIUKMyUPAOjeKI9b4ln9d+7So5cD2MwDQYJKoZIhvcNAQEL
BQAwNjEaMBgGA1UECgwRZmVlZGVyd2F0Y2ggdGVzdHMxGDAWBgNVBAMMD1Rlc3Qg
RlRVIFNlcnZlcjAgFw0yNjExMjYwNTIwNDdaGA8yMTI2MTEwMjA1MjA0N1owNjEa
MBgGA1UECgwRZmVlZGVyd2F0Y2ggdGVzdHMxGDAWBgNVBAMMD1Rlc3QgRlRVIFNl
cnZlcjCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAKfwKwcBexh7Zvyg
KgrVR2Qjcu8H0r2/opuLnMNTBuWd2IrSXUHJyjGVcsjDvksPK84q/uDBdgfuMVN1
GORX3/s3FP/8OJrSlkyMssGLdHgUuV9pyLuNQeFuqa5hZfM3rJU7DfqX+/iY+kMB
HfnVWVMao1Jmb+uNk1jZh6FgHAoXmB9dg1Ozs0h17awUqq/Q4RhqugKUaKWLvhHO
oq/0KZySsCVD7K3N6rXJwXnIXTpHdvoZZMmmwVWjRXYaNZHRDYk8uCSe5hEYOIhL
5p0DfT1ORM2TytCSszP0EJo/XMMHkoB9fs/XO4NjoUQGERHo1Tl/IQdh4BMiJeBX
tqVFFHkCAwEAAaN3MHUwHQYDVR0OBBYEFIUUh9woSJBEZcXqpLVjuXuCsHMnMB8G
A1UdIwQYMBaAFIUUh9woSJBEZcXqpLVjuXuCsHMnMA8GA1UdEwEB/wQFMAMBAf8w
IgYDVR0RBBswGYYMdXJuOnRlc3Q6ZnR1gglsb2NhbGhvc3QwDQYJKoZIhvcNAQEL
BQADggEBAD52eeS5jTtCwTjlYZo3UoWcUwtF80IQ1cAdL3drcKbqWhGTeLXWcFqN
CwoTnR11jKLyadTIbZwz8q64hSj/DW6IDv2jCE1HXNyvBXznNQ+kCKf3e/bSErQN
DYfRCuP9j2rdO21Mn70ann4T6Cojb97Xy4vauCsgD3ZxPefBhYsnwy64kqRMskua
ECU5Lb8IjU2Wai+nXBB8fQq+GmYmxkQnLbZWVWRlrx/W6VBy8d/dte9KmJuFN1DS
DIkJneEpa9OnWCTFRCkIfuKC68PeqZbrPRROAT1kL/J/3LveYlHSAlMM98pxJP6Q
33b6Uw6ZbARpSi51i8y42QP+pY6ge1s=
-----END CERTIFICATE-----
`;
const THUMBPRINT = 'b1922deb2b200f6ccd96d98ac9d4d9fa1d88268f';
const SUBJECT = 'O=feederwatch tests, CN=Test FTU Server';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'feederwatch-pki-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function cli(): CommandContext & { out: string; err: string } {
  const ctx = { out: '', err: '', env: process.env, stdout: (s: string) => void (ctx.out += s), stderr: (s: string) => void (ctx.err += s) };
  return ctx;
}

t.test('reads a certificate in PEM and in DER', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'server.pem'), PEM);
  await writeFile(join(dir, 'server.der'), new X509Certificate(PEM).raw);
  for (const name of ['server.pem', 'server.der']) {
    const { info } = await readCertificate(join(dir, name));
    t.equal(info.thumbprint, THUMBPRINT, `${name}: thumbprint`);
    t.equal(info.subject, SUBJECT, `${name}: subject`);
    t.equal(info.commonName, 'Test FTU Server');
    t.equal(info.applicationUri, 'urn:test:ftu');
    t.equal(info.validFrom.toISOString(), '2026-11-26T05:20:47.000Z');
    t.equal(info.validTo.toISOString(), '2126-11-02T05:20:47.000Z');
  }
  t.equal(idealCertificateName((await readCertificate(join(dir, 'server.pem'))).info), `Test FTU Server[${THUMBPRINT}].pem`);
  await writeFile(join(dir, 'notes.txt'), 'hello');
  await t.rejects(readCertificate(join(dir, 'notes.txt')), /notes\.txt is not an X\.509 certificate/);
});

t.test('trust moves a certificate from rejected/ into trusted/certs/', async (t) => {
  const pki = await tempDir(t);
  const layout = pkiLayout(pki);
  await mkdir(layout.rejected, { recursive: true });
  const rejected = join(layout.rejected, `Test FTU Server[${THUMBPRINT}].pem`);
  await writeFile(rejected, PEM);
  t.equal(await findRejected(pki, THUMBPRINT.toUpperCase()), rejected, 'found by thumbprint');
  const result = await trustCertificate(pki, rejected);
  t.equal(result.trustedFile, join(layout.trusted, `Test FTU Server[${THUMBPRINT}].pem`));
  t.same(result.removedFromRejected, [rejected]);
  t.notOk(existsSync(rejected), 'gone from rejected/');
  t.equal(await readFile(result.trustedFile, 'utf8'), PEM, 'the same file, moved');
  t.equal(await findRejected(pki, THUMBPRINT), undefined);
});

t.test('trust copies a certificate from anywhere and removes every copy from rejected/; twice is harmless', async (t) => {
  const pki = await tempDir(t);
  const layout = pkiLayout(pki);
  const elsewhere = join(await tempDir(t), 'from-the-vendor.der');
  await writeFile(elsewhere, new X509Certificate(PEM).raw);
  await mkdir(layout.rejected, { recursive: true });
  await writeFile(join(layout.rejected, 'renamed-by-someone.pem'), PEM);
  const first = await trustCertificate(pki, elsewhere);
  t.equal(first.trustedFile, join(layout.trusted, `Test FTU Server[${THUMBPRINT}].pem`), 'stored under its ideal name, as PEM');
  t.same(first.removedFromRejected, [join(layout.rejected, 'renamed-by-someone.pem')]);
  t.ok(existsSync(elsewhere), 'the source is left alone');
  t.equal((await readCertificate(first.trustedFile)).info.thumbprint, THUMBPRINT);
  const second = await trustCertificate(pki, elsewhere);
  t.same(second.removedFromRejected, []);
  t.same(await readdir(layout.trusted), [`Test FTU Server[${THUMBPRINT}].pem`]);
});

t.test('list', async (t) => {
  const pki = await tempDir(t);
  const layout = pkiLayout(pki);
  await mkdir(layout.rejected, { recursive: true });
  await writeFile(join(layout.rejected, 'a.pem'), PEM);
  await writeFile(join(layout.rejected, 'junk.pem'), 'junk');
  const listing = await listPki(pki);
  t.same(listing.own, []);
  t.same(listing.trusted, []);
  t.same(listing.rejected.map((c) => c.thumbprint), [THUMBPRINT]);
  t.same(listing.unreadable.map((u) => u.file), [join(layout.rejected, 'junk.pem')]);
  t.same(await listPki(join(pki, 'does-not-exist')), { own: [], trusted: [], rejected: [], unreadable: [] }, 'a missing folder is empty');
});

t.test('feederwatch pki trust / list', async (t) => {
  const pki = await tempDir(t);
  const layout = pkiLayout(pki);
  await mkdir(layout.rejected, { recursive: true });
  const rejected = join(layout.rejected, `Test FTU Server[${THUMBPRINT}].pem`);
  await writeFile(rejected, PEM);

  const listed = cli();
  t.equal(await pkiCommand.run({ pki }, listed, ['list']), 0);
  t.match(listed.out, `rejected (${layout.rejected}): 1`);
  t.match(listed.out, THUMBPRINT);
  t.match(listed.out, 'feederwatch pki trust <file>');

  const trusted = cli();
  t.equal(await pkiCommand.run({ pki }, trusted, ['trust', rejected]), 0);
  t.match(trusted.out, `trusted ${SUBJECT}`);
  t.match(trusted.out, `thumbprint (SHA-1): ${THUMBPRINT}`);
  t.match(trusted.out, 'valid: 2026-11-26T05:20:47.000Z to 2126-11-02T05:20:47.000Z');
  t.match(trusted.out, `removed from rejected/: ${rejected}`);
  t.equal(trusted.err, '');

  const missing = cli();
  t.equal(await pkiCommand.run({ pki }, missing, ['trust', join(pki, 'nope.pem')]), 2, 'a missing file: exit 2');
  t.match(missing.err, /no such file: .*nope\.pem/);
  const junk = join(pki, 'junk.pem');
  await writeFile(junk, 'not a certificate');
  const notCert = cli();
  t.equal(await pkiCommand.run({ pki }, notCert, ['trust', junk]), 2, 'not a certificate: exit 2');
  t.match(notCert.err, /is not an X\.509 certificate/);
});

t.test('feederwatch pki usage errors (exit code 2 through the CLI)', async (t) => {
  const pki = await tempDir(t);
  t.equal(pkiCommand.allowPositionals, true, 'the command takes positionals');
  await t.rejects(pkiCommand.run({ pki }, cli(), []), UsageError);
  await t.rejects(pkiCommand.run({ pki }, cli(), ['forget']), /unknown subcommand "forget"/);
  await t.rejects(pkiCommand.run({ pki }, cli(), ['trust']), /exactly one certificate file/);
  await t.rejects(pkiCommand.run({ pki }, cli(), ['trust', 'a', 'b']), /exactly one certificate file/);
  await t.rejects(pkiCommand.run({ pki }, cli(), ['list', 'x']), /takes no argument/);
  await t.rejects(pkiCommand.run({}, cli(), ['list']), /--config <site.yaml> or --pki <dir> is required/);
  await t.rejects(pkiCommand.run({ pki, config: 'site.yaml' }, cli(), ['list']), /either --config or --pki/);
});

t.test('feederwatch pki --config takes opcua.pkiDir of the site, relative to the site file', async (t) => {
  const dir = await tempDir(t);
  const site = join(dir, 'site.yaml');
  await copyFile(packagePath('config/sites/demo.yaml'), site);
  await writeFile(site, `${await readFile(site, 'utf8')}\nopcua:\n  pkiDir: ./gateway-pki\n`);
  const layout = pkiLayout(join(dir, 'gateway-pki'));
  await mkdir(layout.rejected, { recursive: true });
  const rejected = join(layout.rejected, 'server.pem');
  await writeFile(rejected, PEM);
  const ctx = cli();
  t.equal(await pkiCommand.run({ config: site }, ctx, ['trust', rejected]), 0, ctx.err);
  t.ok(existsSync(join(layout.trusted, 'server.pem')), 'trusted in <site folder>/gateway-pki/trusted/certs');

  const noOpcua = cli();
  t.equal(await pkiCommand.run({ config: packagePath('config/sites/demo.yaml') }, noOpcua, ['list']), 2, 'a site without opcua: exit 2');
  t.match(noOpcua.err, /no opcua section/);
});
