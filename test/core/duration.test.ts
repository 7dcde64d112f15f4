import { formatDuration } from '../../src/core/duration';

test('one way to write a duration: precision falls as it grows', () => {
  expect(
    [
      0,
      850,
      999.6,
      4_200,
      9_949,
      9_950,
      42_000,
      59_499,
      59_500,
      95_000,
      3_599_000,
      3_600_000,
      7_380_000,
      47 * 3_600_000 + 59 * 60_000,
      48 * 3_600_000,
      76 * 3_600_000,
    ].map(formatDuration),
  ).toEqual([
    '0 ms',
    '850 ms',
    '1.0 s',
    '4.2 s',
    '9.9 s',
    '10 s',
    '42 s',
    '59 s',
    '1m 00s',
    '1m 35s',
    '59m 59s',
    '1h 00m',
    '2h 03m',
    '47h 59m',
    '2d 00h',
    '3d 04h',
  ]);
});

test('what is not a duration is "unknown", never NaN or a negative time', () => {
  expect([-1, Number.NaN, Number.POSITIVE_INFINITY].map(formatDuration)).toEqual(['unknown', 'unknown', 'unknown']);
});
