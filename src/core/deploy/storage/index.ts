/**
 * How a deploy's model reaches the cluster, from what the user gave (`--storage s3://…` or `pvc:CLAIM`) and the
 * credentials at hand: the ModelDelivery the deploy core drives. Keys come from the caller's environment (the CLI's,
 * which the editor fills from SecretStorage); the cluster gets read keys in a Secret, never the writer's unless no
 * reader's were given.
 */
import { createHash } from 'node:crypto';
import { UserError } from '../../errors';
import type { ModelDelivery } from '../deploy';
import type { KubeObject } from '../kube';
import { MANAGED_BY } from '../manifests';
import { parseS3Uri, storageUri } from './keys';

export interface DeliveryOptions {
  /** s3://BUCKET/PREFIX or pvc:CLAIM */
  storage: string;
  /** The S3 endpoint as this machine reaches it (default AWS_ENDPOINT_URL / S3_ENDPOINT, else AWS). */
  endpoint?: string;
  /** The endpoint as pods reach it, when it differs. */
  podEndpoint?: string;
  region?: string;
  /** For a PVC: the claim's size when it is created. */
  pvcSize?: string;
  /** The image of the PVC copy pod (Modelyard's serving image has node). */
  image: string;
  env: NodeJS.ProcessEnv;
}

export function createDelivery(o: DeliveryOptions): ModelDelivery {
  const pvc = /^pvc:(?:\/\/)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(o.storage);
  if (pvc) return pvcDelivery(pvc[1]!, o);
  if (o.storage.startsWith('s3://')) return s3Delivery(o);
  throw new UserError(`--storage '${o.storage}' is not a place Modelyard can deliver a model to.`, 'Give s3://BUCKET/PREFIX (an S3-compatible store) or pvc:CLAIM (a PersistentVolumeClaim of the namespace).');
}

function s3Delivery(o: DeliveryOptions): ModelDelivery {
  const env = o.env;
  const region = o.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const endpoint = o.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? env.S3_ENDPOINT ?? `https://s3.${region}.amazonaws.com`;
  const podEndpoint = o.podEndpoint ?? endpoint;
  const writer = env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } : undefined;
  const reader = env.MODELYARD_S3_READER_ACCESS_KEY_ID && env.MODELYARD_S3_READER_SECRET_ACCESS_KEY ? { accessKeyId: env.MODELYARD_S3_READER_ACCESS_KEY_ID, secretAccessKey: env.MODELYARD_S3_READER_SECRET_ACCESS_KEY } : writer;
  const pod = new URL(podEndpoint);
  const secretName = `modelyard-s3-${createHash('sha256').update(`${podEndpoint}\n${reader?.accessKeyId ?? ''}`).digest('hex').slice(0, 10)}`;
  return {
    kind: 's3',
    credentials: !!writer,
    secretName,
    s3: { endpoint: podEndpoint, region },
    uriFor: (sha256, servedName) => storageUri(parseS3Uri(o.storage), sha256, servedName),
    prerequisites: (namespace): KubeObject[] =>
      reader
        ? [
            {
              apiVersion: 'v1',
              kind: 'Secret',
              metadata: {
                name: secretName,
                namespace,
                labels: { [MANAGED_BY]: 'modelyard' },
                // KServe's storage initializer reads the endpoint from these annotations; the plain path's from S3_ENDPOINT.
                annotations: {
                  'serving.kserve.io/s3-endpoint': pod.host,
                  'serving.kserve.io/s3-usehttps': pod.protocol === 'https:' ? '1' : '0',
                  'serving.kserve.io/s3-region': region,
                },
              },
              type: 'Opaque',
              stringData: { AWS_ACCESS_KEY_ID: reader.accessKeyId, AWS_SECRET_ACCESS_KEY: reader.secretAccessKey },
            },
          ]
        : [],
    deliver: async (_kube, model, servedName, _namespace, opts) => {
      if (!writer) throw new UserError(`no credentials for ${o.storage}.`, 'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (in the editor: the Deploy panel keeps them in secret storage).');
      const { uploadModel } = await import('./s3');
      const r = await uploadModel({
        config: { endpoint, region, ...writer },
        uri: o.storage,
        sha256: model.sha256,
        servedName,
        ...(model.bytes ? { bytes: model.bytes } : { file: model.path! }),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      return { uri: r.storageUri, uploadedBytes: r.uploaded };
    },
  };
}

function pvcDelivery(claim: string, o: DeliveryOptions): ModelDelivery {
  return {
    kind: 'pvc',
    credentials: true,
    uriFor: (sha256, servedName) => `pvc://${claim}/${servedName}/${sha256}`,
    prerequisites: () => [],
    deliver: async (kube, model, servedName, namespace, opts) => {
      const { uploadModelToPvc } = await import('./pvc');
      const r = await uploadModelToPvc({
        ...(kube.kubeconfigFile ? { kubeconfig: kube.kubeconfigFile } : {}),
        context: kube.context,
        namespace,
        claim,
        ...(o.pvcSize ? { size: o.pvcSize } : {}),
        sha256: model.sha256,
        servedName,
        ...(model.bytes ? { bytes: model.bytes } : { file: model.path! }),
        image: o.image,
        tool: 'node',
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      return { uri: r.storageUri, uploadedBytes: r.uploaded };
    },
  };
}
