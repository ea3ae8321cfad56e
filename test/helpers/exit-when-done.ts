/**
 * node-opcua occasionally keeps a timer or socket alive after every client, session and server was closed
 * (seen under load: the test process then idles until tap's file timeout kills it, though every assertion
 * passed). Once the file's tests are done, give it two seconds to exit by itself, then exit with the status
 * tap already decided. The timer is unref'd, so it never keeps a healthy process alive.
 */
import type { Test } from 'tap';

export function exitWhenDone(t: Test): void {
  t.teardown(() => {
    setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
  });
}
