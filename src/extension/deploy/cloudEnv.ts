import os from 'node:os';
import path from 'node:path';
import { KUBE_TOKEN_ENV_NAME } from '../../shared/cli/deploy';
import type { Secrets } from '../secrets';
import { setting } from '../settings';

/** A path from a setting: `~` is the home folder. */
function expandHome(p: string): string {
  return p === '~' ? os.homedir() : p.startsWith('~/') || p.startsWith('~\\') ? path.join(os.homedir(), p.slice(2)) : p;
}

/**
 * The environment of a deployment verb's child process, from the settings: PATH with `modelyard.deploy.extraPath`
 * first (where a kubeconfig's credential plugin lives, when the editor was not started from a shell that has it),
 * KUBECONFIG from `modelyard.deploy.kubeconfig`, and for `context`, the bearer token kept in SecretStorage for it.
 */
export async function cloudEnv(opts: { context?: string; secrets?: Secrets } = {}): Promise<Record<string, string | undefined>> {
  const env: Record<string, string | undefined> = {};
  const extra = setting('deploy.extraPath').filter((p) => p.trim()).map((p) => expandHome(p.trim()));
  if (extra.length) env.PATH = [...extra, process.env.PATH ?? ''].filter(Boolean).join(path.delimiter);
  const kubeconfig = setting('deploy.kubeconfig').trim();
  if (kubeconfig) env.KUBECONFIG = expandHome(kubeconfig);
  // Only this context's token, never one of another context's left in the editor's environment.
  env[KUBE_TOKEN_ENV_NAME] = opts.context && opts.secrets ? await opts.secrets.get({ kind: 'kube-token', context: opts.context }) : undefined;
  return env;
}
