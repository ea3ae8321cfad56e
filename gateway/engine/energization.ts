/**
 * Which sections are energized, kept up to date incrementally as switching devices move.
 *
 * A section is energized when a path of closed devices joins it to a closed bus-fed device (a feeder
 * breaker: the substation bus is taken as always live). Devices conduct both ways, so a closed tie
 * back-feeds whatever lies behind it.
 *
 * A change costs time proportional to the part of the network it affects, never to the whole network:
 * - closing a device floods the dark side if the other side is live;
 * - opening a device searches both sides at once, one section per side in turn, and stops as soon as a
 *   side proves dark (exhausted without meeting a source), both sides prove live, or the two searches meet
 *   (the sides are still joined through a loop). So the cost is at most about twice the size of the side
 *   that goes dark, or of the distance to the nearest source when nothing goes dark.
 */
import type { SwitchState } from '../config/site-config.js';
import type { SwitchPosition } from './observation.js';
import type { Topology } from './topology.js';

export type ReportedPosition = SwitchState | 'unknown';

/** Sections whose state flipped because of one change. */
export interface EnergizationChange {
  energized: string[];
  deenergized: string[];
}

function noChange(): EnergizationChange {
  return { energized: [], deenergized: [] };
}

interface SearchSide {
  queue: string[];
  head: number;
  visited: Set<string>;
  /** Reached a section fed by a closed bus-fed device. */
  live: boolean;
}

export class Energization {
  /** Last known open/closed position per device: what energization is computed from. */
  private readonly positions = new Map<string, SwitchState>();
  /** What the device last said, including 'unknown' for an intermediate or invalid double point. */
  private readonly reported = new Map<string, ReportedPosition>();
  private energized = new Set<string>();

  constructor(private readonly topology: Topology) {
    // Untelemetered devices (fuses) never report, so they stay at their normal position unless observed.
    for (const id of topology.switchIds()) {
      const normal = topology.switchDevice(id)!.normal;
      this.positions.set(id, normal);
      this.reported.set(id, normal);
    }
    this.energized = this.traverseFromSources();
  }

  isEnergized(sectionId: string): boolean {
    return this.energized.has(sectionId);
  }

  energizedSections(): ReadonlySet<string> {
    return this.energized;
  }

  /** Last known open/closed position (the one energization uses). */
  position(switchId: string): SwitchState | undefined {
    return this.positions.get(switchId);
  }

  /** Last reported position: 'unknown' while the device reports intermediate or invalid. */
  reportedPosition(switchId: string): ReportedPosition | undefined {
    return this.reported.get(switchId);
  }

  /**
   * Applies a reported position and returns the sections that changed state.
   *
   * 'intermediate' and 'invalid' are recorded as 'unknown' but leave the last known open/closed position
   * in force: a switch in motion passes through intermediate on every operation, and a bad double point is
   * a telemetry fault, not evidence the contacts moved. Treating either as open would flip a whole feeder
   * dark (and raise an outage) for a few hundred milliseconds or for as long as an auxiliary contact is bad.
   */
  setSwitch(switchId: string, position: SwitchPosition): EnergizationChange {
    const sw = this.topology.switchDevice(switchId);
    if (!sw) return noChange();
    if (position === 'intermediate' || position === 'invalid') {
      this.reported.set(switchId, 'unknown');
      return noChange();
    }
    this.reported.set(switchId, position);
    if (this.positions.get(switchId) === position) return noChange();
    this.positions.set(switchId, position);
    return position === 'closed' ? this.afterClose(sw.from, sw.to) : this.afterOpen(sw.from, sw.to);
  }

  /**
   * Recomputes everything by a full traversal from the sources, replaces the incremental state with the
   * result and returns what differed (empty when the incremental updates were right). For verification
   * and for resynchronising after positions were restored from elsewhere.
   */
  recomputeAll(): EnergizationChange {
    const fresh = this.traverseFromSources();
    const energized: string[] = [];
    const deenergized: string[] = [];
    for (const id of fresh) if (!this.energized.has(id)) energized.push(id);
    for (const id of this.energized) if (!fresh.has(id)) deenergized.push(id);
    this.energized = fresh;
    return { energized, deenergized };
  }

  /** Sets positions without computing anything (restore from a saved state); call `recomputeAll` after. */
  restorePositions(positions: Readonly<Record<string, SwitchState>>): void {
    for (const [id, position] of Object.entries(positions)) {
      if (!this.topology.switchDevice(id) || (position !== 'open' && position !== 'closed')) continue;
      this.positions.set(id, position);
      this.reported.set(id, position);
    }
  }

  private afterClose(from: string | null, to: string): EnergizationChange {
    const fromLive = from === null || this.energized.has(from);
    const toLive = this.energized.has(to);
    if (fromLive && !toLive) return { energized: this.flood(to), deenergized: [] };
    if (toLive && from !== null && !fromLive) return { energized: this.flood(from), deenergized: [] };
    return noChange();
  }

  private afterOpen(from: string | null, to: string): EnergizationChange {
    if (!this.energized.has(to)) return noChange(); // both sides were already dark
    if (from === null) {
      const side = this.newSide(to);
      while (!side.live && this.step(side, null)) {
        // keep searching until the side proves live or is exhausted
      }
      return side.live ? noChange() : { energized: [], deenergized: this.darken(side.visited) };
    }
    const a = this.newSide(from);
    const b = this.newSide(to);
    for (;;) {
      const aSearching = !a.live && a.head < a.queue.length;
      const bSearching = !b.live && b.head < b.queue.length;
      if (aSearching && this.step(a, b) === 'met') return noChange();
      if (bSearching && this.step(b, a) === 'met') return noChange();
      if (!a.live && a.head >= a.queue.length) return { energized: [], deenergized: this.darken(a.visited) };
      if (!b.live && b.head >= b.queue.length) return { energized: [], deenergized: this.darken(b.visited) };
      if (a.live && b.live) return noChange();
    }
  }

  private newSide(start: string): SearchSide {
    return { queue: [start], head: 0, visited: new Set([start]), live: false };
  }

  /**
   * Expands one section of a search. Returns 'met' when it reaches a section the other search has seen
   * (the two sides are still joined), true while the search goes on, false once it is exhausted.
   */
  private step(side: SearchSide, other: SearchSide | null): boolean | 'met' {
    if (side.head >= side.queue.length) return false;
    const section = side.queue[side.head++]!;
    for (const swId of this.topology.section(section)!.switches) {
      if (this.positions.get(swId) !== 'closed') continue;
      const next = this.topology.otherSide(swId, section);
      if (next === null) {
        side.live = true;
        continue;
      }
      if (other && other.visited.has(next)) return 'met';
      if (!side.visited.has(next)) {
        side.visited.add(next);
        side.queue.push(next);
      }
    }
    return side.head < side.queue.length;
  }

  private darken(sections: Set<string>): string[] {
    const out: string[] = [];
    for (const id of sections) {
      if (this.energized.delete(id)) out.push(id);
    }
    return out;
  }

  /** Marks every dark section reachable from `start` through closed devices energized. */
  private flood(start: string): string[] {
    const out = [start];
    this.energized.add(start);
    for (let head = 0; head < out.length; head++) {
      const section = out[head]!;
      for (const swId of this.topology.section(section)!.switches) {
        if (this.positions.get(swId) !== 'closed') continue;
        const next = this.topology.otherSide(swId, section);
        if (next === null || this.energized.has(next)) continue;
        this.energized.add(next);
        out.push(next);
      }
    }
    return out;
  }

  private traverseFromSources(): Set<string> {
    const live = new Set<string>();
    const queue: string[] = [];
    for (const id of this.topology.switchIds()) {
      const sw = this.topology.switchDevice(id)!;
      if (sw.from === null && this.positions.get(id) === 'closed' && !live.has(sw.to)) {
        live.add(sw.to);
        queue.push(sw.to);
      }
    }
    for (let head = 0; head < queue.length; head++) {
      const section = queue[head]!;
      for (const swId of this.topology.section(section)!.switches) {
        if (this.positions.get(swId) !== 'closed') continue;
        const next = this.topology.otherSide(swId, section);
        if (next === null || live.has(next)) continue;
        live.add(next);
        queue.push(next);
      }
    }
    return live;
  }
}
