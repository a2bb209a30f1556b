/**
 * The help of the verbs that live in dist/cli-cloud.js (deployment, model delivery, the serving image): here, in the small main bundle,
 * so that `modelyard --help` never loads the Kubernetes client or the AWS SDK.
 */
import { DEFAULT_BASE } from '../core/deploy/image/defaults';

export const DEPLOY_HELP = `Deployment (to the cluster of a kubeconfig context; each takes --context C, -n NAMESPACE, --kubeconfig FILE, --json):
  deploy REF --storage s3://BUCKET/PREFIX|pvc:CLAIM [--kserve | --plain] [--replicas N | --min N --max N]
             [--cpu X] [--memory Y] [--image IMAGE] [--runtime NAME] [--stage S | --no-record] [--name NAME]
             [--dry-run] [--force] [--no-smoke] [--timeout SECONDS]
                                       Deploy a registered version: pre-flight against the runtime, the model
                                       to storage (content-addressed: nothing is uploaded twice), a server-side
                                       dry-run diff, server-side apply, the rollout followed until ready, a
                                       smoke test against a local run, and a GTO stage assignment (--stage,
                                       default prod) naming cluster, namespace and object. S3 keys come from
                                       AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and --s3-endpoint for a store
                                       other than AWS). KServe when installed, else a Deployment + Service.
  contexts [--kubeconfig FILE]         The kubeconfig's contexts (read without touching a cluster): server,
                                       namespace, how the user logs in, whether its credential plugin is on PATH.
  namespaces                           The namespaces of a context (only its own when listing is denied).
  deployments [-A] [--watch]           What Modelyard deployed (and other InferenceServices), with model,
                                       version, the version before it, stage and ready replicas; --watch
                                       prints it again on every change (a \`deployments\` event each time, and
                                       \`reconnecting\` while the API server does not answer) until Ctrl-C.
  status NAME [--watch]                Its model, pods and readiness; why it fails, with the fix.
  logs NAME [--follow] [--tail N]      Its server's log.
  smoke NAME [--model REF]             The smoke test again, on demand.
  rollback NAME                        Back to the version deployed before (recorded in the registry).
  undeploy NAME                        Remove what Modelyard created for it (recorded in the registry).
  proxy NAME [--port N]                A local http://127.0.0.1 endpoint that forwards to it through the API
                                       server's service proxy (the kubeconfig's credentials stay here).
                                       MODELYARD_KUBE_TOKEN gives a bearer token to a context whose user has
                                       no credentials in the kubeconfig (for every deployment verb).
  metrics NAME [--watch] [--interval SECONDS]
                                       Its requests/s, errors/s and p50/p99 latency over the last interval
                                       (default 2 s), summed over its ready pods, from each serving
                                       container's /metrics read through the API server (Triton's: rates
                                       and mean latency). --watch: a line, and a metrics event, each interval
                                       until Ctrl-C.
`;

export const FETCH_MODEL_HELP = `Model delivery (the serving side):
  fetch-model SRC DEST [--name NAME] [--json]
                                       A storage initializer: download the model under the s3:// URI SRC
                                       (<name>/1/model.onnx below it, or its one .onnx) into DEST/<name>/1/
                                       model.onnx, streamed and renamed when complete, sha256 checked. The
                                       credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                                       S3_ENDPOINT (with S3_USE_HTTPS=0 for http) or AWS_ENDPOINT_URL, and
                                       AWS_REGION, as KServe passes them. --name picks one of several models.
`;

export const IMAGE_HELP = `Serving image (no Docker daemon needed):
  image build --push REGISTRY/REPO:TAG [--base IMAGE] [--platform linux/amd64|linux/arm64] [--insecure] [--json]
                                       Build the image of \`modelyard serve\` (this CLI and onnxruntime-node
                                       pruned to the platform, in one layer on the base's layers) and push it.
                                       Default base ${DEFAULT_BASE}, platform linux/amd64. The same inputs
                                       give the same digest. Credentials: auths of ~/.docker/config.json
                                       (or $DOCKER_CONFIG). --insecure allows http:// to a registry that is not
                                       on a loopback address. With --json: {reference, digest, size, platform,
                                       onnxruntime, …}.
`;
