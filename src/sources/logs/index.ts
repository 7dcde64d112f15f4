import type { LogSource } from '../config';
import { createDockerLogReader } from './docker';
import { createFileLogReader } from './file';
import { createKubernetesLogReader } from './kubernetes';
import { createLokiLogReader } from './loki';
import type { LogReader } from './types';

export type { LogLine, LogReader, LogReadResult, LogReadOptions } from './types';
export { LogSourceError } from './types';

/** The reader for one `sources.logs[]` entry (docker, file, loki or kubernetes). Readers hold no connection. */
export function createLogReader(source: LogSource): LogReader {
  if ('docker' in source) return createDockerLogReader(source);
  if ('file' in source) return createFileLogReader(source);
  if ('kubernetes' in source) return createKubernetesLogReader(source);
  return createLokiLogReader(source);
}
