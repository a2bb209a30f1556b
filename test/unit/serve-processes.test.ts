// `modelyard serve --processes N|auto`: several server processes on the same ports (issue 13, item 2), in the real
// CLI with real inference workers, and the CPU budget read from the cgroup (a real one where this machine lets a
// test make one: root with cgroup v1's cpu controller or v2's cpu.max; else the test says it cannot).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cpuBudget } from '../../src/core/serve/cpus';
import { cliPath, spawnModelyard, waitForLine } from '../support/cli';
import { fixture } from '../support/fixtures';
import { pseudoRandom } from '../support/inference';
import { descendants } from '../support/proc';
import { grpc, V2GrpcClient } from '../support/grpc';

const HELLO_INPUT = 'onnx::Flatten_0';

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-cgroup-'));
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), text);
  }
  return root;
}

describe('the CPU budget of --processes auto', () => {
  it('reads the cgroup quota (v2 along the path, v1), rounds it up, and keeps within the CPUs the process may use', () => {
    const v2 = tree({
      'proc/self/cgroup': '0::/kubepods/pod1/ctr\n',
      'cg/cgroup.controllers': 'cpu memory\n',
      'cg/cpu.max': 'max 100000\n',
      'cg/kubepods/cpu.max': 'max 100000\n',
      'cg/kubepods/pod1/cpu.max': '250000 100000\n',
      'cg/kubepods/pod1/ctr/cpu.max': '150000 100000\n',
    });
    const b = cpuBudget({ cgroupRoot: path.join(v2, 'cg'), procRoot: path.join(v2, 'proc'), available: 8 });
    assert.equal(b.cpus, 2);
    assert.match(b.from, /cgroup CPU quota 1\.5 CPUs \(.*kubepods\/pod1\/ctr\/cpu\.max\)/);
    // The smaller limit of a parent wins; the machine's CPUs bound it.
    fs.writeFileSync(path.join(v2, 'cg/kubepods/pod1/cpu.max'), '50000 100000\n');
    assert.equal(cpuBudget({ cgroupRoot: path.join(v2, 'cg'), procRoot: path.join(v2, 'proc'), available: 8 }).cpus, 1);
    fs.writeFileSync(path.join(v2, 'cg/kubepods/pod1/cpu.max'), 'max 100000\n');
    fs.writeFileSync(path.join(v2, 'cg/kubepods/pod1/ctr/cpu.max'), '800000 100000\n');
    assert.equal(cpuBudget({ cgroupRoot: path.join(v2, 'cg'), procRoot: path.join(v2, 'proc'), available: 4 }).cpus, 4);
    // A container with its own cgroup namespace: "0::/", the limit at the root.
    const ns = tree({ 'proc/self/cgroup': '0::/\n', 'cg/cgroup.controllers': 'cpu\n', 'cg/cpu.max': '300000 100000\n' });
    assert.equal(cpuBudget({ cgroupRoot: path.join(ns, 'cg'), procRoot: path.join(ns, 'proc'), available: 16 }).cpus, 3);
    // No quota: the CPUs it may use.
    const none = tree({ 'proc/self/cgroup': '0::/\n', 'cg/cgroup.controllers': 'cpu\n', 'cg/cpu.max': 'max 100000\n' });
    assert.deepEqual(cpuBudget({ cgroupRoot: path.join(none, 'cg'), procRoot: path.join(none, 'proc'), available: 6 }), { cpus: 6, from: '6 CPUs (no cgroup CPU quota: every CPU this process may use; a CPU limit or --processes N sets fewer)' });
    const v1 = tree({ 'proc/self/cgroup': '4:cpu,cpuacct:/docker/abc\n1:memory:/docker/abc\n', 'cg/cpu,cpuacct/cpu.cfs_quota_us': '-1\n', 'cg/cpu,cpuacct/cpu.cfs_period_us': '100000\n', 'cg/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '200000\n', 'cg/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n' });
    assert.equal(cpuBudget({ cgroupRoot: path.join(v1, 'cg'), procRoot: path.join(v1, 'proc'), available: 8 }).cpus, 2);
    for (const d of [v2, ns, none, v1]) fs.rmSync(d, { recursive: true, force: true });
  });

  it('in a real cgroup with a quota of 1.5 CPUs, --processes auto starts 2 server processes', async (t) => {
    // A cgroup of our own: v1's cpu hierarchy, or v2 with the cpu controller enabled for children.
    const v1 = '/sys/fs/cgroup/cpu';
    const v2 = '/sys/fs/cgroup';
    let dir: string | undefined;
    let quota: (d: string) => void = () => undefined;
    const name = `modelyard-test-${process.pid}`;
    try {
      if (fs.existsSync(path.join(v1, 'cpu.cfs_quota_us'))) {
        dir = path.join(v1, name);
        fs.mkdirSync(dir);
        quota = (d) => fs.writeFileSync(path.join(d, 'cpu.cfs_quota_us'), '150000');
      } else if (fs.existsSync(path.join(v2, 'cgroup.controllers')) && fs.readFileSync(path.join(v2, 'cgroup.subtree_control'), 'utf8').includes('cpu')) {
        dir = path.join(v2, name);
        fs.mkdirSync(dir);
        quota = (d) => fs.writeFileSync(path.join(d, 'cpu.max'), '150000 100000');
      }
      if (dir) quota(dir);
    } catch (e) {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
      dir = undefined;
      t.diagnostic(`cannot make a cgroup here: ${e instanceof Error ? e.message : e}`);
    }
    if (!dir) {
      t.skip('this machine does not let the test make a cgroup with a CPU quota (needs root and a cpu controller); the file-tree test above covers the reading');
      return;
    }
    try {
      const node = process.execPath;
      const r = spawnSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs; "${node}" "${cliPath()}" serve "${fixture('hello_deepa.onnx')}" --port 0 --processes auto --log json --json & pid=$!; sleep 6; kill -TERM $pid; wait $pid`], { encoding: 'utf8', timeout: 60_000 });
      const log = r.stderr.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string });
      t.diagnostic(log.map((l) => l.msg).slice(0, 3).join(' | '));
      assert.ok(log.some((l) => /^2 server processes \(cgroup CPU quota 1\.5 CPUs \(.*modelyard-test-\d+\/cpu\.(cfs_quota_us|max)\)\)$/.test(l.msg)), r.stderr);
      assert.equal(log.filter((l) => / at http:\/\/127\.0\.0\.1:\d+\/v2\/models\/hello_deepa$/.test(l.msg)).length, 2, r.stderr);
      assert.match(r.stdout, /"event":"listening"/);
      assert.match(r.stdout, /"event":"stopped"/);
    } finally {
      fs.rmdirSync(dir);
    }
  });
});

describe('serve --processes 2', () => {
  it('answers from both processes on one port, adds up their metrics, replaces one that dies, and stops cleanly', async (t) => {
    const child = spawnModelyard(['serve', fixture('hello_deepa.onnx'), '--port', '0', '--grpc-port', '0', '--json', '--name', 'm', '--threads', '1', '--processes', '2', '--log', 'text']);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    try {
      const listening = JSON.parse(await waitForLine(child, (l) => l.includes('"listening"'))) as { url: string; grpc: string };
      const servers = descendants(child.pid!).filter((pid) => !fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('inference-worker'));
      const all = descendants(child.pid!);
      assert.equal(servers.length, 2, `two server processes: ${servers.join(' ')}`);
      assert.equal(all.length, 4, `each with its inference worker: ${all.join(' ')}`);
      const body = JSON.stringify({ inputs: [{ name: HELLO_INPUT, shape: [1, 25, 96], datatype: 'FP32', data: Array.from(pseudoRandom(2400, 3)) }] });
      // New connections each (no keep-alive), so that the primary hands them to both processes in turn.
      const send = () => fetch(`${listening.url}/v2/models/m/infer`, { method: 'POST', body, headers: { 'content-type': 'application/json', connection: 'close' } });
      const answers = await Promise.all(Array.from({ length: 40 }, send));
      assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
      const c = new V2GrpcClient(listening.grpc);
      const g = await c.call('modelInfer', { modelName: 'm', inputs: [{ name: HELLO_INPUT, datatype: 'FP32', shape: [1n, 25n, 96n] }], rawInputContents: [new Uint8Array(pseudoRandom(2400, 3).buffer)] });
      c.close();
      assert.equal(g.code, grpc.status.OK, g.details);
      // Whichever process answers GET /metrics, it counts every process's requests.
      for (let i = 0; i < 6; i++) {
        const text = await (await fetch(`${listening.url}/metrics`, { headers: { connection: 'close' } })).text();
        assert.match(text, /modelyard_inference_requests_total\{model="m",version="1",status="success"\} 41\n/);
      }

      process.kill(servers[0]!, 'SIGKILL');
      for (let i = 0; i < 100 && !/server process \d+ ended \(SIGKILL\); starting another/.test(stderr); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(stderr, /\[warn\] \[serve\] server process \d+ ended \(SIGKILL\); starting another/);
      for (let i = 0; i < 100 && descendants(child.pid!).filter((p) => !fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('inference-worker')).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      for (let i = 0; i < 100 && !/listens again/.test(stderr); i++) await new Promise((r) => setTimeout(r, 100));
      const again = await Promise.all(Array.from({ length: 10 }, send));
      assert.deepEqual([...new Set(again.map((a) => a.status))], [200]);
      t.diagnostic(stderr.split('\n').filter((l) => l.includes('[serve]')).join(' | '));
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
    assert.equal(descendants(child.pid!).length, 0);
  });

  it('stops with the error when the model does not load', async () => {
    const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-bad-')), 'bad.onnx');
    fs.writeFileSync(bad, Buffer.from('not a model at all'));
    const r = spawnSync(process.execPath, [cliPath(), 'serve', bad, '--port', '0', '--processes', '2'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /a server process ended before it listened \(exit 1\); its error is above/);
    assert.match(r.stderr, /bad\.onnx/);
    fs.rmSync(path.dirname(bad), { recursive: true, force: true });
  });
});
