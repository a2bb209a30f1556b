import os from 'node:os';
import path from 'node:path';
import { KUBE_TOKEN_ENV_NAME } from '../../shared/cli/deploy';
import type { Secrets } from '../secrets';
import { setting } from '../settings';

/** Whether the S3 secret of a deploy is in SecretStorage, in the editor's environment, or missing. */
export type CredentialSource = 'stored' | 'environment' | 'missing';

/** A path from a setting: `~` is the home folder. */
function expandHome(p: string): string {
  return p === '~' ? os.homedir() : p.startsWith('~/') || p.startsWith('~\\') ? path.join(os.homedir(), p.slice(2)) : p;
}

/**
 * The environment of a deployment verb's child process, from the settings and SecretStorage: PATH with
 * `modelyard.deploy.extraPath` first (where a kubeconfig's credential plugin lives, when the editor was not started
 * from a shell that has it), KUBECONFIG from `modelyard.deploy.kubeconfig`, MODELYARD_IMAGE from
 * `modelyard.deploy.image`, for `context` the bearer token kept for it, and for `s3` the object store's secret key.
 * The result goes only into the child's environment: never into a log, a setting or a webview.
 */
export async function cloudEnv(opts: { secrets?: Secrets; context?: string; s3?: { endpoint: string; accessKeyId: string } } = {}): Promise<{ env: Record<string, string | undefined>; credentials: CredentialSource }> {
  const env: Record<string, string | undefined> = {};
  const extra = setting('deploy.extraPath').filter((p) => p.trim()).map((p) => expandHome(p.trim()));
  if (extra.length) env.PATH = [...extra, process.env.PATH ?? ''].filter(Boolean).join(path.delimiter);
  const kubeconfig = setting('deploy.kubeconfig').trim();
  if (kubeconfig) env.KUBECONFIG = expandHome(kubeconfig);
  const image = setting('deploy.image').trim();
  if (image) env.MODELYARD_IMAGE = image;
  // Only this context's token, never one of another context's left in the editor's environment.
  env[KUBE_TOKEN_ENV_NAME] = opts.context && opts.secrets ? await opts.secrets.get({ kind: 'kube-token', context: opts.context }) : undefined;
  let credentials: CredentialSource = process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY ? 'environment' : 'missing';
  if (opts.s3?.accessKeyId && opts.secrets) {
    const secret = await opts.secrets.get({ kind: 's3', endpoint: opts.s3.endpoint, accessKeyId: opts.s3.accessKeyId });
    if (secret) {
      env.AWS_ACCESS_KEY_ID = opts.s3.accessKeyId;
      env.AWS_SECRET_ACCESS_KEY = secret;
      credentials = 'stored';
    } else if (process.env.AWS_ACCESS_KEY_ID !== opts.s3.accessKeyId) credentials = 'missing';
  }
  return { env, credentials };
}
