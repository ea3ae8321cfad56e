/** One problem found in a site configuration file. */
export interface ConfigIssue {
  /** Human path into the file, e.g. `feeders[0].switches[2].to`; '' for the file as a whole. */
  path: string;
  message: string;
  /** The offending value, or REDACTED for secrets; absent when the value is not useful. */
  value?: unknown;
  /** 1-based position, known for YAML syntax errors. */
  line?: number;
  column?: number;
}

/** Shown instead of a value that may be a secret (credentials, anything taken from the environment). */
export const REDACTED = '<redacted>';

function formatValue(value: unknown): string {
  if (value === REDACTED) return REDACTED;
  return JSON.stringify(value) ?? String(value);
}

export function formatIssue(issue: ConfigIssue): string {
  const head = issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
  return issue.value === undefined ? head : `${head} (value: ${formatValue(issue.value)})`;
}

/** Thrown by the site loader with every issue found, so an operator can fix them all in one pass. */
export class SiteConfigError extends Error {
  override readonly name = 'SiteConfigError';
  readonly issues: ConfigIssue[];
  readonly sourceName: string | undefined;

  /** @param sourceName the file, for the first line of the message */
  constructor(issues: ConfigIssue[], sourceName?: string) {
    const count = issues.length === 1 ? '1 issue' : `${issues.length} issues`;
    const head = sourceName === undefined ? `invalid site configuration (${count}):` : `${sourceName}: invalid site configuration (${count}):`;
    super([head, ...issues.map(formatIssue)].join('\n'));
    this.issues = issues;
    this.sourceName = sourceName;
  }
}
