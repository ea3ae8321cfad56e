/** A feeder model with its automation on a manual clock and fake scheduler, and a compact view of its state. */
import { ManualClock } from '../../gateway/clock.js';
import type { SiteConfig } from '../../gateway/config/site-config.js';
import { FeederAutomation } from '../../simulators/automation/feeder-automation.js';
import { FeederModel, type ModelEvent } from '../../simulators/feeder-model.js';
import { FakeScheduler } from './fake-scheduler.js';

export interface View {
  live: string[];
  /** Open switches, sorted ('o' for every one not listed means closed). */
  open: string[];
  locked: string[];
  flagged: string[];
}

export function harness(site: SiteConfig) {
  const clock = new ManualClock(0);
  const scheduler = new FakeScheduler(clock);
  const model = new FeederModel(site, { clock });
  const fa = new FeederAutomation(site, model, { clock, scheduler });
  const ops: string[] = [];
  model.onChange((e: ModelEvent) => {
    if (e.type === 'switchOperated') ops.push(`${clock.now()} ${e.switch} ${e.position} ${e.cause}`);
    if (e.type === 'lockout') ops.push(`${clock.now()} ${e.switch} ${e.locked ? 'locked' : 'unlocked'}`);
  });
  const view = (): View => {
    const state = model.state();
    const ids = Object.keys(state.switches);
    return {
      live: state.energizedSections,
      open: ids.filter((id) => state.switches[id]?.position === 'open'),
      locked: ids.filter((id) => state.switches[id]?.lockout === true),
      flagged: ids.filter((id) => state.switches[id]?.faultFlag === true),
    };
  };
  return { clock, scheduler, model, fa, ops, view, at: (ms: number) => (scheduler.advanceTo(ms), view()) };
}
