import { ConfigError, parseConfig } from '../../../src/config';
import { isTimeZone, parseLeadingTimestamp, zonedWallTimeToEpochMs } from '../../../src/sources/logs/time';
import { splitLeadingTimestamp } from '../../../src/sources/logs/types';

const iso = (ms: number) => new Date(ms).toISOString();

describe('zone-less timestamps follow the configured zone', () => {
  test('UTC by default; an IANA zone with its summer and winter offsets', () => {
    expect(iso(parseLeadingTimestamp('2024-05-14 11:12:02.118 INFO x', 'UTC')!.ms)).toBe('2024-05-14T11:12:02.118Z');
    expect(iso(parseLeadingTimestamp('2024-05-14 11:12:02.118 INFO x', 'Europe/Berlin')!.ms)).toBe('2024-05-14T09:12:02.118Z');
    expect(iso(parseLeadingTimestamp('2024-01-14 11:12:02,118 INFO x', 'Europe/Berlin')!.ms)).toBe('2024-01-14T10:12:02.118Z');
    expect(iso(parseLeadingTimestamp('2024-05-14T11:12:02 x', 'America/New_York')!.ms)).toBe('2024-05-14T15:12:02.000Z');
    expect(iso(parseLeadingTimestamp('2024-05-14T11:12:02 x', 'Asia/Kolkata')!.ms)).toBe('2024-05-14T05:42:02.000Z');
    expect(iso(parseLeadingTimestamp('2024-05-14T11:12:02 x', '+02:00')!.ms)).toBe('2024-05-14T09:12:02.000Z');
  });

  test('a timestamp with a zone ignores the configured one', () => {
    for (const [text, want] of [
      ['2024-05-14T11:12:02.118Z x', '2024-05-14T11:12:02.118Z'],
      ['2024-05-14T11:12:02.118+02:00 x', '2024-05-14T09:12:02.118Z'],
      ['2024-05-14 11:12:02,250 +0100 WARN x', '2024-05-14T10:12:02.250Z'],
      ['2024-05-14T11:12:02.123456789-05:00 x', '2024-05-14T16:12:02.123Z'],
    ] as const) {
      const t = parseLeadingTimestamp(text, 'Asia/Tokyo')!;
      expect(iso(t.ms)).toBe(want);
      expect(t.zoned).toBe(true);
    }
  });

  test('daylight saving: a wall time that happens twice is the first; one that never happens lands after the change', () => {
    // Europe/Berlin, 2024-10-27: 02:30 happens at 00:30Z (CEST) and at 01:30Z (CET)
    expect(iso(zonedWallTimeToEpochMs(Date.UTC(2024, 9, 27, 2, 30), 'Europe/Berlin'))).toBe('2024-10-27T00:30:00.000Z');
    // 2024-03-31: 02:30 does not exist (02:00 CET became 03:00 CEST at 01:00Z)
    expect(iso(zonedWallTimeToEpochMs(Date.UTC(2024, 2, 31, 2, 30), 'Europe/Berlin'))).toBe('2024-03-31T01:30:00.000Z');
  });

  test('not timestamps: none read, nothing thrown', () => {
    for (const t of ['INFO x', '2024-13-01 00:00:00 x', '2024-02-31 00:00:00 x', '2024-05-14 25:00:00 x', '', '\u0000\uFFFD'])
      expect(parseLeadingTimestamp(t, 'UTC')).toBeNull();
  });

  test('splitLeadingTimestamp reports the zone-less ones and cuts the timestamp and one space', () => {
    expect(splitLeadingTimestamp('2024-05-14 11:12:02.118  WARN 1 --- x', 'Europe/Berlin')).toEqual({
      time: '2024-05-14T09:12:02.118Z',
      rest: ' WARN 1 --- x',
      zoneless: true,
    });
    expect(splitLeadingTimestamp('2026-11-27T06:50:01.123456789Z INFO x')).toEqual({ time: '2026-11-27T06:50:01.123Z', rest: 'INFO x', zoneless: false });
  });

  test('isTimeZone knows IANA names, UTC and offsets, and nothing else', () => {
    for (const z of ['UTC', 'Europe/Berlin', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5', '+02:00']) expect(isTimeZone(z)).toBe(true);
    for (const z of ['Europe/Atlantis', 'CEST', 'utc+2', '', ' ']) expect(isTimeZone(z)).toBe(false);
  });
});

describe('sources.logs[] keys at load', () => {
  const issues = (entry: Record<string, unknown>): string[] => {
    try {
      parseConfig({ sources: { logs: [{ name: 'app', file: { path: '/var/log/app.log' }, ...entry }] } }, {});
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
      throw e;
    }
  };

  test('timezone: default UTC, a known zone accepted, an unknown one refused with its path', () => {
    const c = parseConfig({ sources: { logs: [{ name: 'app', file: { path: '/x' } }] } }, {});
    expect(c.sources.logs[0]!.timezone).toBe('UTC');
    expect(issues({ timezone: 'Europe/Berlin' })).toEqual([]);
    expect(issues({ timezone: 'Mars/Olympus_Mons' })).toEqual([expect.stringMatching(/^sources\.logs\.0\.timezone: must be a time zone/)]);
  });

  test('multiline.start: compiled at load', () => {
    expect(issues({ multiline: { start: '^\\d{4}-' } })).toEqual([]);
    expect(issues({ multiline: { start: '^(unclosed' } })).toEqual([
      expect.stringMatching(/^sources\.logs\.0\.multiline\.start: must be a valid regular expression/),
    ]);
    expect(issues({ multiline: { begin: 'x' } })).toHaveLength(1);
  });
});
