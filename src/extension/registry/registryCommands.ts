import path from 'node:path';
import * as vscode from 'vscode';
import { UserError, describeError } from '../../core/errors';
import { sortedVersions, type VersionState } from '../../core/registry/state';
import { isValidName } from '../../core/registry/tags';
import { isVersion } from '../../core/registry/semver';
import { assign, deprecate, deregister, pushProgress, register, suggestVersion, unassign, type WriteResult } from '../../core/registry/write';
import { run } from '../../core/util/proc';
import { registerCommand, registerModelCommand } from '../commands';
import type { RegistryTarget } from '../modelTarget';
import type { Services } from '../services';
import { setting } from '../settings';
import { gitUri } from './gitContent';
import type { Node } from './modelsTree';

export interface RegistryCommandOptions {
  version?: string;
  bump?: 'major' | 'minor' | 'patch';
  stage?: string;
  message?: string;
  /** Register: commit the model file's uncommitted changes first (true), or register the last commit as it is (false). */
  commitChanges?: boolean;
  /** Skip confirmations (tests, scripts). */
  confirm?: boolean;
  remote?: string;
}

type Target = RegistryTarget;

/** The registry's commands: every one works from a tree node, and from the palette by asking for the model. */
export function registerRegistryCommands(services: Services): vscode.Disposable[] {
  const { registries, log } = services;
  async function pickVersion(t: Target, title: string, filter: (v: VersionState) => boolean): Promise<VersionState | undefined> {
    if (t.version) return t.version;
    const versions = t.model.state ? sortedVersions(t.model.state).filter(filter) : [];
    if (!versions.length) throw new UserError(`${t.model.name} has no version to choose from.`, 'Register a version first.');
    const pick = await vscode.window.showQuickPick(
      versions.map((v) => ({ label: v.registered ? v.version : v.commit.slice(0, 8), description: new Date(v.createdBy.date * 1000).toLocaleDateString(), detail: v.createdBy.message.split('\n')[0], v })),
      { title, placeHolder: 'Which version?' },
    );
    return pick?.v;
  }

  async function write(title: string, root: string, fn: () => Promise<WriteResult>): Promise<WriteResult> {
    const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title }, fn);
    log.info(`[registry] ${title}: created tag ${r.tag} at ${r.commit}`);
    registries.invalidate(root);
    return r;
  }

  async function message(opts: RegistryCommandOptions, prompt: string): Promise<string | undefined | null> {
    if (opts.message !== undefined) return opts.message;
    const m = await vscode.window.showInputBox({ title: prompt, prompt: 'Why? Saved in the tag message, for the audit trail (optional)', placeHolder: 'e.g. Retrained on the October data; +1.2 mAP' });
    return m === undefined ? null : m;
  }

  /** Stages to offer: .gto's allowlist when there is one, else the promotion order and every stage in use. */
  async function stageChoices(t: Target): Promise<string[]> {
    const reg = await registries.registry(t.root);
    if (reg.config.stages.length) return reg.config.stages;
    const order = setting('registry.stages');
    const used = new Set<string>();
    for (const m of reg.models) for (const s of m.state?.stages.keys() ?? []) used.add(s);
    return [...new Set([...order, ...used])];
  }

  return [
    registerModelCommand('modelyard.version.register', services, { model: 'registry', pickTitle: 'Register Version' }, async (t, opts: RegistryCommandOptions = {}) => {
      let ref = t.commit ?? 'HEAD';
      if (!t.commit && t.model.entry) {
        const st = await run('git', ['status', '--porcelain', '--', t.model.entry.path], { cwd: t.root, log });
        if (st.stdout.trim()) {
          const choice =
            opts.commitChanges ??
            (await vscode.window
              .showWarningMessage(`${t.model.entry.path} has uncommitted changes.`, { modal: true, detail: 'A version is a commit. Commit the model file first, or register the last commit as it is?' }, 'Commit and Register', 'Register Last Commit')
              .then((c) => (c === undefined ? undefined : c === 'Commit and Register')));
          if (choice === undefined) return;
          if (choice) {
            await run('git', ['add', '--', t.model.entry.path], { cwd: t.root, log });
            await run('git', ['commit', '-m', `Update ${t.model.name}`, '--', t.model.entry.path], { cwd: t.root, log });
            ref = 'HEAD';
          }
        }
      }
      let version = opts.version;
      if (!version && !opts.bump) {
        const reg = await registries.registry(t.root);
        const latest = t.model.state?.latest?.version;
        const items = (['patch', 'minor', 'major'] as const).map((b) => ({ label: suggestVersion(reg, t.model.name, b), description: `${b}${latest ? ` (after ${latest})` : ''}` }));
        const pick = await vscode.window.showQuickPick([...items, { label: 'Other version…', description: 'type a SemVer, e.g. v2.0.0-rc.1' }], {
          title: `Register ${t.model.name}${t.commit ? ` at ${t.commit.slice(0, 8)}` : ''}`,
          placeHolder: 'Which version?',
        });
        if (!pick) return;
        version =
          pick.label === 'Other version…'
            ? await vscode.window.showInputBox({
                title: `Register ${t.model.name}`,
                prompt: 'Version (SemVer with a leading v)',
                value: items[0]!.label,
                validateInput: (v) => (isVersion(v) ? undefined : 'A version looks like v1.2.3 or v2.0.0-rc.1'),
              })
            : pick.label;
        if (!version) return;
      }
      const why = await message(opts, `Register ${t.model.name}@${version ?? opts.bump}`);
      if (why === null) return;
      const r = await write(`Registering ${t.model.name}`, t.root, () =>
        register(t.root, t.model.name, { log, ref, ...(version ? { version } : {}), ...(opts.bump ? { bump: opts.bump } : {}), ...(why ? { message: why } : {}) }),
      );
      void vscode.window.showInformationMessage(`Registered ${t.model.name}@${r.version} (tag ${r.tag}).`, 'Assign Stage…', 'Push Tags').then((a) => {
        if (a === 'Push Tags') void vscode.commands.executeCommand('modelyard.tags.push', { kind: 'repo', root: t.root });
        if (a === 'Assign Stage…') void vscode.commands.executeCommand('modelyard.stage.assign', { kind: 'model', root: t.root, model: t.model });
      });
      return r;
    }),

    registerModelCommand('modelyard.stage.assign', services, { model: 'registry', pickTitle: 'Assign Stage' }, async (t, opts: RegistryCommandOptions = {}) => {
      // Called with a stage (a script, a test): the latest version, as the CLI does. From the UI: ask which.
      const v = (opts.stage && !t.version ? t.model.state?.latest : undefined) ?? (await pickVersion(t, `Assign a stage to a version of ${t.model.name}`, (x) => x.active && x.registered));
      if (!v) return;
      let stage = opts.stage;
      if (!stage) {
        const choices = await stageChoices(t);
        const current = [...(t.model.state?.stages ?? [])].filter(([, x]) => x === v).map(([s]) => s);
        // Promotion order: suggest the stage after the highest one this version is in.
        const next = choices[Math.max(...current.map((s) => choices.indexOf(s)), -1) + 1];
        const items = choices.map((s) => ({ label: s, description: [s === next ? 'next in order' : '', t.model.state?.stages.get(s) ? `now ${t.model.state.stages.get(s)!.version}` : ''].filter(Boolean).join(' · ') }));
        items.sort((a, b) => (a.label === next ? -1 : b.label === next ? 1 : 0));
        const allowNew = !(await registries.registry(t.root)).config.stages.length;
        const pick = await vscode.window.showQuickPick(allowNew ? [...items, { label: 'New stage…', description: '' }] : items, {
          title: `Assign ${t.model.name}@${v.version} to a stage`,
          placeHolder: 'Which stage?',
        });
        if (!pick) return;
        stage =
          pick.label === 'New stage…'
            ? await vscode.window.showInputBox({ title: 'New stage', validateInput: (s) => (isValidName(s) ? undefined : 'Letters, digits, and "-", "_" or "/" inside') })
            : pick.label;
        if (!stage) return;
      }
      const why = await message(opts, `Assign ${stage} to ${t.model.name}@${v.version}`);
      if (why === null) return;
      const s = stage;
      return write(`Assigning ${s}`, t.root, () => assign(t.root, t.model.name, s, { log, ...(v.registered ? { version: v.version } : { ref: v.commit }), ...(why ? { message: why } : {}) }));
    }),

    registerModelCommand('modelyard.stage.unassign', services, { model: 'registry', pickTitle: 'Unassign Stage' }, async (t, opts: RegistryCommandOptions = {}) => {
      const staged = [...(t.model.state?.stages ?? [])].filter(([, v]) => !t.version || v === t.version);
      if (!staged.length) throw new UserError(`${t.model.name}${t.version ? `@${t.version.version}` : ''} is in no stage.`);
      const stage =
        opts.stage ??
        (staged.length === 1 ? staged[0]![0] : (await vscode.window.showQuickPick(staged.map(([s, v]) => ({ label: s, description: v.version })), { title: 'Unassign which stage?' }))?.label);
      if (!stage) return;
      const why = await message(opts, `Unassign ${stage} from ${t.model.name}`);
      if (why === null) return;
      return write(`Unassigning ${stage}`, t.root, () => unassign(t.root, t.model.name, stage, { log, ...(why ? { message: why } : {}) }));
    }),

    registerModelCommand('modelyard.version.deregister', services, { model: 'registry', pickTitle: 'Deregister Version' }, async (t, opts: RegistryCommandOptions = {}) => {
      const v = await pickVersion(t, `Deregister a version of ${t.model.name}`, (x) => x.active && x.registered);
      if (!v) return;
      if (!opts.confirm) {
        const ok = await vscode.window.showWarningMessage(
          `Deregister ${t.model.name}@${v.version}?`,
          { modal: true, detail: 'It adds a deregistration tag: the version leaves the registry and its stages; its history stays.' },
          'Deregister',
        );
        if (ok !== 'Deregister') return;
      }
      const why = await message(opts, `Deregister ${t.model.name}@${v.version}`);
      if (why === null) return;
      return write(`Deregistering ${v.version}`, t.root, () => deregister(t.root, t.model.name, v.version, { log, ...(why ? { message: why } : {}) }));
    }),

    registerModelCommand('modelyard.model.deprecate', services, { model: 'registry', pickTitle: 'Deprecate Model' }, async (t, opts: RegistryCommandOptions = {}) => {
      if (!opts.confirm) {
        const ok = await vscode.window.showWarningMessage(`Deprecate ${t.model.name}?`, { modal: true, detail: 'It adds a deprecation tag. Registering a new version later brings the model back.' }, 'Deprecate');
        if (ok !== 'Deprecate') return;
      }
      const why = await message(opts, `Deprecate ${t.model.name}`);
      if (why === null) return;
      return write(`Deprecating ${t.model.name}`, t.root, () => deprecate(t.root, t.model.name, { log, ...(why ? { message: why } : {}) }));
    }),

    registerModelCommand('modelyard.version.open', services, { model: 'registry', pickTitle: 'Open at Version' }, async (t) => {
      if (!t.model.entry) throw new UserError(`${t.model.name} has no file path.`, 'Declare its path in dvc.yaml.');
      const commit = t.commit ?? (await pickVersion(t, `Open ${t.model.name} at…`, () => true))?.commit;
      if (!commit) return;
      const label = t.version?.registered ? t.version.version : commit.slice(0, 8);
      const uri = gitUri(t.root, commit, t.model.entry.path, `${t.model.name}@${label}`);
      await vscode.commands.executeCommand('vscode.open', uri, { preview: true });
      return uri;
    }),

    registerModelCommand('modelyard.version.copyTag', services, { model: 'registry', pickTitle: 'Copy Tag' }, async (t) => {
      const v = await pickVersion(t, 'Copy the tag of…', () => true);
      const tag = v?.events.find((e) => e.action === 'register')?.tag ?? v?.events.at(-1)?.tag;
      if (!tag) return;
      await vscode.env.clipboard.writeText(tag);
      void vscode.window.setStatusBarMessage(`Copied ${tag}`, 3000);
      return tag;
    }),

    registerCommand('modelyard.tags.push', log, async (node?: Node, opts: RegistryCommandOptions = {}) => {
      const roots = node && 'root' in node && node.root ? [node.root] : await registries.repositories();
      const root = roots.length === 1 ? roots[0] : (await vscode.window.showQuickPick(roots.map((r) => ({ label: path.basename(r), detail: r })), { title: 'Push registry tags of which repository?' }))?.detail;
      if (!root) return;
      const remotes = (await run('git', ['remote'], { cwd: root, log })).stdout.split('\n').filter(Boolean);
      if (!remotes.length) throw new UserError(`${path.basename(root)} has no remote to push to.`, 'Add one with `git remote add origin URL`.');
      const remote = opts.remote ?? (remotes.length === 1 ? remotes[0] : (await vscode.window.showQuickPick(remotes, { title: 'Push to which remote?' })));
      if (!remote) return;
      if (!remotes.includes(remote)) throw new UserError(`'${remote}' is not a remote of ${path.basename(root)}.`, `Its remotes: ${remotes.join(', ')}.`);
      const reg = await registries.registry(root);
      const tags = reg.state.events.map((e) => `refs/tags/${e.tag}`);
      if (!tags.length) throw new UserError('there are no registry tags to push.');
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Pushing ${tags.length} registry tags to ${remote}`, cancellable: true }, async (progress, token) => {
        const ac = new AbortController();
        token.onCancellationRequested(() => ac.abort());
        progress.report({ message: 'connecting…' });
        let done = 0;
        try {
          await run('git', ['push', '--progress', '--porcelain', '--', remote, ...tags], {
            cwd: root,
            log,
            signal: ac.signal,
            timeoutMs: 10 * 60_000,
            onStderr: (text) => {
              const p = pushProgress(text);
              if (!p || p.fraction * 100 <= done) return;
              progress.report({ message: p.phase, increment: p.fraction * 100 - done });
              done = p.fraction * 100;
            },
          });
        } catch (e) {
          if (ac.signal.aborted) throw new vscode.CancellationError();
          throw new UserError(`pushing tags to ${remote} failed: ${describeError(e)}`, 'Check the remote and your credentials (see Modelyard: Show Log).');
        }
      });
      void vscode.window.showInformationMessage(`Pushed ${tags.length} registry tags to ${remote}.`);
      return tags.length;
    }),

    registerCommand('modelyard.repository.init', log, async () => {
      const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file');
      if (!folders.length) throw new UserError('no folder is open.', 'Open the folder that holds your models first.');
      const folder = folders.length === 1 ? folders[0] : await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Initialize a git repository in which folder?' });
      if (!folder) return;
      await run('git', ['init', '-q'], { cwd: folder.uri.fsPath, log });
      registries.resetRepositories();
      void vscode.window.showInformationMessage(`Initialized a git repository in ${folder.name}. Commit your models, then register versions from the Models view.`);
    }),
  ];
}
