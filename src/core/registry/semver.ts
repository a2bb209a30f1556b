/** SemVer 2.0 (semver.org), as GTO writes versions: always with a leading "v" in tags. */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease: (string | number)[];
  build: string[];
}

/** Parsed versions, kept because sorting thousands of versions compares each many times. */
const parsed = new Map<string, SemVer | undefined>();

/** Parses "v1.2.3-rc.1+b5" (the "v" is required, as in GTO tags). Undefined when it is not one. */
export function parseVersion(v: string): SemVer | undefined {
  if (parsed.has(v)) return parsed.get(v);
  if (parsed.size > 50_000) parsed.clear();
  const r = parseVersionUncached(v);
  parsed.set(v, r);
  return r;
}

function parseVersionUncached(v: string): SemVer | undefined {
  if (!v.startsWith('v')) return undefined;
  const m = SEMVER.exec(v.slice(1));
  if (!m) return undefined;
  const num = (s: string) => Number(s);
  if (![m[1], m[2], m[3]].every((x) => Number.isSafeInteger(num(x!)))) return undefined;
  return {
    major: num(m[1]!),
    minor: num(m[2]!),
    patch: num(m[3]!),
    prerelease: m[4] ? m[4].split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)) : [],
    build: m[5] ? m[5].split('.') : [],
  };
}

export function isVersion(v: string): boolean {
  return parseVersion(v) !== undefined;
}

/** SemVer precedence: negative when a < b. Build metadata does not count (§10); invalid versions sort first. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) return (x ? 1 : 0) - (y ? 1 : 0) || (a < b ? -1 : a > b ? 1 : 0);
  return x.major - y.major || x.minor - y.minor || x.patch - y.patch || comparePrerelease(x.prerelease, y.prerelease);
}

function comparePrerelease(a: (string | number)[], b: (string | number)[]): number {
  if (!a.length || !b.length) return (a.length ? -1 : 0) + (b.length ? 1 : 0); // a release outranks its pre-releases
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const p = a[i];
    const q = b[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    if (typeof p === 'number' && typeof q === 'number') return p - q;
    if (typeof p === 'number') return -1; // numeric identifiers have lower precedence
    if (typeof q === 'number') return 1;
    return p < q ? -1 : 1;
  }
  return 0;
}

export type Bump = 'major' | 'minor' | 'patch';

/** The next version after `v` (or v0.0.1 / v0.1.0 / v1.0.0 when there is none). Pre-release and build are dropped. */
export function bumpVersion(v: string | undefined, part: Bump): string {
  const s = v ? parseVersion(v) : undefined;
  if (!s) return part === 'major' ? 'v1.0.0' : part === 'minor' ? 'v0.1.0' : 'v0.0.1';
  if (part === 'major') return `v${s.major + 1}.0.0`;
  if (part === 'minor') return `v${s.major}.${s.minor + 1}.0`;
  // A patch bump of a pre-release releases it (v1.2.3-rc.1 → v1.2.3), as npm and semver do.
  return s.prerelease.length ? `v${s.major}.${s.minor}.${s.patch}` : `v${s.major}.${s.minor}.${s.patch + 1}`;
}
