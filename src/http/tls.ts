import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { ServerTlsConfig } from './config';

/**
 * TLS on the listener (`server.tls`): the PEM files read and checked at start and on SIGHUP.
 * Nothing here ever logs or puts in an error the contents of a file: errors name the config key,
 * the path and what is wrong; what is logged about a certificate is public (subject, issuer,
 * validity, SHA-256 fingerprint).
 */

/** One file read may take this long: a hung network mount must not hang the start or a reload. */
export const TLS_FILE_READ_TIMEOUT_MS = 5_000;
/** Larger files are refused unread: a chain or a CA bundle is a few KiB (Mozilla's whole root set, ~220 KiB). */
export const TLS_FILE_MAX_BYTES = 1024 * 1024;
/** Handshake failures are logged at most once per this window, with how many were left out. */
export const HANDSHAKE_LOG_WINDOW_MS = 60_000;

export type TlsFileKey = 'server.tls.certFile' | 'server.tls.keyFile' | 'server.tls.clientCaFile';

/** A TLS file that cannot be used. The message names the key and the path, never the file's contents. */
export class TlsFileError extends Error {
  constructor(
    readonly key: TlsFileKey,
    readonly path: string,
    reason: string,
  ) {
    super(`${key} (${path}): ${reason}`);
    this.name = 'TlsFileError';
  }
}

/** What may be logged about the loaded files. Dates are ISO 8601 (UTC). */
export interface TlsSummary {
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  /** SHA-256 of the leaf certificate's DER, colon-separated hex (as `openssl x509 -fingerprint -sha256`). */
  fingerprint256: string;
  /** Certificates in `server.tls.certFile` (the leaf and its intermediates). */
  chainLength: number;
  /** Client CA certificates in `server.tls.clientCaFile`; 0 without mutual TLS. */
  clientCas: number;
}

/** The checked files: `options` goes to `https.createServer` and `setSecureContext`; only `summary` may be logged. */
export interface TlsMaterial {
  options: Pick<SecureContextOptions, 'cert' | 'key' | 'ca'>;
  summary: TlsSummary;
  /** Said once at load, e.g. an expired certificate (served anyway: the files are what the operator gave). */
  warnings: string[];
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----[\s\S]*?-----END \1-----/;

async function readPem(key: TlsFileKey, path: string): Promise<string> {
  let buf: Buffer;
  try {
    buf = await readFile(path, { signal: AbortSignal.timeout(TLS_FILE_READ_TIMEOUT_MS) });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const reason =
      err.name === 'AbortError' || err.name === 'TimeoutError'
        ? `not read within ${TLS_FILE_READ_TIMEOUT_MS} ms`
        : err.code === 'ENOENT'
          ? 'no such file'
          : err.code === 'EACCES' || err.code === 'EPERM'
            ? 'not readable by this process (permission denied)'
            : err.code === 'EISDIR'
              ? 'is a directory, not a PEM file'
              : `cannot be read (${err.code ?? err.name})`;
    throw new TlsFileError(key, path, reason);
  }
  if (buf.length > TLS_FILE_MAX_BYTES) throw new TlsFileError(key, path, `larger than ${TLS_FILE_MAX_BYTES} bytes: not a PEM certificate or key file`);
  return buf.toString('latin1');
}

function parseCerts(key: TlsFileKey, path: string, text: string): { pems: string[]; certs: X509Certificate[] } {
  const pems = text.match(CERT_BLOCK) ?? [];
  if (pems.length === 0) throw new TlsFileError(key, path, 'no PEM certificate in it (a "-----BEGIN CERTIFICATE-----" block)');
  const certs = pems.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch {
      throw new TlsFileError(key, path, `certificate ${i + 1} of ${pems.length} is not a valid X.509 certificate`);
    }
  });
  return { pems, certs };
}

function parseKey(path: string, text: string) {
  const key: TlsFileKey = 'server.tls.keyFile';
  const m = KEY_BLOCK.exec(text);
  if (!m) throw new TlsFileError(key, path, 'no PEM private key in it (a "-----BEGIN PRIVATE KEY-----" block)');
  const encrypted = 'is encrypted: pagefirst takes no passphrase; give it the key decrypted (`openssl pkey -in KEY -out KEY.plain`), readable only by its user';
  if (m[1] === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(m[0])) throw new TlsFileError(key, path, encrypted);
  try {
    return { pem: m[0], object: createPrivateKey({ key: m[0], format: 'pem' }) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE') throw new TlsFileError(key, path, encrypted);
    // The code only: OpenSSL's messages carry no key material, but no text from the file goes out either.
    throw new TlsFileError(key, path, `not a valid ${m[1]} (${(e as NodeJS.ErrnoException).code ?? 'unparsable'})`);
  }
}

/**
 * Reads and checks `server.tls`'s files: each must exist, be readable, hold PEM, the key must be
 * unencrypted and belong to the first certificate in `certFile` (the leaf), and OpenSSL must accept
 * the set. Rejects with TlsFileError (naming the key and path) on the first problem.
 */
export async function loadTlsMaterial(config: ServerTlsConfig): Promise<TlsMaterial> {
  const [certText, keyText, caText] = await Promise.all([
    readPem('server.tls.certFile', config.certFile),
    readPem('server.tls.keyFile', config.keyFile),
    config.clientCaFile === undefined ? undefined : readPem('server.tls.clientCaFile', config.clientCaFile),
  ]);
  const chain = parseCerts('server.tls.certFile', config.certFile, certText);
  const key = parseKey(config.keyFile, keyText);
  const leaf = chain.certs[0]!;
  if (!leaf.checkPrivateKey(key.object)) {
    throw new TlsFileError(
      'server.tls.keyFile',
      config.keyFile,
      `does not match the certificate in server.tls.certFile (${config.certFile}, SHA-256 ${leaf.fingerprint256}); the key must be the one the certificate was issued for`,
    );
  }
  const ca = caText === undefined || config.clientCaFile === undefined ? undefined : parseCerts('server.tls.clientCaFile', config.clientCaFile, caText);
  const options = { cert: chain.pems.join('\n'), key: key.pem, ...(ca ? { ca: ca.pems } : {}) };
  try {
    createSecureContext(options);
  } catch (e) {
    // e.g. "ee key too small" under OpenSSL's security level; OpenSSL's text names no key material.
    throw new TlsFileError('server.tls.certFile', config.certFile, `OpenSSL refuses the certificate and key: ${(e as Error).message}`);
  }
  const now = Date.now();
  const warnings: string[] = [];
  if (leaf.validToDate.getTime() < now) warnings.push(`server.tls.certFile (${config.certFile}): the certificate expired at ${leaf.validToDate.toISOString()}`);
  if (leaf.validFromDate.getTime() > now)
    warnings.push(`server.tls.certFile (${config.certFile}): the certificate is not valid before ${leaf.validFromDate.toISOString()}`);
  const summary: TlsSummary = {
    subject: leaf.subject.replace(/\n/g, ', '),
    issuer: leaf.issuer.replace(/\n/g, ', '),
    validFrom: leaf.validFromDate.toISOString(),
    validTo: leaf.validToDate.toISOString(),
    fingerprint256: leaf.fingerprint256,
    chainLength: chain.certs.length,
    clientCas: ca?.certs.length ?? 0,
  };
  // Logged by mistake, the material shows its summary only (pino serialises through toJSON).
  return Object.defineProperty({ options, summary, warnings }, 'toJSON', { value: () => ({ summary, warnings }), enumerable: false });
}

/**
 * The options for `https.createServer`: the files' contents, and with a client CA, mutual TLS
 * (`requestCert` + `rejectUnauthorized`: a client without a certificate chaining to one of those CAs
 * is refused during the handshake, before any HTTP is read; Node's tls.createServer options).
 */
export function httpsServerOptions(config: ServerTlsConfig, material: TlsMaterial) {
  const mutual = config.clientCaFile !== undefined;
  return { ...material.options, requestCert: mutual, rejectUnauthorized: mutual };
}

/** Reloads `server.tls`'s files into a listening server. */
export interface TlsReloader {
  /**
   * Reads and checks the files again; when they are good, new connections get them
   * (`tls.Server.setSecureContext`: open connections and the runs they started are untouched).
   * A bad file keeps the certificate in use and logs an error naming the key and path. Resolves
   * true when swapped. Calls are serialised.
   */
  reload(): Promise<boolean>;
  /** The summary of what new connections get now. */
  current(): TlsSummary;
}

export function createTlsReloader(deps: {
  config: ServerTlsConfig;
  server: Pick<TlsServer, 'setSecureContext'>;
  logger: Logger;
  initial: TlsMaterial;
}): TlsReloader {
  let current = deps.initial.summary;
  let queue: Promise<unknown> = Promise.resolve();
  const once = async (): Promise<boolean> => {
    let material: TlsMaterial;
    try {
      material = await loadTlsMaterial(deps.config);
      // checked by loadTlsMaterial's createSecureContext; a throw here still leaves the old context
      deps.server.setSecureContext(material.options);
    } catch (e) {
      const fields = e instanceof TlsFileError ? { err: e.message, key: e.key, path: e.path } : { err: (e as Error).message };
      deps.logger.error({ ...fields, kept: current.fingerprint256 }, 'TLS reload failed: keeping the certificate in use');
      return false;
    }
    for (const w of material.warnings) deps.logger.warn(w);
    deps.logger.info({ tls: material.summary, previous: current.fingerprint256 }, 'TLS certificate reloaded');
    current = material.summary;
    return true;
  };
  return {
    reload() {
      const r = queue.then(once);
      queue = r.catch(() => undefined);
      return r;
    },
    current: () => current,
  };
}

/**
 * Logs refused TLS handshakes (a client without an accepted certificate, plain HTTP on the HTTPS
 * port, a client that does not trust our certificate; not a connection closed before any TLS
 * byte, Node's ECONNRESET "socket hang up"): the first in each window with its reason
 * (OpenSSL's code) and address, then how many more came. Node destroys the socket itself.
 */
export function logHandshakeFailures(server: Pick<TlsServer, 'on'>, logger: Logger, now: () => number = Date.now): void {
  let windowStart = -Infinity;
  let suppressed = 0;
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
    // a client gone before its hello (a TCP probe such as kubelet's tcpSocket, a port scan) refused nothing
    if (err.code === 'ECONNRESET') return;
    const t = now();
    if (t - windowStart < HANDSHAKE_LOG_WINDOW_MS) {
      suppressed++;
      return;
    }
    windowStart = t;
    logger.warn(
      { reason: err.code ?? err.message, remoteAddress: socket.remoteAddress, ...(suppressed > 0 ? { sinceLast: suppressed } : {}) },
      'TLS handshake refused',
    );
    suppressed = 0;
  });
}
