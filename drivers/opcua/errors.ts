/**
 * Maps what node-opcua reports onto the stable `ReadError` codes (docs/errors.md).
 *
 * node-opcua's connect errors are plain `Error`s told apart by their message (client_base_impl.js):
 * "server Certificate verification failed with err BadCertificateUntrusted" when we refuse the server's
 * certificate, "The connection has been rejected by server: BadSecurityChecksFailed" when the server
 * refuses ours, "The connection cannot be established with server ..." for a refused socket. Session
 * errors (wrong password) carry the status name in the message ("BadUserAccessDenied (0x801f0000)").
 */
import type { ReadError } from '../reading.js';

/** Status codes that describe the configuration, not the moment: retrying cannot help. */
const PERMANENT_STATUS = new Set([
  'BadNodeIdUnknown',
  'BadNodeIdInvalid',
  'BadNoMatch',
  'BadBrowseNameInvalid',
  'BadAttributeIdInvalid',
  'BadNotReadable',
  'BadUserAccessDenied',
  'BadIdentityTokenRejected',
  'BadIdentityTokenInvalid',
  'BadFilterNotAllowed',
  'BadMonitoredItemFilterUnsupported',
  'BadMonitoredItemFilterInvalid',
  'BadDeadbandFilterInvalid',
  'BadSecurityModeRejected',
  'BadSecurityPolicyRejected',
]);

export function isPermanentStatus(statusName: string): boolean {
  return PERMANENT_STATUS.has(statusName);
}

/** A Bad status code for a point (or a session), named in the message. */
export function badStatusError(statusName: string, detail?: string): ReadError {
  return {
    code: 'BAD_STATUS',
    message: detail === undefined ? statusName : `${statusName}: ${detail}`,
    retryable: !isPermanentStatus(statusName),
  };
}

export function sessionLostError(detail: string): ReadError {
  return { code: 'SESSION_LOST', message: detail, retryable: true };
}

export function connectionRefusedError(detail: string): ReadError {
  return { code: 'CONNECTION_REFUSED', message: detail, retryable: true };
}

export function certificateRejectedError(detail: string): ReadError {
  return { code: 'CERTIFICATE_REJECTED', message: detail, retryable: false };
}

export function decodeError(detail: string): ReadError {
  return { code: 'DECODE_ERROR', message: detail, retryable: false };
}

/** What went wrong while connecting, as far as the message tells. */
export type ConnectFailureKind =
  | 'serverCertificateUntrusted'
  | 'clientCertificateRejected'
  | 'userRejected'
  | 'noMatchingEndpoint'
  | 'unreachable'
  | 'other';

export function connectFailureKind(err: unknown): ConnectFailureKind {
  const message = err instanceof Error ? err.message : String(err);
  if (/server Certificate verification failed|BadCertificate(Untrusted|Invalid|TimeInvalid|Revoked|ChainIncomplete|HostNameInvalid|UriInvalid|IssuerRevocationUnknown|RevocationUnknown)/i.test(message)) {
    // "rejected by server: BadCertificate..." is the server refusing ours; the rest is us refusing theirs.
    return /rejected by server/i.test(message) ? 'clientCertificateRejected' : 'serverCertificateUntrusted';
  }
  if (/rejected by server: *Bad(SecurityChecksFailed|CertificateUseNotAllowed|ApplicationSignatureInvalid)/i.test(message)) {
    return 'clientCertificateRejected';
  }
  // node-opcua refuses client-side when the endpoint offers no policy for the identity we have.
  if (/BadUserAccessDenied|BadIdentityToken(Rejected|Invalid)|BadUserSignatureInvalid|Cannot find \w+ user token policy/i.test(message)) {
    return 'userRejected';
  }
  if (/cannot find endpoint for securityMode/i.test(message)) return 'noMatchingEndpoint';
  if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|cannot be established/i.test(message)) return 'unreachable';
  return 'other';
}

/** The first OPC UA status name in a message (`BadUserAccessDenied (0x801f0000)` -> `BadUserAccessDenied`). */
export function statusNameIn(message: string): string | undefined {
  return /\b((?:Bad|Uncertain|Good)[A-Z][A-Za-z]*)\b/.exec(message)?.[1];
}
