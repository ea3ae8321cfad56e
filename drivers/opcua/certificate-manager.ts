/**
 * node-opcua's certificate manager, remembering the last certificate it refused.
 *
 * When the client refuses a server certificate, node-opcua's connect() fails with a message that names
 * only the status ("server Certificate verification failed with err BadCertificateUntrusted"); the
 * certificate itself is not in the error. The operator needs to know which file in rejected/ to trust,
 * so the manager records the certificate of every failed verification (checkCertificate() calls
 * verifyCertificate() with the chain, leaf first).
 */
import { X509Certificate } from 'node:crypto';
import { OPCUACertificateManager } from 'node-opcua';

export interface RefusedCertificate {
  /** SHA-1 thumbprint, lower-case hex, of the leaf certificate. */
  thumbprint: string;
  subject: string;
  /** node-opcua-pki's verification status, e.g. `BadCertificateUntrusted`. */
  status: string;
}

export class RecordingCertificateManager extends OPCUACertificateManager {
  lastRefused: RefusedCertificate | undefined;

  override async verifyCertificate(
    ...args: Parameters<OPCUACertificateManager['verifyCertificate']>
  ): ReturnType<OPCUACertificateManager['verifyCertificate']> {
    const status = await super.verifyCertificate(...args);
    if (String(status) !== 'Good') {
      const [certificate] = args;
      const leaf = Array.isArray(certificate) ? certificate[0] : certificate;
      if (leaf !== undefined) {
        try {
          const x509 = new X509Certificate(leaf);
          this.lastRefused = {
            thumbprint: x509.fingerprint.replace(/:/g, '').toLowerCase(),
            subject: x509.subject.split('\n').filter((s) => s !== '').join(', '),
            status: String(status),
          };
        } catch {
          this.lastRefused = undefined;
        }
      }
    }
    return status;
  }
}
