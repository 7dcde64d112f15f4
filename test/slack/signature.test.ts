import { verifySlackSignature } from '../../src/slack/signature';

/** Slack's own example (docs.slack.dev "Verifying requests from Slack"): secret, timestamp, body and the signature Slack sent. */
const EXAMPLE = {
  secret: '8f742231b10e8888abcd99yyyzzz85a5',
  timestamp: '1531420618',
  body: 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
};
const at = Number(EXAMPLE.timestamp) * 1000;
const headers = { 'x-slack-request-timestamp': EXAMPLE.timestamp, 'x-slack-signature': EXAMPLE.signature };

describe('verifySlackSignature', () => {
  test("accepts Slack's documented example, within five minutes either way", () => {
    for (const skew of [0, 299_000, -299_000])
      expect(verifySlackSignature(EXAMPLE.secret, headers, Buffer.from(EXAMPLE.body), at + skew)).toEqual({ ok: true });
    expect(
      verifySlackSignature(
        EXAMPLE.secret,
        { ...headers, 'x-slack-signature': EXAMPLE.signature.toUpperCase().replace('V0=', 'v0=') },
        Buffer.from(EXAMPLE.body),
        at,
      ),
    ).toEqual({ ok: true });
  });

  test('refuses every change: body (each byte position tried), secret, timestamp, signature', () => {
    const body = Buffer.from(EXAMPLE.body);
    for (let i = 0; i < body.length; i += 7) {
      const b = Buffer.from(body);
      b[i]! ^= 0x20;
      expect(verifySlackSignature(EXAMPLE.secret, headers, b, at)).toEqual({ ok: false, reason: 'mismatch' });
    }
    expect(verifySlackSignature(EXAMPLE.secret, headers, Buffer.concat([body, Buffer.from(' ')]), at)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySlackSignature(`${EXAMPLE.secret}x`, headers, body, at)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySlackSignature(EXAMPLE.secret, { ...headers, 'x-slack-request-timestamp': '1531420619' }, body, at)).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(verifySlackSignature(EXAMPLE.secret, { ...headers, 'x-slack-signature': `${EXAMPLE.signature.slice(0, -1)}0` }, body, at)).toEqual({
      ok: false,
      reason: 'mismatch',
    });
  });

  test('old or future timestamps are replays; missing or malformed headers are refused', () => {
    const body = Buffer.from(EXAMPLE.body);
    expect(verifySlackSignature(EXAMPLE.secret, headers, body, at + 301_000)).toEqual({ ok: false, reason: 'replay' });
    expect(verifySlackSignature(EXAMPLE.secret, headers, body, at - 301_000)).toEqual({ ok: false, reason: 'replay' });
    expect(verifySlackSignature(EXAMPLE.secret, { 'x-slack-signature': EXAMPLE.signature }, body, at)).toEqual({ ok: false, reason: 'missing' });
    expect(verifySlackSignature(EXAMPLE.secret, { 'x-slack-request-timestamp': EXAMPLE.timestamp }, body, at)).toEqual({ ok: false, reason: 'missing' });
    for (const sig of ['v1=' + EXAMPLE.signature.slice(3), EXAMPLE.signature.slice(3), 'v0=zz', `${EXAMPLE.signature}00`]) {
      expect(verifySlackSignature(EXAMPLE.secret, { ...headers, 'x-slack-signature': sig }, body, at)).toEqual({ ok: false, reason: 'malformed' });
    }
    expect(verifySlackSignature(EXAMPLE.secret, { ...headers, 'x-slack-request-timestamp': '1531420618.5' }, body, at)).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });
});
