/**
 * The OPC UA PKI folder as files, without node-opcua (so `feederwatch pki` starts fast and a test can
 * look at the folder). The layout is node-opcua-pki's:
 *
 *   own/certs/client_certificate.pem   the gateway's certificate (self-signed, made on first connect)
 *   own/private/private_key.pem        its private key
 *   trusted/certs/                     server certificates the gateway trusts
 *   rejected/                          server certificates seen and refused (node-opcua writes them here)
 *   issuers/certs/, trusted/crl, ...   CA certificates and revocation lists (not managed here)
 *
 * A certificate present both in trusted/ and in rejected/ counts as rejected (node-opcua-pki,
 * `#checkRejectedOrTrusted`), so trusting removes every copy from rejected/.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

export interface PkiLayout {
  root: string;
  ownCertificate: string;
  ownPrivateKey: string;
  trusted: string;
  rejected: string;
  issuers: string;
}

export function pkiLayout(root: string): PkiLayout {
  return {
    root,
    ownCertificate: join(root, 'own', 'certs', 'client_certificate.pem'),
    ownPrivateKey: join(root, 'own', 'private', 'private_key.pem'),
    trusted: join(root, 'trusted', 'certs'),
    rejected: join(root, 'rejected'),
    issuers: join(root, 'issuers', 'certs'),
  };
}

export interface CertificateInfo {
  file: string;
  /** Subject distinguished name, one attribute per line joined with ", " (e.g. `CN=FTU, O=ACME`). */
  subject: string;
  commonName: string;
  /** SHA-1 of the DER encoding, lower-case hex: OPC UA's certificate thumbprint (Part 6, 6.2.2). */
  thumbprint: string;
  validFrom: Date;
  validTo: Date;
  /** The application URI from the subject alternative name, when present. */
  applicationUri?: string;
}

/** Reads a PEM or DER certificate file (the first certificate of a chain). */
export async function readCertificate(file: string): Promise<{ certificate: X509Certificate; info: CertificateInfo }> {
  const bytes = await readFile(file);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(firstCertificate(bytes));
  } catch (err) {
    throw new Error(`${file} is not an X.509 certificate (PEM or DER): ${(err as Error).message}`);
  }
  return { certificate, info: describe(file, certificate) };
}

export function describe(file: string, certificate: X509Certificate): CertificateInfo {
  const subject = certificate.subject.split('\n').filter((s) => s !== '').join(', ');
  const commonName = /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1] ?? '';
  const uri = /URI:([^,\s]+)/.exec(certificate.subjectAltName ?? '')?.[1];
  return {
    file,
    subject,
    commonName,
    thumbprint: certificate.fingerprint.replace(/:/g, '').toLowerCase(),
    validFrom: new Date(certificate.validFrom),
    validTo: new Date(certificate.validTo),
    ...(uri !== undefined ? { applicationUri: uri } : {}),
  };
}

/** node-opcua-pki's file name for a certificate: `<common name>[<thumbprint>].pem`. */
export function idealCertificateName(info: CertificateInfo): string {
  // eslint-disable-next-line no-control-regex
  return `${info.commonName.replace(/[\x00-\x1F<>:"/\\|?*]/g, '_')}[${info.thumbprint}].pem`;
}

export interface PkiListing {
  own: CertificateInfo[];
  trusted: CertificateInfo[];
  rejected: CertificateInfo[];
  /** Files in those folders that are not readable certificates. */
  unreadable: Array<{ file: string; error: string }>;
}

export async function listPki(root: string): Promise<PkiListing> {
  const layout = pkiLayout(root);
  const listing: PkiListing = { own: [], trusted: [], rejected: [], unreadable: [] };
  const scan = async (folder: string, into: CertificateInfo[]): Promise<void> => {
    for (const file of await filesIn(folder)) {
      try {
        into.push((await readCertificate(file)).info);
      } catch (err) {
        listing.unreadable.push({ file, error: (err as Error).message });
      }
    }
  };
  await scan(join(root, 'own', 'certs'), listing.own);
  await scan(layout.trusted, listing.trusted);
  await scan(layout.rejected, listing.rejected);
  return listing;
}

/** The file in rejected/ holding the certificate with this thumbprint, if any. */
export async function findRejected(root: string, thumbprint: string): Promise<string | undefined> {
  const wanted = thumbprint.toLowerCase();
  for (const file of await filesIn(pkiLayout(root).rejected)) {
    if (basename(file).toLowerCase().includes(`[${wanted}]`)) return file;
  }
  for (const file of await filesIn(pkiLayout(root).rejected)) {
    try {
      if ((await readCertificate(file)).info.thumbprint === wanted) return file;
    } catch {
      /* not a certificate: not the one */
    }
  }
  return undefined;
}

export interface TrustResult {
  info: CertificateInfo;
  /** Where the certificate now is, in trusted/certs/. */
  trustedFile: string;
  /** Copies removed from rejected/ (a certificate in both folders counts as rejected). */
  removedFromRejected: string[];
}

/**
 * Puts a certificate into trusted/certs/ (moved when it comes from rejected/, copied otherwise) and removes
 * every copy of it from rejected/. Running it twice is harmless.
 */
export async function trustCertificate(root: string, file: string): Promise<TrustResult> {
  const layout = pkiLayout(root);
  const { certificate, info } = await readCertificate(file);
  await mkdir(layout.trusted, { recursive: true });
  await mkdir(layout.rejected, { recursive: true });
  const fromRejected = dirname(resolve(file)) === resolve(layout.rejected);
  const trustedFile = join(layout.trusted, fromRejected ? basename(file) : idealCertificateName(info));
  if (fromRejected) {
    await rename(file, trustedFile);
  } else {
    await writeFile(trustedFile, certificate.toString());
  }
  const removedFromRejected: string[] = [];
  for (const other of await filesIn(layout.rejected)) {
    try {
      if ((await readCertificate(other)).info.thumbprint === info.thumbprint) {
        await rm(other, { force: true });
        removedFromRejected.push(other);
      }
    } catch {
      /* not a certificate: leave it */
    }
  }
  if (fromRejected) removedFromRejected.unshift(file);
  return { info: { ...info, file: trustedFile }, trustedFile, removedFromRejected };
}

async function filesIn(folder: string): Promise<string[]> {
  try {
    const entries = await readdir(folder, { withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => join(folder, e.name))
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The first certificate of a PEM chain, or the bytes as they are (DER). */
function firstCertificate(bytes: Buffer): Buffer | string {
  const text = bytes.toString('latin1');
  const match = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text);
  return match !== null ? match[0] : bytes;
}
