import { z } from 'zod';

/**
 * `server.tls`: serve HTTPS instead of HTTP. Paths to PEM files, read at start (a missing,
 * unreadable or malformed file, or a key that does not match the certificate, stops the start)
 * and again on SIGHUP (a bad file then keeps the certificate in use). See src/http/tls.ts.
 */
export const serverTlsConfigSchema = z.strictObject({
  /** The server certificate, PEM; intermediates may follow it in the same file (leaf first). */
  certFile: z.string().min(1),
  /** The certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1), unencrypted: there is no passphrase setting. */
  keyFile: z.string().min(1),
  /**
   * CA certificates (PEM, one or more) that sign client certificates. Set, it turns on mutual TLS:
   * a client must present a certificate chaining to one of them, else the handshake is refused.
   */
  clientCaFile: z.string().min(1).optional(),
});
export type ServerTlsConfig = z.infer<typeof serverTlsConfigSchema>;

/** `server`: where and how the HTTP server listens. */
export const serverConfigSchema = z.strictObject({
  host: z.string().min(1).optional(),
  port: z.number().int().min(0).max(65535).default(8080),
  /** Larger bodies get 413 (docs/contract.md: default 1 MiB). */
  bodyLimitBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /** More alerts in one notification get 400; Alertmanager's `max_alerts` caps what it sends. */
  maxAlerts: z.number().int().positive().default(1000),
  auth: z.strictObject({ token: z.string().min(16, 'must be at least 16 characters').optional() }).default({}),
  /** Whole-request deadline (slow-loris bound), Node's `requestTimeout`. */
  requestTimeoutMs: z.number().int().positive().default(10_000),
  /** Headers must arrive within this (Node's `headersTimeout`). */
  headersTimeoutMs: z.number().int().positive().default(5_000),
  keepAliveTimeoutMs: z.number().int().positive().default(5_000),
  /** Requests per minute per client on /enrich and the Slack endpoints. */
  rateLimitPerMinute: z.number().int().positive().default(60),
  /** HTTPS (and with `clientCaFile`, mutual TLS) on the listener; absent, plain HTTP. */
  tls: serverTlsConfigSchema.optional(),
});
export type ServerConfig = z.infer<typeof serverConfigSchema>;
