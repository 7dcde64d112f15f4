import type { Classification } from './classify';
import type { LogEvent } from './events';
import { applicationFrame, type CodeLocation } from './frames';
import type { StructuredLine } from './structured';

/**
 * A pool's leak-detection warning read as evidence: which pool said it, on which thread, and the
 * place in the application's code that took the connection. HikariCP (ProxyLeakTask), Tomcat's
 * JDBC pool (logAbandoned) and DBCP2 (logAbandoned, commons-pool2's borrowedBy) print the stack
 * captured when the connection was borrowed, so its first application frame is where the
 * connection was checked out and not returned. SQLAlchemy's garbage-collector warning is written
 * when the connection object is collected, with no stack of its checkout: it names no location.
 */

export interface LeakWarning {
  /** The signature row that recognised it (`hikaricp-leak`, ...). */
  signature: string;
  library: string;
  /** The thread that borrowed the connection, where the warning names it. */
  thread: string | null;
  /** The pool's name for the connection (`org.postgresql.jdbc.PgConnection@1b2c3d4e`). */
  connection: string | null;
  /** The first application frame of the checkout stack; null where the warning carries no stack or only framework frames. */
  location: CodeLocation | null;
  /** Why `location` is null, in a sentence; null when there is one. */
  noLocation: string | null;
}

const HIKARI = /Connection leak detection triggered for (.{1,300}?)(?: on thread (.+?))?, stack trace follows/;

/**
 * The leak warning `event` is, given its classification (null unless the class is
 * `leak_warning`). `structured` is the event's JSON reading, whose error frames count too.
 */
export function leakWarning(event: LogEvent, classification: Classification | null, structured: StructuredLine | null = null): LeakWarning | null {
  if (classification?.class !== 'leak_warning') return null;
  const text = [structured?.message ?? event.head, ...event.messages].join('\n');
  const hikari = HIKARI.exec(text);
  const frames = event.frames.length > 0 ? event.frames : (structured?.error?.frames ?? []);
  const location = applicationFrame(frames);
  let noLocation: string | null = null;
  if (!location) {
    if (classification.signature === 'sqlalchemy-gc-connection')
      noLocation = 'SQLAlchemy writes this when the garbage collector finds the connection, without the stack that checked it out';
    else if (frames.length === 0) noLocation = 'the warning came without its stack trace';
    else noLocation = `none of its ${frames.length} frames is the application's own (all are runtime, pool or framework frames)`;
  }
  return {
    signature: classification.signature,
    library: classification.library,
    thread: hikari?.[2] ?? null,
    connection: hikari?.[1] ?? null,
    location,
    noLocation,
  };
}
