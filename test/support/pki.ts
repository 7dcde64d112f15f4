import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

/**
 * A throw-away PKI made at test run time (no certificate is kept in the repository): RSA 2048
 * keys from Node's own crypto (OpenSSL's default security level 2 refuses smaller ones), X.509 v3
 * certificates built and signed with node-forge (`pki.createCertificate`, `cert.sign`). Server
 * certificates name `localhost` and `127.0.0.1` (Go, hence Alertmanager, checks only the
 * subjectAltName); each certificate has the extendedKeyUsage of its role.
 */

export interface Issued {
  certPem: string;
  /** PKCS#8 PEM ("BEGIN PRIVATE KEY"). */
  keyPem: string;
  /** As Node's X509Certificate.fingerprint256 gives it. */
  fingerprint256: string;
}

export interface TestCa extends Issued {
  /** Issues a leaf certificate signed by this CA. */
  issue(cn: string, role: 'server' | 'client', validity?: { notBefore?: Date; notAfter?: Date }): Issued;
}

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    forgePrivate: forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
    forgePublic: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function build(
  cn: string,
  publicKey: forge.pki.PublicKey,
  issuer: forge.pki.CertificateField[] | 'self',
  signingKey: forge.pki.rsa.PrivateKey,
  extensions: object[],
  validity: { notBefore?: Date; notAfter?: Date } = {},
): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // positive (first byte below 0x80) and unique, as RFC 5280 4.1.2.2 asks
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = validity.notBefore ?? new Date(Date.now() - 60_000);
  cert.validity.notAfter = validity.notAfter ?? new Date(Date.now() + 24 * 3_600_000);
  const attrs = [{ name: 'commonName', value: cn }];
  cert.setSubject(attrs);
  cert.setIssuer(issuer === 'self' ? attrs : issuer);
  cert.setExtensions(extensions);
  cert.sign(signingKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** A self-signed CA (basicConstraints CA, keyUsage keyCertSign) that issues server and client certificates. */
export function createTestCa(cn: string): TestCa {
  const k = keyPair();
  const attrs = [{ name: 'commonName', value: cn }];
  const certPem = build(cn, k.forgePublic, 'self', k.forgePrivate, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  return {
    certPem,
    keyPem: k.keyPem,
    fingerprint256: fingerprint(certPem),
    issue(leafCn, role, validity) {
      const leaf = keyPair();
      const pem = build(
        leafCn,
        leaf.forgePublic,
        attrs,
        k.forgePrivate,
        [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
          role === 'server' ? { name: 'extKeyUsage', serverAuth: true } : { name: 'extKeyUsage', clientAuth: true },
          ...(role === 'server'
            ? [
                {
                  name: 'subjectAltName',
                  altNames: [
                    { type: 2, value: 'localhost' },
                    { type: 7, ip: '127.0.0.1' },
                  ],
                },
              ]
            : []),
        ],
        validity,
      );
      return { certPem: pem, keyPem: leaf.keyPem, fingerprint256: fingerprint(pem) };
    },
  };
}

/** Writes `issued`'s certificate and key as `<name>.crt` / `<name>.key` in `dir`; returns their paths. */
export function writePair(dir: string, name: string, issued: Issued): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(certFile, issued.certPem);
  writeFileSync(keyFile, issued.keyPem, { mode: 0o600 });
  return { certFile, keyFile };
}
