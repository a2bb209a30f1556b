/**
 * The CLI's second bundle, dist/cli-cloud.js: the verbs that talk to clusters and object stores (the Kubernetes
 * client and the AWS SDK come with them). main.ts loads it only for those verbs, so every other verb starts without
 * parsing them.
 */
import type { Logger } from '../core/log';
import { contextsCommand, deployCommand, deploymentsCommand, logsCommand, namespacesCommand, proxyCommand, rollbackCommand, smokeCommand, statusCommand, undeployCommand } from './deploy';
import { fetchModelCommand } from './fetchModel';
import { imageCommand } from './image';
import { metricsCommand } from './metrics';

export type Command = (args: string[], out: (text: string) => void, log: Logger) => Promise<number>;

export const CLOUD_COMMANDS: Record<string, Command> = {
  deploy: deployCommand,
  deployments: deploymentsCommand,
  status: statusCommand,
  logs: logsCommand,
  smoke: smokeCommand,
  rollback: rollbackCommand,
  undeploy: undeployCommand,
  proxy: proxyCommand,
  contexts: contextsCommand,
  namespaces: namespacesCommand,
  'fetch-model': fetchModelCommand,
  image: imageCommand,
  metrics: metricsCommand,
};
