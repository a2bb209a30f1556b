import os from 'node:os';
import path from 'node:path';
import type { Secrets } from '../secrets';
import { setting } from '../settings';

/** Whether the S3 secret of a deploy is in SecretStorage, in the editor's environment, or missing. */
export type CredentialSource = 'stored' | 'environment' | 'missing';

/**
 * The environment of a `modelyard` child that talks to a cluster: the kubeconfig the settings name, the folders of
 * exec-credential plugins, the serving image, and (for a deploy) the object store's keys from SecretStorage. The
 * result goes only into the child's environment: never into a log, a setting or a webview.
 */
export async function cloudEnv(secrets: Secrets, s3?: { endpoint: string; accessKeyId: string }): Promise<{ env: Record<string, string>; credentials: CredentialSource }> {
  const env: Record<string, string> = {};
  const kubeconfig = setting('deploy.kubeconfig').trim();
  if (kubeconfig) env.KUBECONFIG = kubeconfig.replace(/^~(?=$|[\\/])/, os.homedir());
  const extra = setting('deploy.extraPath').filter((p) => p.trim());
  if (extra.length) env.PATH = [...extra.map((p) => p.replace(/^~(?=$|[\\/])/, os.homedir())), process.env.PATH ?? ''].join(path.delimiter);
  const image = setting('deploy.image').trim();
  if (image) env.MODELYARD_IMAGE = image;
  let credentials: CredentialSource = process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY ? 'environment' : 'missing';
  if (s3?.accessKeyId) {
    const secret = await secrets.get({ kind: 's3', endpoint: s3.endpoint, accessKeyId: s3.accessKeyId });
    if (secret) {
      env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
      env.AWS_SECRET_ACCESS_KEY = secret;
      credentials = 'stored';
    } else if (process.env.AWS_ACCESS_KEY_ID !== s3.accessKeyId) credentials = 'missing';
  }
  return { env, credentials };
}
