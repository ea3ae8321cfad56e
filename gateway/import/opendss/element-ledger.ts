/**
 * What became of every element of the circuit: mapped to something of the site (and to what), or not mapped
 * (and why). The import never drops an element silently: the report lists the ledger's unmapped entries,
 * and `unaccounted()` names any element no step claimed.
 */
import type { CircuitModel, DssElement } from './circuit-model.js';

export interface LedgerEntry {
  /** `Class.name` as written. */
  element: string;
  file: string;
  line: number;
  mapped: boolean;
  /** Mapped: what it became (`switch Sw1`, `part of section S-150`). Not mapped: why. */
  detail: string;
}

export class ElementLedger {
  private readonly entries = new Map<string, LedgerEntry>();

  mapped(element: DssElement, as: string): void {
    this.set(element, true, as);
  }

  unmapped(element: DssElement, reason: string): void {
    this.set(element, false, reason);
  }

  has(element: DssElement): boolean {
    return this.entries.has(element.key);
  }

  /** Elements of the model nobody accounted for (should be none; listed as unmapped by `closeOver`). */
  closeOver(model: CircuitModel): void {
    for (const element of model.elements) {
      if (!this.entries.has(element.key)) this.unmapped(element, `${element.className} elements are not used by the import`);
    }
  }

  all(): LedgerEntry[] {
    return [...this.entries.values()];
  }

  unmappedEntries(): LedgerEntry[] {
    return this.all().filter((e) => !e.mapped);
  }

  private set(element: DssElement, mapped: boolean, detail: string): void {
    // The first verdict stands: a later, more general step must not overwrite a specific one.
    if (this.entries.has(element.key)) return;
    this.entries.set(element.key, {
      element: `${element.className}.${element.name}`,
      file: element.definedAt.file,
      line: element.definedAt.line,
      mapped,
      detail,
    });
  }
}
