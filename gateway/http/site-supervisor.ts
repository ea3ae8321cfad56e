/**
 * `feederwatch run` with configuration reloads: watches the site file (and takes SIGHUP). When the edited
 * file is invalid, the gateway keeps running on the last valid configuration and /readyz answers 503 with
 * the file's problems; when it is valid again (and differs from what runs), the gateway is replaced: the
 * running one stopped (drivers, then sinks, state saved), a new one started on the new configuration. The
 * two never run at once (they may share the state folder). When the new one fails to start, the last valid
 * configuration is started again and /readyz stays 503 with the reason until an edit starts.
 * The HTTP server itself keeps its address: `http:` changes need a restart (said in the log).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { loadSiteConfig, SiteConfigError, formatIssue } from '../config/load-site.js';
import type { SiteConfig } from '../config/site-config.js';
import type { Logger } from '../log.js';
import type { GatewayView } from './gateway-view.js';
import type { StatusServer } from './server.js';

export interface SupervisedGateway extends GatewayView {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface SiteSupervisorOptions {
  file: string;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Builds a gateway for a site (run.ts: `new Gateway(site, ...)`). */
  create(site: SiteConfig): SupervisedGateway;
  /** The HTTP server to keep informed, when there is one. */
  server: StatusServer | null;
  /** Quiet time after the last change to the file before it is read (editors write in several steps). */
  debounceMs?: number;
}

export class SiteSupervisor {
  private gateway: SupervisedGateway | null = null;
  private site: SiteConfig | null = null;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private started = false;
  private readonly onHup = (): void => {
    if (!this.started) {
      this.log.warn('SIGHUP during start: ignored (send it again once the gateway runs)');
      return;
    }
    this.log.info('SIGHUP: reloading the site file');
    void this.reload();
  };

  constructor(private readonly opts: SiteSupervisorOptions) {
    this.log = opts.logger.child({ module: 'reload' });
  }

  get current(): SupervisedGateway | null {
    return this.gateway;
  }

  /** Starts a gateway on an already validated site, then watches the file. */
  async start(site: SiteConfig): Promise<void> {
    // Taken before the first start: a SIGHUP's default action would end the process.
    process.on('SIGHUP', this.onHup);
    await this.startGateway(site);
    this.started = true;
    this.watchFile();
  }

  async stop(): Promise<void> {
    process.off('SIGHUP', this.onHup);
    this.watcher?.close();
    this.watcher = null;
    clearTimeout(this.timer);
    await this.queue;
    const gw = this.gateway;
    this.gateway = null;
    this.opts.server?.setRunning(false);
    await gw?.stop();
  }

  /** Reads the file again and applies it (queued: one reload at a time). */
  reload(): Promise<void> {
    this.queue = this.queue.then(() => this.reloadNow()).catch((err: unknown) => this.log.error('reload failed', { err }));
    return this.queue;
  }

  private watchFile(): void {
    const file = resolve(this.opts.file);
    const name = basename(file);
    try {
      // The folder, not the file: editors replace the file (rename), which ends a watch on the file itself.
      this.watcher = watch(dirname(file), (_event, changed) => {
        if (changed !== null && changed !== name) return;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.reload(), this.opts.debounceMs ?? 300);
      });
      this.watcher.on('error', (err) => this.log.warn('watching the site file failed; reload with SIGHUP', { err }));
    } catch (err) {
      this.log.warn('cannot watch the site file; reload with SIGHUP', { file, err });
    }
  }

  private async reloadNow(): Promise<void> {
    let site: SiteConfig;
    try {
      site = await loadSiteConfig(this.opts.file, this.opts.env);
    } catch (err) {
      if (!(err instanceof SiteConfigError)) throw err;
      this.opts.server?.setConfigErrors(err.issues);
      this.log.error('site file invalid: still running on the last valid configuration', {
        file: this.opts.file,
        issues: err.issues.map(formatIssue).join('; '),
      });
      return;
    }
    this.opts.server?.setConfigErrors([]);
    if (this.site !== null && JSON.stringify(site) === JSON.stringify(this.site) && this.gateway !== null) {
      this.log.info('site file valid and unchanged');
      // After a failed start the last valid configuration runs again: the file naming it is fine.
      this.opts.server?.setReloadError(null);
      return;
    }
    if (this.site !== null && JSON.stringify(site.http) !== JSON.stringify(this.site.http)) {
      this.log.warn('http settings changed: they apply at the next restart (the status page keeps its address)');
    }
    if (this.site !== null) this.warnStranded(this.site, site);
    this.log.info('site file changed: restarting the gateway on the new configuration', { file: this.opts.file });
    const old = this.gateway;
    const previous = this.site;
    this.gateway = null;
    this.opts.server?.setRunning(false);
    await old?.stop();
    const failure = await this.startGateway(site);
    if (failure === null || previous === null) return;
    // The new configuration is valid but its gateway does not start (a state folder it cannot open, say):
    // back to the last configuration that ran, still reported not ready until an edit starts.
    this.log.warn('starting the gateway again on the last valid configuration');
    if ((await this.startGateway(previous)) === null) this.opts.server?.setReloadError(`${failure}; running on the last valid configuration`);
  }

  /**
   * What the old gateway could not deliver stays in its outbox (docs/outbox.md): a reload that moves the state
   * folder or removes a sink leaves it behind. Said, since nothing else would show it.
   */
  private warnStranded(before: SiteConfig, after: SiteConfig): void {
    const dirBefore = before.persistence?.stateDir;
    if (dirBefore !== undefined && dirBefore !== after.persistence?.stateDir) {
      this.log.warn('persistence.stateDir changed: what the old state folder holds undelivered stays there (not moved)', { from: dirBefore, to: after.persistence?.stateDir ?? 'none' });
    }
    const removed = (['mqtt', 'influx'] as const).filter((sink) => before[sink] !== undefined && after[sink] === undefined);
    if (removed.length > 0) this.log.warn('sinks removed: what was not yet delivered to them is dropped from the outbox', { sinks: removed.join(',') });
  }

  /** Starts a gateway on a site; null when it runs, else why it did not start (and nothing runs). */
  private async startGateway(site: SiteConfig): Promise<string | null> {
    const gateway = this.opts.create(site);
    this.opts.server?.attach(gateway);
    try {
      await gateway.start();
    } catch (err) {
      const why = `the gateway failed to start: ${err instanceof Error ? err.message : String(err)}`;
      this.opts.server?.setReloadError(why);
      // Stopped before anything else: it may hold the state folder the next gateway opens.
      await gateway.stop().catch((stopErr: unknown) => this.log.warn('stopping the gateway that failed to start failed', { err: stopErr }));
      if (this.site === null) throw err;
      this.log.error('the gateway failed to start on the new configuration; the status page reports not ready', { err });
      return why;
    }
    this.opts.server?.setReloadError(null);
    this.gateway = gateway;
    this.site = site;
    this.opts.server?.setRunning(true);
    return null;
  }
}
