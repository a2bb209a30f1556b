import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TagRef } from '../../src/core/registry/refs';
import { buildState } from '../../src/core/registry/state';

const X = 'a'.repeat(40);
const Y = 'b'.repeat(40);
let t = 1_700_000_000;

/** An annotated tag at `commit`, dated one minute after the previous one unless a date is given. */
function tag(name: string, commit = X, date = (t += 60)): TagRef {
  return { name, objectType: 'tag', commit, targetType: 'commit', tagger: 'Ada', taggerEmail: 'ada@example.com', date, message: name };
}

const stages = (tags: TagRef[], artifact = 'nn') =>
  Object.fromEntries([...(buildState(tags).artifacts.get(artifact)?.stages ?? [])].map(([s, v]) => [s, v.version]));

describe('registry state (GTO semantics)', () => {
  it('binds a stage given before the registration to the version registered later at that commit', () => {
    // Found by the 5,000-tag benchmark against GTO 1.10.1's `gto show`.
    const tags = [tag('nn#dev#1'), tag('nn@v1.0.0')];
    assert.deepEqual(stages(tags), { dev: 'v1.0.0' });
    const a = buildState(tags).artifacts.get('nn')!;
    assert.deepEqual(a.versions.map((v) => v.version), ['v1.0.0'], 'the commit is one version, not two');
    assert.deepEqual(stages([...tags, tag('nn#dev!#2')]), {}, 'and a later unassign removes it');
  });

  it('hides the stages of a deregistered version', () => {
    assert.deepEqual(stages([tag('nn#prod#1'), tag('nn@v1.0.0'), tag('nn@v1.0.0!#2')]), {});
  });

  it('keeps an assignment of a commit never registered as a version of its own', () => {
    const s = buildState([tag('nn@v1.0.0'), tag('nn#dev#1', Y)]).artifacts.get('nn')!;
    assert.equal(s.stages.get('dev')?.version, Y);
    assert.equal(s.stages.get('dev')?.registered, false);
    assert.equal(s.latest?.version, 'v1.0.0');
  });

  it('puts in a stage the version with the most recent active assignment', () => {
    const tags = [tag('nn@v1.0.0', X), tag('nn@v2.0.0', Y), tag('nn#prod#1', Y), tag('nn#prod#2', X)];
    assert.deepEqual(stages(tags), { prod: 'v1.0.0' });
    assert.deepEqual(stages([...tags, tag('nn#prod!#3', X)]), { prod: 'v2.0.0' }, 'unassigning the newer one uncovers the older, still active');
  });

  it('takes latest as the highest SemVer among active registered versions', () => {
    const s = buildState([tag('nn@v1.2.0', X), tag('nn@v1.10.0-rc.1', Y), tag('nn@v1.10.0-rc.1!#1', Y)]).artifacts.get('nn')!;
    assert.equal(s.latest?.version, 'v1.2.0');
  });

  it('deprecates while the newest event is a deprecation; a new registration brings the model back', () => {
    const base = [tag('nn@v1.0.0'), tag('nn@deprecated')];
    assert.equal(buildState(base).artifacts.get('nn')!.deprecated, true);
    assert.equal(buildState([...base, tag('nn@v1.1.0', Y)]).artifacts.get('nn')!.deprecated, false);
  });

  it('orders events of the same second by counter, whatever order git lists them in', () => {
    const same = t + 1000;
    const tags = [tag('nn#prod!#3', X, same), tag('nn#prod#2', X, same), tag('nn@v1.0.0', X, same - 1)];
    assert.deepEqual(stages(tags), {});
    assert.deepEqual(stages([...tags].reverse()), {});
  });

  it('lists lightweight tags, tags on trees and refused registrations as problems', () => {
    const light = { ...tag('nn@v3.0.0'), objectType: 'commit' };
    const tree = { ...tag('nn@v4.0.0'), targetType: 'tree' };
    const s = buildState([tag('nn@v1.0.0', X), tag('nn@v1.0.0#5', Y), light, tree, tag('nn@v9.0.0!#6'), tag('model@v1'), tag('release-1')]);
    assert.deepEqual(
      s.problems.map((p) => `${p.tag}: ${p.reason}`).sort(),
      [
        'model@v1: not a valid GTO tag name',
        'nn@v1.0.0#5: v1.0.0 is already registered at commit aaaaaaaa',
        'nn@v3.0.0: lightweight tag: GTO counts only annotated tags (git tag -a)',
        'nn@v4.0.0: points at a tree, not a commit',
        'nn@v9.0.0!#6: deregisters v9.0.0, which was never registered',
      ],
    );
  });

  it('builds the same state whatever order the tags arrive in, also for names that sort between one artifact\'s tags', () => {
    // git lists "nn#…", then "nn-x@…", "nn/y#…", "nn=…" (a folder named nn), and only then "nn@…"; and the registry
    // reads the tags in parallel listings (refs.ts), whose outputs arrive in any order.
    const Z = 'c'.repeat(40);
    const base = [
      tag('nn@v1.0.0', X), tag('nn#prod#1', X), tag('nn-x@v0.1.0', Y), tag('nn-x#dev#1', Y), tag('nn/y@v2.0.0', Z),
      tag('nn/y#prod#1', Z), tag('nn=sub@v1.0.0', Y), tag('nn@v1.1.0', Y), tag('nn#prod#2', Y), tag('nn@v1.1.0!#3', Y),
      tag('nn@v1.0.0#4', Z), tag('nn-x@deprecated#2'), tag('release-1'), tag('zz@v1.0.0', Z), tag('nn#dev#5', Z),
    ];
    const summary = (tags: TagRef[]) => {
      const s = buildState(tags);
      return {
        artifacts: Object.fromEntries(
          [...s.artifacts].map(([n, a]) => [
            n,
            {
              latest: a.latest?.version,
              deprecated: a.deprecated,
              stages: Object.fromEntries([...a.stages].map(([k, v]) => [k, v.version])),
              versions: a.versions.map((v) => `${v.version}@${v.commit.slice(0, 1)}:${v.active}:${v.events.map((e) => e.tag).join(',')}`).sort(),
            },
          ]),
        ),
        order: [...s.artifacts.keys()],
        problems: s.problems.map((p) => p.tag),
        events: s.events.length,
      };
    };
    const sorted = [...base].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const want = summary(sorted);
    assert.deepEqual(want.order, ['nn', 'nn-x', 'nn/y', 'nn:sub', 'zz'], 'artifacts by name');
    assert.deepEqual(want.artifacts.nn!.stages, { dev: Z, prod: 'v1.0.0' });
    assert.deepEqual(want.problems, ['nn@v1.0.0#4']);
    assert.deepEqual(summary([...sorted].reverse()), want);
    assert.deepEqual(summary(base), want);
    let seed = 7;
    for (let round = 0; round < 20; round++) {
      const shuffled = [...base];
      for (let i = shuffled.length - 1; i > 0; i--) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const j = seed % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      assert.deepEqual(summary(shuffled), want, `order ${shuffled.map((t) => t.name).join(' ')}`);
    }
  });
});
