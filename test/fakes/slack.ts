/**
 * A test Slack Web API server. It speaks Slack's wire protocol where it matters to us: form-encoded
 * (and JSON) bodies, the token in `Authorization: Bearer` or the `token` field, HTTP 200 with
 * `{ok:false, error}` and Slack's error codes, the Block Kit limits (`invalid_blocks`,
 * `msg_too_long`, and `msg_blocks_too_long` near 13k characters as reported in bolt-js#2509),
 * 429 with Retry-After and 5xx on demand, the three-step file upload with an upload_url pointing
 * back at itself, and a record of every call. Methods can be added with `handle()`.
 *
 * The workspace behaves as Slack's does where configuration meets it (each fact below is from the
 * method's reference, docs.slack.dev/reference/methods/<method>, mirrored as JSON in
 * github.com/slack-ruby/slack-api-ref `methods/<group>/<method>.json`):
 * - channel names vs ids: chat.postMessage and chat.postEphemeral take "an encoded ID or channel
 *   name" (`#alerts` or `alerts`, answered with the id); every other method takes an id only, so
 *   a name there is `channel_not_found` (the field report in fixtures/field/14);
 * - scopes: each method needs its bot scope (chat:write, channels:/groups:history,
 *   channels:/groups:read, channels:join, files:write) and answers `missing_scope` with `needed`
 *   and `provided` without it;
 * - private channels are invisible to a bot that is not in them (`channel_not_found`, and not
 *   listed); a public channel it is not in answers `not_in_channel` to posts and history reads,
 *   and conversations.join (channels:join) makes it a member; a private one cannot be joined
 *   (`method_not_supported_for_channel_type`);
 * - archived channels refuse posts (`is_archived`), edits (`is_inactive`, chat.update's code) and
 *   joins (`is_archived`); their history stays readable;
 * - a deleted thread parent (`deleteMessage`): replies to it answer `thread_not_found`, edits of a
 *   deleted message `message_not_found`;
 * - conversations.list pages with `limit` (1..1000, else `invalid_limit`), `cursor`
 *   (`invalid_cursor` when not one of ours) and `response_metadata.next_cursor` ("" at the end),
 *   `types` (default public_channel) and `exclude_archived`; a page may hold fewer than `limit`
 *   (`listPageMax`), as Slack's reference warns.
 *
 * Methods: auth.test, chat.postMessage, chat.postEphemeral, chat.update, chat.delete,
 * chat.getPermalink, conversations.history, conversations.replies, conversations.list,
 * conversations.join, files.getUploadURLExternal, files.completeUploadExternal; plus POST
 * /upload/:id (upload URLs) and POST /response/:id (response URLs from `responseUrl()`).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import { SLACK_SCOPES } from '../../src/slack/constants';

/** Slack's documented limits the fake enforces (docs/reference/slack.md; Block Kit reference). */
export const SLACK_LIMITS = {
  blocks: 50,
  sectionText: 3_000,
  headerText: 150,
  fields: 10,
  fieldText: 2_000,
  contextElements: 10,
  contextText: 3_000,
  blockId: 255,
  actionElements: 25,
  buttonText: 75,
  buttonValue: 2_000,
  buttonUrl: 3_000,
  actionId: 255,
  messageText: 40_000,
  /** Serialised blocks above this are refused with msg_blocks_too_long (bolt-js#2509 saw it near 13k). */
  blocksJson: 13_000,
} as const;

export interface FakeMessage {
  type: 'message';
  channel: string;
  ts: string;
  text?: string;
  blocks?: unknown[];
  attachments?: unknown[];
  thread_ts?: string;
  subtype?: string;
  user?: string;
  bot_id?: string;
  username?: string;
  files?: Array<{ id: string; name: string; title?: string }>;
  edited?: { user: string; ts: string };
  reply_count?: number;
}

export interface FakeCall {
  method: string;
  args: Record<string, unknown>;
  /** Epoch ms when the request arrived. */
  time: number;
  status: number;
  ok: boolean;
  error?: string;
}

export interface FakeChannel {
  id: string;
  name: string;
  member: boolean;
  archived: boolean;
  /** A private channel: seen only by its members (needs groups:* scopes); cannot be joined. */
  private: boolean;
}

/**
 * The bot scopes each method needs (docs.slack.dev/reference/methods/<method>, "Scopes"; `public` /
 * `private` where the channel's kind decides). chat.getPermalink and auth.test need none.
 */
export const FAKE_METHOD_SCOPES: Readonly<Record<string, string | { public: string; private: string }>> = {
  'chat.postMessage': 'chat:write',
  'chat.postEphemeral': 'chat:write',
  'chat.update': 'chat:write',
  'chat.delete': 'chat:write',
  'conversations.history': { public: 'channels:history', private: 'groups:history' },
  'conversations.replies': { public: 'channels:history', private: 'groups:history' },
  'conversations.join': 'channels:join',
  'files.getUploadURLExternal': 'files:write',
  'files.completeUploadExternal': 'files:write',
};

/** A token has the scopes the app's manifest grants (slack/manifest.yml = SLACK_SCOPES) unless `scopes` says otherwise. */
export const FAKE_ALL_SCOPES: readonly string[] = SLACK_SCOPES;

export interface FakeUpload {
  id: string;
  filename: string;
  length: number;
  altText?: string;
  bytes?: Buffer;
  completed: boolean;
  channel?: string;
  threadTs?: string;
  title?: string;
}

/** Thrown by a handler to answer `{ok:false, error: code, ...extra}`. */
export class SlackFakeError extends Error {
  constructor(
    readonly code: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(code);
  }
}

export interface HandlerContext {
  fake: FakeSlack;
  token: string;
  headers: Record<string, string | string[] | undefined>;
}
/** A method's implementation: returns the body's fields besides `ok: true`, or throws SlackFakeError. */
export type FakeHandler = (args: Record<string, unknown>, ctx: HandlerContext) => Record<string, unknown> | Promise<Record<string, unknown>>;

export interface Failure {
  status: number;
  /** Seconds, for 429. */
  retryAfter?: number;
  /** For status 200: answer `{ok:false, error}`. */
  error?: string;
}

export interface FakeSlackOptions {
  token?: string;
  channels?: Array<Partial<FakeChannel> & { id: string }>;
  /** The token's bot scopes (default FAKE_ALL_SCOPES). */
  scopes?: readonly string[];
  /** conversations.list returns at most this many channels a page, whatever `limit` asks (Slack may return fewer). */
  listPageMax?: number;
  /** Our bot's ids (messages posted with the token carry them). */
  botId?: string;
  userId?: string;
}

/** Fields Slack takes as JSON strings in form-encoded bodies. */
const JSON_FIELDS = ['blocks', 'attachments', 'files', 'metadata', 'view', 'file_uploads'];

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

function textObj(o: unknown, max: number, where: string, errors: string[], plainOnly = false): void {
  const t = o as { type?: unknown; text?: unknown } | undefined;
  if (!t || typeof t !== 'object') return void errors.push(`${where}: missing text object`);
  if (t.type !== 'plain_text' && t.type !== 'mrkdwn') return void errors.push(`${where}: bad text type`);
  if (plainOnly && t.type !== 'plain_text') errors.push(`${where}: must be plain_text`);
  if (typeof t.text !== 'string' || t.text.length === 0) return void errors.push(`${where}: must be more than 0 characters`);
  if (t.text.length > max) errors.push(`${where}: must be less than ${max + 1} characters`);
}

function element(e: unknown, where: string, errors: string[]): void {
  const el = e as Record<string, unknown>;
  if (!el || typeof el.type !== 'string') return void errors.push(`${where}: missing type`);
  if (el.action_id !== undefined && (typeof el.action_id !== 'string' || el.action_id.length > SLACK_LIMITS.actionId))
    errors.push(`${where}.action_id: too long`);
  if (el.type === 'button') {
    textObj(el.text, SLACK_LIMITS.buttonText, `${where}.text`, errors, true);
    if (el.value !== undefined && (typeof el.value !== 'string' || el.value.length > SLACK_LIMITS.buttonValue))
      errors.push(`${where}.value: must be less than ${SLACK_LIMITS.buttonValue + 1} characters`);
    if (el.url !== undefined && (typeof el.url !== 'string' || el.url.length > SLACK_LIMITS.buttonUrl))
      errors.push(`${where}.url: must be less than ${SLACK_LIMITS.buttonUrl + 1} characters`);
  }
}

/** Block Kit validation as Slack does it for messages; returns the problems (empty when valid). */
export function validateBlocks(blocks: unknown): string[] {
  const errors: string[] = [];
  if (!Array.isArray(blocks)) return ['blocks: must be an array'];
  if (blocks.length > SLACK_LIMITS.blocks) errors.push(`blocks: must be at most ${SLACK_LIMITS.blocks} items`);
  const ids = new Set<string>();
  blocks.forEach((raw, i) => {
    const b = raw as Record<string, unknown>;
    const at = `[${i}]`;
    if (!b || typeof b !== 'object' || typeof b.type !== 'string') return void errors.push(`${at}: missing type`);
    if (b.block_id !== undefined) {
      if (typeof b.block_id !== 'string' || b.block_id.length === 0 || b.block_id.length > SLACK_LIMITS.blockId) errors.push(`${at}.block_id: bad length`);
      else if (ids.has(b.block_id)) errors.push(`${at}.block_id: duplicate`);
      else ids.add(b.block_id);
    }
    switch (b.type) {
      case 'section':
        if (b.text === undefined && b.fields === undefined) errors.push(`${at}: section needs text or fields`);
        if (b.text !== undefined) textObj(b.text, SLACK_LIMITS.sectionText, `${at}.text`, errors);
        if (b.fields !== undefined) {
          if (!Array.isArray(b.fields) || b.fields.length === 0 || b.fields.length > SLACK_LIMITS.fields)
            errors.push(`${at}.fields: must be 1..${SLACK_LIMITS.fields} items`);
          else b.fields.forEach((f, j) => textObj(f, SLACK_LIMITS.fieldText, `${at}.fields[${j}]`, errors));
        }
        if (b.accessory !== undefined) element(b.accessory, `${at}.accessory`, errors);
        break;
      case 'header':
        textObj(b.text, SLACK_LIMITS.headerText, `${at}.text`, errors, true);
        break;
      case 'context':
        if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > SLACK_LIMITS.contextElements)
          errors.push(`${at}.elements: must be 1..${SLACK_LIMITS.contextElements} items`);
        else
          b.elements.forEach((e, j) => {
            const el = e as { type?: string };
            if (el?.type === 'image') return;
            textObj(e, SLACK_LIMITS.contextText, `${at}.elements[${j}]`, errors);
          });
        break;
      case 'actions':
        if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > SLACK_LIMITS.actionElements)
          errors.push(`${at}.elements: must be 1..${SLACK_LIMITS.actionElements} items`);
        else b.elements.forEach((e, j) => element(e, `${at}.elements[${j}]`, errors));
        break;
      case 'divider':
        break;
      case 'image':
        if (typeof b.image_url !== 'string' && b.slack_file === undefined) errors.push(`${at}: image needs image_url`);
        if (typeof b.alt_text !== 'string') errors.push(`${at}: image needs alt_text`);
        break;
      case 'rich_text':
      case 'markdown':
      case 'video':
      case 'file':
      case 'input':
        break;
      default:
        errors.push(`${at}: unknown block type ${b.type}`);
    }
  });
  return errors;
}

/**
 * What chat.postMessage / chat.update would answer for these arguments: an error code with
 * details, or undefined when Slack accepts them.
 */
export function checkMessage(
  args: { text?: unknown; blocks?: unknown; attachments?: unknown },
  requireContent = true,
): { error: string; errors?: string[] } | undefined {
  const text = typeof args.text === 'string' ? args.text : undefined;
  if (text !== undefined && text.length > SLACK_LIMITS.messageText) return { error: 'msg_too_long' };
  if (args.blocks !== undefined) {
    const errors = validateBlocks(args.blocks);
    if (errors.length > 0) return { error: 'invalid_blocks', errors };
    if (JSON.stringify(args.blocks).length > SLACK_LIMITS.blocksJson) return { error: 'msg_blocks_too_long' };
  }
  const hasBlocks = Array.isArray(args.blocks) && args.blocks.length > 0;
  const hasAttachments = Array.isArray(args.attachments) && args.attachments.length > 0;
  if (requireContent && !text && !hasBlocks && !hasAttachments) return { error: 'no_text' };
  return undefined;
}

/** The fake Slack. Start it with `FakeSlack.start()`, point WebClient's `slackApiUrl` at `url`, close it in afterAll. */
export class FakeSlack {
  readonly calls: FakeCall[] = [];
  readonly messages: FakeMessage[] = [];
  readonly uploads = new Map<string, FakeUpload>();
  readonly channels = new Map<string, FakeChannel>();
  readonly token: string;
  readonly botId: string;
  readonly userId: string;
  /** Tokens answered with token_revoked. */
  readonly revokedTokens = new Set<string>();
  /** The token's bot scopes; change it to take a scope away. */
  readonly scopes: Set<string>;
  /** conversations.list's page cap (see FakeSlackOptions.listPageMax). */
  listPageMax: number;
  /** What was POSTed to response URLs made by `responseUrl()` (interaction replies). */
  readonly responses: Array<{ id: string; body: unknown; time: number }> = [];
  /** Ephemeral messages (chat.postEphemeral): seen only by `user`, never in history. */
  readonly ephemeral: Array<{ channel: string; user: string; text?: string; blocks?: unknown[]; thread_ts?: string; message_ts: string }> = [];
  origin = '';
  private readonly handlers = new Map<string, FakeHandler>();
  private readonly failures = new Map<string, Failure[]>();
  private readonly lostAnswers = new Map<string, Failure[]>();
  private readonly failWindows: Array<{ method: string; until: number; failure: Failure }> = [];
  private readonly holds = new Map<string, Array<{ arrived: () => void; released: Promise<void> }>>();
  private seq = 0;
  private fileSeq = 0;

  private constructor(
    private readonly app: FastifyInstance,
    opts: FakeSlackOptions,
  ) {
    this.token = opts.token ?? 'xoxb-fake-test-token';
    this.botId = opts.botId ?? 'B0PAGEFIRST';
    this.userId = opts.userId ?? 'U0PAGEFIRST';
    this.scopes = new Set(opts.scopes ?? FAKE_ALL_SCOPES);
    this.listPageMax = opts.listPageMax ?? Infinity;
    for (const c of opts.channels ?? [
      { id: 'C0ALERTS', name: 'alerts' },
      { id: 'C0INCIDENT', name: 'incidents' },
    ])
      this.addChannel(c.id, c);
    this.installDefaultHandlers();
  }

  /** Starts the server on 127.0.0.1 and a free port. */
  static async start(opts: FakeSlackOptions = {}): Promise<FakeSlack> {
    const app = Fastify({ logger: false, bodyLimit: 20 * 1024 * 1024 });
    const fake = new FakeSlack(app, opts);
    await app.register(formbody);
    app.addContentTypeParser(['multipart/form-data', 'application/octet-stream', 'image/png'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    app.all('/api/:method', async (req, reply) => {
      const method = (req.params as { method: string }).method;
      const raw = {
        ...((req.query as Record<string, unknown>) ?? {}),
        ...((req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body) ? req.body : {}) as Record<string, unknown>),
      };
      const args = fake.parseArgs(raw);
      const { status, body, headers } = await fake.dispatch(method, args, req.headers);
      for (const [k, v] of Object.entries(headers)) reply.header(k, v);
      return reply.code(status).send(body);
    });
    app.post('/response/:id', async (req, reply) => {
      const id = (req.params as { id: string }).id;
      fake.responses.push({ id, body: req.body, time: Date.now() });
      fake.calls.push({ method: 'response_url', args: { id, body: req.body }, time: Date.now(), status: 200, ok: true });
      return reply.code(200).send('ok');
    });
    app.post('/upload/:id', async (req, reply) => {
      const id = (req.params as { id: string }).id;
      fake.calls.push({ method: 'upload', args: { id, contentType: req.headers['content-type'] }, time: Date.now(), status: 200, ok: true });
      const up = fake.uploads.get(id);
      if (!up) return reply.code(404).send('not found');
      up.bytes = await fileBytes(req.body as Buffer | undefined, String(req.headers['content-type'] ?? ''));
      return reply.code(200).send(`OK - ${up.bytes.length}`);
    });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    fake.origin = address;
    return fake;
  }

  /** The base URL for WebClient's `slackApiUrl` (ends with `/api/`). */
  get url(): string {
    return `${this.origin}/api/`;
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  /**
   * Adds (or replaces) a channel. `member: false` makes posting to a public channel answer
   * not_in_channel and a private one invisible; `archived` refuses posts; `private` needs groups:* scopes.
   */
  addChannel(id: string, c: Partial<FakeChannel> = {}): FakeChannel {
    const ch = { id, name: c.name ?? id.toLowerCase(), member: c.member ?? true, archived: c.archived ?? false, private: c.private ?? false };
    this.channels.set(id, ch);
    return ch;
  }

  /** Archives a channel, as a workspace admin would. */
  archive(id: string): void {
    const ch = this.channels.get(id);
    if (!ch) throw new Error(`no channel ${id}`);
    ch.archived = true;
  }

  /**
   * Removes a message as a person's delete or the workspace's retention does: it is gone from
   * history, replies to it answer thread_not_found and edits message_not_found. Its replies stay.
   */
  deleteMessage(channel: string, ts: string): void {
    const i = this.messages.findIndex((m) => m.channel === channel && m.ts === ts);
    if (i < 0) throw new Error(`no message ${channel}/${ts}`);
    this.messages.splice(i, 1);
  }

  /** Adds or replaces a method's implementation (for entry points: chat.postEphemeral, views.open, …). */
  handle(method: string, handler: FakeHandler): void {
    this.handlers.set(method, handler);
  }

  /** The next `n` calls of `method` ('*' for any) fail with `failure` (e.g. `{status: 429, retryAfter: 1}` or `{status: 500}`). */
  failNext(method: string, n: number, failure: Failure): void {
    const list = this.failures.get(method) ?? [];
    for (let i = 0; i < n; i++) list.push(failure);
    this.failures.set(method, list);
  }

  /**
   * The next `n` calls of `method` do what they ask (a message is posted) but answer with
   * `failure`, as when Slack's answer is lost to a timeout or a proxy error.
   */
  failAfter(method: string, n: number, failure: Failure): void {
    const list = this.lostAnswers.get(method) ?? [];
    for (let i = 0; i < n; i++) list.push(failure);
    this.lostAnswers.set(method, list);
  }

  /** Calls of `method` ('*' for any) fail with `failure` for the next `ms` milliseconds. */
  failFor(method: string, ms: number, failure: Failure): void {
    this.failWindows.push({ method, until: Date.now() + ms, failure });
  }

  /**
   * The next call of `method` is answered only once `release()` is called, as a slow Slack
   * answers late; `reached` resolves when that call has arrived (the caller is waiting on it).
   */
  hold(method: string): { reached: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((r) => (arrived = r));
    const released = new Promise<void>((r) => (release = r));
    const list = this.holds.get(method) ?? [];
    list.push({ arrived, released });
    this.holds.set(method, list);
    return { reached, release };
  }

  /** A response_url for an interaction payload; what is POSTed to it lands in `responses`. */
  responseUrl(id = `R${++this.seq}`): string {
    return `${this.origin}/response/${id}`;
  }

  /** A fresh, increasing message ts ("1764224716.000123"). */
  nextTs(at = Date.now()): string {
    this.seq++;
    return `${Math.floor(at / 1000)}.${String(this.seq).padStart(6, '0')}`;
  }

  /** Puts a message into a channel as if someone else had posted it. */
  seedMessage(channel: string, msg: Partial<FakeMessage> = {}): FakeMessage {
    const m: FakeMessage = { type: 'message', channel, ts: msg.ts ?? this.nextTs(), ...msg };
    this.messages.push(m);
    return m;
  }

  /**
   * Seeds the page Alertmanager's Slack receiver posts: a bot message whose attachment title is
   * `[FIRING:1] <group label values> (<other common label values>)` and whose text lists the labels.
   */
  seedAlertmanagerPage(
    channel: string,
    page: { groupLabels: Record<string, string>; labels: Record<string, string>; status?: 'firing' | 'resolved'; summary?: string; at?: number },
  ): FakeMessage {
    const status = page.status ?? 'firing';
    const groupValues = Object.values(page.groupLabels).join(' ');
    const others = Object.entries(page.labels)
      .filter(([k]) => !(k in page.groupLabels))
      .map(([, v]) => v);
    const title = `[${status === 'firing' ? 'FIRING:1' : 'RESOLVED'}] ${groupValues}${others.length ? ` (${others.join(' ')})` : ''}`;
    const text = [
      `*Alert:* ${page.summary ?? page.labels.alertname ?? ''}`,
      '*Details:*',
      ...Object.entries(page.labels).map(([k, v]) => ` • *${k}:* \`${escapeEntities(v)}\``),
    ].join('\n');
    return this.seedMessage(channel, {
      ...(page.at !== undefined ? { ts: this.nextTs(page.at) } : {}),
      subtype: 'bot_message',
      bot_id: 'B0ALERTMANAGER',
      username: 'Alertmanager',
      text: '',
      attachments: [
        {
          id: 1,
          color: status === 'firing' ? 'danger' : 'good',
          title,
          title_link: 'http://alertmanager.example/#/alerts',
          text,
          fallback: `${title} | http://alertmanager.example/#/alerts`,
          mrkdwn_in: ['text'],
        },
      ],
    });
  }

  /** Recorded calls of one method (all with no argument). */
  callsOf(method?: string): FakeCall[] {
    return method ? this.calls.filter((c) => c.method === method) : this.calls;
  }

  /** Top-level messages of a channel, oldest first. */
  topLevel(channel: string): FakeMessage[] {
    return this.messages.filter((m) => m.channel === channel && (!m.thread_ts || m.thread_ts === m.ts)).sort((a, b) => Number(a.ts) - Number(b.ts));
  }

  /** Replies in a thread (without its parent), oldest first. */
  replies(channel: string, ts: string): FakeMessage[] {
    return this.messages.filter((m) => m.channel === channel && m.thread_ts === ts && m.ts !== ts).sort((a, b) => Number(a.ts) - Number(b.ts));
  }

  find(channel: string, ts: string): FakeMessage | undefined {
    return this.messages.find((m) => m.channel === channel && m.ts === ts);
  }

  private parseArgs(raw: Record<string, unknown>): Record<string, unknown> {
    const args: Record<string, unknown> = { ...raw };
    for (const k of JSON_FIELDS) {
      const v = args[k];
      if (typeof v === 'string' && /^\s*[[{]/.test(v)) {
        try {
          args[k] = JSON.parse(v);
        } catch {
          args[k] = { __invalid_json: v };
        }
      }
    }
    return args;
  }

  private takeFailure(method: string): Failure | undefined {
    const now = Date.now();
    for (const w of this.failWindows) if ((w.method === method || w.method === '*') && w.until > now) return w.failure;
    for (const key of [method, '*']) {
      const list = this.failures.get(key);
      if (list && list.length > 0) return list.shift();
    }
    return undefined;
  }

  private async dispatch(
    method: string,
    args: Record<string, unknown>,
    headers: Record<string, string | string[] | undefined>,
  ): Promise<{ status: number; body: unknown; headers: Record<string, string> }> {
    const held = this.holds.get(method)?.shift();
    if (held) {
      held.arrived();
      await held.released;
    }
    const time = Date.now();
    const recorded = { ...args };
    delete recorded.token;
    const record = (status: number, ok: boolean, error?: string) => this.calls.push({ method, args: recorded, time, status, ok, ...(error ? { error } : {}) });
    const failure = this.takeFailure(method);
    if (failure) {
      record(failure.status, false, failure.error ?? (failure.status === 429 ? 'ratelimited' : `http_${failure.status}`));
      if (failure.status === 429)
        return { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(failure.retryAfter ?? 1) } };
      if (failure.status === 200) return { status: 200, body: { ok: false, error: failure.error ?? 'internal_error' }, headers: {} };
      return { status: failure.status, body: 'upstream error', headers: { 'content-type': 'text/plain' } };
    }
    const auth = typeof headers.authorization === 'string' ? headers.authorization.replace(/^Bearer\s+/i, '') : undefined;
    const token = auth || str(args.token);
    const fail = (error: string, extra: Record<string, unknown> = {}) => {
      record(200, false, error);
      return { status: 200, body: { ok: false, error, ...extra }, headers: {} };
    };
    if (!token) return fail('not_authed');
    if (this.revokedTokens.has(token)) return fail('token_revoked');
    if (token !== this.token) return fail('invalid_auth');
    const handler = this.handlers.get(method);
    if (!handler) return fail('unknown_method');
    try {
      const body = await handler(args, { fake: this, token, headers });
      const lost = this.lostAnswers.get(method)?.shift();
      if (lost) {
        record(lost.status, false, `answer lost (${lost.status}) after the call took effect`);
        if (lost.status === 200) return { status: 200, body: { ok: false, error: lost.error ?? 'internal_error' }, headers: {} };
        return { status: lost.status, body: 'upstream error', headers: { 'content-type': 'text/plain' } };
      }
      record(200, true);
      return { status: 200, body: { ok: true, ...body }, headers: {} };
    } catch (e) {
      if (e instanceof SlackFakeError) return fail(e.code, e.extra);
      throw e;
    }
  }

  /**
   * The channel `id` names, as a method sees it: channel_not_found for an unknown id, for a name
   * unless `byName` (chat.postMessage, chat.postEphemeral), and for a private channel the bot is
   * not in; with `post` or `read` a public channel it is not in answers not_in_channel; with `post`
   * an archived one answers is_archived. `scope` (a method's FAKE_METHOD_SCOPES entry) is checked
   * once the channel's kind is known.
   */
  channel(id: unknown, opts: { post?: boolean; read?: boolean; byName?: boolean; scope?: string | { public: string; private: string } } = {}): FakeChannel {
    let ch = typeof id === 'string' ? this.channels.get(id) : undefined;
    if (!ch && opts.byName && typeof id === 'string') {
      const name = id.replace(/^#/, '');
      ch = [...this.channels.values()].find((c) => c.name === name);
    }
    if (!ch || (ch.private && !ch.member)) throw new SlackFakeError('channel_not_found');
    if (opts.scope) this.requireScope(typeof opts.scope === 'string' ? opts.scope : ch.private ? opts.scope.private : opts.scope.public);
    if ((opts.post || opts.read) && !ch.member) throw new SlackFakeError('not_in_channel');
    if (opts.post && ch.archived) throw new SlackFakeError('is_archived');
    return ch;
  }

  /** Throws missing_scope (with Slack's `needed` and `provided`) unless the token has `scope`. */
  requireScope(scope: string): void {
    if (!this.scopes.has(scope)) throw new SlackFakeError('missing_scope', { needed: scope, provided: [...this.scopes].join(',') });
  }

  private installDefaultHandlers(): void {
    this.handle('auth.test', () => ({ url: `${this.origin}/`, team: 'Test', user: 'pagefirst', team_id: 'T0TEST', user_id: this.userId, bot_id: this.botId }));

    this.handle('chat.postMessage', (args) => {
      const ch = this.channel(args.channel, { post: true, byName: true, scope: FAKE_METHOD_SCOPES['chat.postMessage'] });
      const bad = checkMessage(args);
      if (bad) throw new SlackFakeError(bad.error, bad.errors ? { errors: bad.errors } : {});
      const threadTs = str(args.thread_ts);
      if (threadTs) {
        // ⚠ chat.postMessage's reference does not list thread_not_found; Slack answers it for a reply to a
        // deleted parent (fixtures/field/14; Slack's engineers in slackapi/bolt-js#2307).
        const parent = this.find(ch.id, threadTs);
        if (!parent) throw new SlackFakeError('thread_not_found');
        parent.reply_count = (parent.reply_count ?? 0) + 1;
        parent.thread_ts = parent.ts;
      }
      const m = this.seedMessage(ch.id, {
        text: str(args.text) ?? '',
        ...(Array.isArray(args.blocks) ? { blocks: args.blocks } : {}),
        ...(Array.isArray(args.attachments) ? { attachments: args.attachments } : {}),
        ...(threadTs ? { thread_ts: threadTs } : {}),
        user: this.userId,
        bot_id: this.botId,
      });
      return { channel: ch.id, ts: m.ts, message: m };
    });

    this.handle('chat.postEphemeral', (args) => {
      const ch = this.channel(args.channel, { post: true, byName: true, scope: FAKE_METHOD_SCOPES['chat.postEphemeral'] });
      const user = str(args.user);
      if (!user) throw new SlackFakeError('user_not_in_channel');
      const bad = checkMessage(args);
      if (bad) throw new SlackFakeError(bad.error, bad.errors ? { errors: bad.errors } : {});
      const message_ts = this.nextTs();
      this.ephemeral.push({
        channel: ch.id,
        user,
        message_ts,
        ...(str(args.text) !== undefined ? { text: str(args.text) } : {}),
        ...(Array.isArray(args.blocks) ? { blocks: args.blocks } : {}),
        ...(str(args.thread_ts) ? { thread_ts: str(args.thread_ts) } : {}),
      });
      return { message_ts };
    });

    this.handle('chat.update', (args) => {
      // chat.update documents no not_in_channel; an archived channel is is_inactive ("cannot be edited
      // within a frozen, archived or deleted channel").
      const ch = this.channel(args.channel, { scope: FAKE_METHOD_SCOPES['chat.update'] });
      if (ch.archived) throw new SlackFakeError('is_inactive');
      const m = this.find(ch.id, str(args.ts) ?? '');
      if (!m) throw new SlackFakeError('message_not_found');
      if (m.bot_id !== this.botId) throw new SlackFakeError('cant_update_message');
      const bad = checkMessage(args, false);
      if (bad) throw new SlackFakeError(bad.error, bad.errors ? { errors: bad.errors } : {});
      if (args.text !== undefined) m.text = str(args.text) ?? '';
      if (Array.isArray(args.blocks)) m.blocks = args.blocks;
      m.edited = { user: this.userId, ts: this.nextTs() };
      return { channel: ch.id, ts: m.ts, text: m.text, message: m };
    });

    this.handle('chat.delete', (args) => {
      const ch = this.channel(args.channel, { scope: FAKE_METHOD_SCOPES['chat.delete'] });
      const i = this.messages.findIndex((m) => m.channel === ch.id && m.ts === str(args.ts));
      if (i < 0) throw new SlackFakeError('message_not_found');
      if (this.messages[i]!.bot_id !== this.botId) throw new SlackFakeError('cant_delete_message');
      this.messages.splice(i, 1);
      return { channel: ch.id, ts: str(args.ts) };
    });

    this.handle('chat.getPermalink', (args) => {
      const ch = this.channel(args.channel);
      const m = this.find(ch.id, str(args.message_ts) ?? '');
      if (!m) throw new SlackFakeError('message_not_found');
      const base = `${this.origin}/archives/${ch.id}/p${m.ts.replace('.', '')}`;
      return { channel: ch.id, permalink: m.thread_ts && m.thread_ts !== m.ts ? `${base}?thread_ts=${m.thread_ts}&cid=${ch.id}` : base };
    });

    this.handle('conversations.history', (args) => {
      const ch = this.channel(args.channel, { read: true, scope: FAKE_METHOD_SCOPES['conversations.history'] });
      const oldest = Number(str(args.oldest) ?? 0);
      const latest = args.latest !== undefined ? Number(str(args.latest)) : Infinity;
      const inclusive = args.inclusive === true || args.inclusive === 'true' || args.inclusive === '1';
      const limit = Math.min(999, Math.max(1, Number(str(args.limit) ?? 100)));
      const all = this.topLevel(ch.id)
        .filter((m) => (inclusive ? Number(m.ts) >= oldest && Number(m.ts) <= latest : Number(m.ts) > oldest && Number(m.ts) < latest))
        .reverse();
      const offset = args.cursor
        ? Number(
            Buffer.from(str(args.cursor) ?? '', 'base64')
              .toString('utf8')
              .replace('offset:', ''),
          )
        : 0;
      const page = all.slice(offset, offset + limit);
      const more = offset + limit < all.length;
      return { messages: page, has_more: more, response_metadata: { next_cursor: more ? Buffer.from(`offset:${offset + limit}`).toString('base64') : '' } };
    });

    this.handle('conversations.replies', (args) => {
      // ⚠ conversations.replies documents no not_in_channel; the fake answers it as history does.
      const ch = this.channel(args.channel, { read: true, scope: FAKE_METHOD_SCOPES['conversations.replies'] });
      const parent = this.find(ch.id, str(args.ts) ?? '');
      if (!parent) throw new SlackFakeError('thread_not_found');
      return { messages: [parent, ...this.replies(ch.id, parent.ts)], has_more: false };
    });

    this.handle('conversations.list', (args) => {
      const types = (str(args.types) ?? 'public_channel').split(',').map((t) => t.trim());
      const known = ['public_channel', 'private_channel', 'mpim', 'im'];
      if (types.some((t) => !known.includes(t))) throw new SlackFakeError('invalid_types');
      if (types.includes('public_channel')) this.requireScope('channels:read');
      if (types.includes('private_channel')) this.requireScope('groups:read');
      const limit = args.limit === undefined ? 100 : Number(str(args.limit));
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new SlackFakeError('invalid_limit');
      const excludeArchived = flagArg(args.exclude_archived);
      const all = [...this.channels.values()]
        .filter((c) => (c.private ? types.includes('private_channel') && c.member : types.includes('public_channel')))
        .filter((c) => !(excludeArchived && c.archived))
        .sort((a, b) => a.id.localeCompare(b.id));
      let offset = 0;
      const cursor = str(args.cursor);
      if (cursor) {
        const m = /^list:(\d+)$/.exec(Buffer.from(cursor, 'base64').toString('utf8'));
        if (!m) throw new SlackFakeError('invalid_cursor');
        offset = Number(m[1]);
      }
      const page = all.slice(offset, offset + Math.min(limit, this.listPageMax));
      const next = offset + page.length < all.length ? Buffer.from(`list:${offset + page.length}`).toString('base64') : '';
      return { channels: page.map((c) => channelObject(c)), response_metadata: { next_cursor: next } };
    });

    this.handle('conversations.join', (args) => {
      const ch = this.channel(args.channel, { scope: FAKE_METHOD_SCOPES['conversations.join'] });
      if (ch.private) throw new SlackFakeError('method_not_supported_for_channel_type');
      if (ch.archived) throw new SlackFakeError('is_archived');
      const already = ch.member;
      ch.member = true;
      return {
        channel: channelObject(ch),
        ...(already ? { warning: 'already_in_channel', response_metadata: { warnings: ['already_in_channel'] } } : {}),
      };
    });

    this.handle('files.getUploadURLExternal', (args) => {
      this.requireScope('files:write');
      const filename = str(args.filename);
      const length = Number(str(args.length));
      if (!filename || !Number.isInteger(length) || length <= 0) throw new SlackFakeError('invalid_arguments');
      const id = `F${String(++this.fileSeq).padStart(8, '0')}`;
      this.uploads.set(id, { id, filename, length, ...(str(args.alt_text) ? { altText: str(args.alt_text) } : {}), completed: false });
      return { upload_url: `${this.origin}/upload/${id}`, file_id: id };
    });

    this.handle('files.completeUploadExternal', (args) => {
      this.requireScope('files:write');
      const files = args.files as Array<{ id?: string; title?: string }> | undefined;
      if (!Array.isArray(files) || files.length === 0) throw new SlackFakeError('invalid_arguments');
      const ups = files.map((f) => {
        const up = f.id ? this.uploads.get(f.id) : undefined;
        if (!up || !up.bytes) throw new SlackFakeError('file_not_found');
        return { up, title: f.title };
      });
      const channel = str(args.channel_id);
      const threadTs = str(args.thread_ts);
      if (channel) {
        // ⚠ which code an archived channel_id gets is not documented: invalid_channel ("channel specified is invalid") is.
        const ch = this.channel(channel, { read: true });
        if (ch.archived) throw new SlackFakeError('invalid_channel');
        if (threadTs && !this.find(ch.id, threadTs)) throw new SlackFakeError('thread_not_found');
        this.seedMessage(ch.id, {
          text: str(args.initial_comment) ?? '',
          files: ups.map(({ up, title }) => ({ id: up.id, name: up.filename, ...(title ? { title } : {}) })),
          ...(threadTs ? { thread_ts: threadTs } : {}),
          user: this.userId,
          bot_id: this.botId,
        });
      }
      for (const { up, title } of ups)
        Object.assign(up, { completed: true, ...(channel ? { channel } : {}), ...(threadTs ? { threadTs } : {}), ...(title ? { title } : {}) });
      return { files: ups.map(({ up }) => ({ id: up.id, name: up.filename, title: up.title ?? up.filename })) };
    });
  }
}

/** A boolean argument as Slack reads it from a form or JSON body. */
function flagArg(v: unknown): boolean {
  return v === true || v === 'true' || v === '1' || v === 1;
}

/** A conversation object (the fields conversations.list and .join return that we model). */
function channelObject(c: FakeChannel): Record<string, unknown> {
  return { id: c.id, name: c.name, name_normalized: c.name, is_channel: true, is_private: c.private, is_archived: c.archived, is_member: c.member };
}

function escapeEntities(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The file's bytes from an upload body: the first file part of multipart/form-data, else the raw body. */
async function fileBytes(body: Buffer | undefined, contentType: string): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  if (!contentType.startsWith('multipart/form-data')) return body;
  const form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  for (const [, v] of form.entries()) if (typeof v !== 'string') return Buffer.from(await v.arrayBuffer());
  const first = [...form.values()][0];
  return Buffer.from(typeof first === 'string' ? first : '');
}

/** Every mrkdwn string of a message and its fallback text: where Slack renders mentions and entities (plain_text renders none). */
export function mrkdwnTexts(msg: { text: string; blocks: unknown[] }): string[] {
  const out = [msg.text];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (o.type === 'mrkdwn' && typeof o.text === 'string') out.push(o.text);
      else Object.values(o).forEach(walk);
    }
  };
  walk(msg.blocks);
  return out;
}
