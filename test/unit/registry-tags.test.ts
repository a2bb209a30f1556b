import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bumpVersion, compareVersions, isVersion } from '../../src/core/registry/semver';
import { pushProgress } from '../../src/core/registry/write';
import { formatTag, isValidArtifact, isValidName, nameFromPath, nextCounter, parseTag, type ParsedTag } from '../../src/core/registry/tags';

describe('GTO tag grammar', () => {
  it('reads the valid examples of GTO and REFERENCE.md §5', () => {
    assert.deepEqual(parseTag('nn@v1.0.0'), { artifact: 'nn', action: 'register', version: 'v1.0.0' });
    assert.deepEqual(parseTag('nn@v1.0.0-rc.2'), { artifact: 'nn', action: 'register', version: 'v1.0.0-rc.2' });
    assert.deepEqual(parseTag('nn#prod#1'), { artifact: 'nn', action: 'assign', stage: 'prod', counter: 1 });
    assert.deepEqual(parseTag('nn#prod!#2'), { artifact: 'nn', action: 'unassign', stage: 'prod', counter: 2 });
    assert.deepEqual(parseTag('nn@v1.0.0!#3'), { artifact: 'nn', action: 'deregister', version: 'v1.0.0', counter: 3 });
    assert.deepEqual(parseTag('nn@deprecated'), { artifact: 'nn', action: 'deprecate' });
    assert.deepEqual(parseTag('nn@deprecated#7'), { artifact: 'nn', action: 'deprecate', counter: 7 });
    assert.deepEqual(parseTag('nn@created#1'), { artifact: 'nn', action: 'create', counter: 1 });
    assert.deepEqual(parseTag('nn#prod'), { artifact: 'nn', action: 'assign', stage: 'prod' });
    assert.deepEqual(parseTag('team/vision_v2@v2.0.0+build.5'), { artifact: 'team/vision_v2', action: 'register', version: 'v2.0.0+build.5' });
    assert.deepEqual(parseTag('Model-X@v0.0.1'), { artifact: 'Model-X', action: 'register', version: 'v0.0.1' });
  });

  it('reads a monorepo artifact, written dir=name in the tag', () => {
    assert.deepEqual(parseTag('models/ocr=rec@v1.2.3'), { artifact: 'models/ocr:rec', action: 'register', version: 'v1.2.3' });
    assert.equal(formatTag({ artifact: 'models/ocr:rec', action: 'assign', stage: 'prod', counter: 4 }), 'models/ocr=rec#prod#4');
  });

  it('refuses the invalid examples and other near misses', () => {
    for (const t of [
      'model@v1',
      'model@0.0.1',
      'model#prod@v1.2.3',
      'model@v1.2.3#prod',
      'model#prod#-1',
      'model@v01.2.3',
      'model@v1.2',
      '-model@v1.0.0',
      'model-@v1.0.0',
      'mo del@v1.0.0',
      'model#pr od#1',
      'model@v1.0.0-',
      'model@latest',
      'model#prod#1#2',
      'model',
      '@v1.0.0',
      'model@v1.0.0!!',
      'model@deprecated!',
    ]) {
      assert.equal(parseTag(t), undefined, t);
    }
  });

  it('names: letters of either case, digits, "-", "_", "/" inside; not at the ends', () => {
    for (const ok of ['a', 'nn', 'my-model', 'team/vision_v2', 'X1']) assert.ok(isValidName(ok), ok);
    for (const bad of ['', '-a', 'a-', '_a', 'a/', 'a b', 'a.b', 'a:b', 'a@b', 'a#b', '--force']) assert.ok(!isValidName(bad), bad);
    // GTO's pattern allows these, but git cannot store them in a tag name (found by the property test below).
    for (const bad of ['a//b', 'team//x']) assert.ok(!isValidName(bad), bad);
    for (const bad of ['a..b=nn', '.hidden=nn', 'a/x.lock/b=nn']) assert.equal(parseTag(`${bad}@v1.0.0`), undefined, bad);
  });

  it('never formats what it would not parse back', () => {
    assert.throws(() => formatTag({ artifact: '--help', action: 'register', version: 'v1.0.0' }), /invalid artifact/);
    assert.throws(() => formatTag({ artifact: 'nn', action: 'register', version: '1.0.0' }), /invalid version/);
    assert.throws(() => formatTag({ artifact: 'nn', action: 'assign', stage: 'pro d' }), /invalid stage/);
  });

  const name = fc.stringMatching(/^[A-Za-z0-9](?:[A-Za-z0-9\-/_]{0,12}[A-Za-z0-9])?$/).filter(isValidName);
  const dir = fc.option(fc.stringMatching(/^[a-z0-9\-_./]{1,10}$/).filter((d) => isValidArtifact(`${d}:x`)), { nil: undefined });
  const ident = fc.oneof(fc.nat({ max: 99 }).map(String), fc.stringMatching(/^[a-zA-Z-][0-9a-zA-Z-]{0,5}$/));
  const version = fc
    .tuple(fc.nat({ max: 50 }), fc.nat({ max: 50 }), fc.nat({ max: 50 }), fc.array(ident, { maxLength: 3 }), fc.array(fc.stringMatching(/^[0-9a-zA-Z-]{1,5}$/), { maxLength: 2 }))
    .map(([a, b, c, pre, build]) => `v${a}.${b}.${c}${pre.length ? '-' + pre.join('.') : ''}${build.length ? '+' + build.join('.') : ''}`);
  const counter = fc.option(fc.nat({ max: 100000 }), { nil: undefined });
  const parsedTag: fc.Arbitrary<ParsedTag> = fc.oneof(
    fc.record({ artifact: name, action: fc.constantFrom('register' as const, 'deregister' as const), version, counter }),
    fc.record({ artifact: name, action: fc.constantFrom('assign' as const, 'unassign' as const), stage: name, counter }),
    fc.record({ artifact: name, action: fc.constantFrom('deprecate' as const, 'create' as const), counter }),
  );

  it('property: parsing what was written gives it back', () => {
    fc.assert(
      fc.property(parsedTag, dir, (t, d) => {
        const withDir = { ...t, artifact: d ? `${d}:${t.artifact}` : t.artifact };
        const clean = Object.fromEntries(Object.entries(withDir).filter(([, v]) => v !== undefined));
        assert.deepEqual(parseTag(formatTag(withDir)), clean);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: every tag written is a ref name git accepts (git check-ref-format is the oracle)', () => {
    fc.assert(
      fc.property(parsedTag, dir, (t, d) => {
        const tag = formatTag({ ...t, artifact: d ? `${d}:${t.artifact}` : t.artifact });
        const r = spawnSync('git', ['check-ref-format', `refs/tags/${tag}`]);
        assert.equal(r.status, 0, `git refuses ${tag}`);
      }),
      { numRuns: 300 },
    );
  });

  it('counts one past the highest counter on any of the artifact’s tags', () => {
    assert.equal(nextCounter('nn', []), 1);
    assert.equal(nextCounter('nn', ['nn@v1.0.0', 'nn#prod#3', 'nn@v1.0.0!#7', 'other#prod#99', 'nn#dev#2', 'junk']), 8);
  });

  it('derives valid names from file paths', () => {
    assert.equal(nameFromPath('models/ocr/ch_PP-OCRv4_rec_infer.onnx'), 'ch_PP-OCRv4_rec_infer');
    assert.equal(nameFromPath('models/ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx'), 'ch_ppocr_mobile_v2-0_cls_infer');
    assert.equal(nameFromPath('models/OCR v2/rec.onnx', true), 'models/OCR-v2/rec');
    assert.equal(nameFromPath('__.onnx'), 'model');
    fc.assert(fc.property(fc.string(), (s) => isValidName(nameFromPath(`${s}.onnx`)) && isValidName(nameFromPath(`a/${s}/b.onnx`, true))));
  });
});

describe('SemVer', () => {
  it('orders by precedence (semver.org §11)', () => {
    const sorted = ['v1.0.0-alpha', 'v1.0.0-alpha.1', 'v1.0.0-alpha.beta', 'v1.0.0-beta', 'v1.0.0-beta.2', 'v1.0.0-beta.11', 'v1.0.0-rc.1', 'v1.0.0', 'v1.0.1', 'v1.10.0', 'v2.0.0'];
    const shuffled = [...sorted].reverse();
    assert.deepEqual(shuffled.sort(compareVersions), sorted);
    assert.equal(compareVersions('v1.0.0+a', 'v1.0.0+b'), 0);
  });
  it('needs the "v" of GTO tags', () => {
    assert.ok(isVersion('v1.2.3'));
    assert.ok(!isVersion('1.2.3'));
    assert.ok(!isVersion('v1.2'));
  });
  it('bumps', () => {
    assert.equal(bumpVersion(undefined, 'patch'), 'v0.0.1');
    assert.equal(bumpVersion(undefined, 'minor'), 'v0.1.0');
    assert.equal(bumpVersion(undefined, 'major'), 'v1.0.0');
    assert.equal(bumpVersion('v1.2.3', 'patch'), 'v1.2.4');
    assert.equal(bumpVersion('v1.2.3', 'minor'), 'v1.3.0');
    assert.equal(bumpVersion('v1.2.3', 'major'), 'v2.0.0');
    assert.equal(bumpVersion('v1.2.3-rc.1', 'patch'), 'v1.2.3');
  });
});

describe('push progress', () => {
  it('reads git --progress output into an overall fraction', () => {
    assert.equal(pushProgress('To origin\n'), undefined);
    assert.deepEqual(pushProgress('Counting objects:  50% (1/2)\r'), { fraction: 0.125, phase: 'counting objects' });
    assert.deepEqual(pushProgress('Compressing objects: 100% (4/4), done.\nWriting objects:  40% (2/5)\r'), { fraction: 0.7, phase: 'writing objects' });
    assert.deepEqual(pushProgress('Writing objects: 100% (5/5), 1.2 KiB | 1.2 MiB/s, done.'), { fraction: 1, phase: 'writing objects' });
  });
});
