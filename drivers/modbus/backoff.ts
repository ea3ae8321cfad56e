/**
 * Exponential reconnect backoff for one device.
 *
 * A device that refuses connections is retried quickly at first (a restarting device server is
 * back within a second or two) and then less and less often, so that a dead device costs almost
 * nothing. The jitter is deterministic (derived from the device id and the attempt number) so that
 * many devices lost together do not reconnect in lockstep, yet every run is reproducible.
 */
import { stableUnit } from './stagger.js';

export interface BackoffOptions {
  /** Delay before the first retry. Default 500 ms. */
  initialMs?: number;
  /** Growth factor per failed attempt. Default 2. */
  factor?: number;
  /** Upper bound of the delay (before jitter). Default 30 s. */
  maxMs?: number;
  /** Relative jitter: the delay is scaled by a factor in [1 - jitter, 1 + jitter]. Default 0.1. */
  jitter?: number;
  /** Key the jitter is derived from, typically the device id. */
  seed?: string;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly factor: number;
  private readonly maxMs: number;
  private readonly jitter: number;
  private readonly seed: string;
  private failures = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 500;
    this.factor = options.factor ?? 2;
    this.maxMs = options.maxMs ?? 30_000;
    this.jitter = options.jitter ?? 0.1;
    this.seed = options.seed ?? '';
    if (!(this.initialMs > 0) || !(this.factor >= 1) || !(this.maxMs >= this.initialMs)) {
      throw new RangeError('backoff needs initialMs > 0, factor >= 1 and maxMs >= initialMs');
    }
    if (!(this.jitter >= 0 && this.jitter < 1)) throw new RangeError('backoff jitter must be in [0, 1)');
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.failures;
  }

  /** Records a failure and returns how long to wait before the next attempt. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * Math.pow(this.factor, this.failures));
    const spread = this.jitter === 0 ? 0 : (stableUnit(this.seed, this.failures) * 2 - 1) * this.jitter;
    this.failures++;
    return Math.round(base * (1 + spread));
  }

  /** Back to the initial delay, after a successful exchange. */
  reset(): void {
    this.failures = 0;
  }
}
