import { request, type RequestOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';

/** What the server answered and which certificate it presented (Node's `fingerprint256`). */
export interface HttpsAnswer {
  status: number;
  body: string;
  peer: string;
}

export interface HttpsClientOptions {
  /** The CA to trust for the server's certificate. */
  ca: string;
  /** A client certificate and key to present (mutual TLS). */
  cert?: string;
  key?: string;
  method?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * A request over a fresh connection (no agent, so every call does its own handshake). `open`
 * sends the headers and `first` of the body and resolves once the connection is up (with the
 * certificate the server presented); `finish(rest)` sends the rest and resolves with the answer.
 */
export function openHttpsRequest(url: string, opts: HttpsClientOptions, first = ''): Promise<{ peer: string; finish(rest?: string): Promise<HttpsAnswer> }> {
  const u = new URL(url);
  const options: RequestOptions = {
    host: u.hostname,
    port: u.port,
    path: `${u.pathname}${u.search}`,
    method: opts.method ?? 'GET',
    headers: opts.headers ?? {},
    ca: opts.ca,
    ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
    agent: false,
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  };
  return new Promise((resolveOpen, rejectOpen) => {
    let answer: Promise<HttpsAnswer> | undefined;
    const req = request(options);
    const answered = new Promise<HttpsAnswer>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peer: (res.socket as TLSSocket).getPeerCertificate().fingerprint256 }));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    answered.catch(rejectOpen);
    req.on('socket', (socket) => {
      socket.once('secureConnect', () => {
        const peer = (socket as TLSSocket).getPeerCertificate().fingerprint256;
        resolveOpen({
          peer,
          finish(rest = '') {
            answer ??= (req.end(rest), answered);
            return answer;
          },
        });
      });
    });
    if (first) req.write(first);
    else req.flushHeaders();
  });
}

/** One whole request over a fresh connection; rejects when the handshake or the request fails. */
export async function httpsRequest(url: string, opts: HttpsClientOptions & { body?: string }): Promise<HttpsAnswer> {
  const open = await openHttpsRequest(url, opts);
  return open.finish(opts.body ?? '');
}
