// A client of the Open Inference Protocol's gRPC service for tests and benchmarks: @grpc/grpc-js with the messages
// of src/core/serve/gen (protobuf-es). `call` sends any bytes, so that a test can send what no generated client would.
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { file_grpc_predict_v2, GRPCInferenceService } from '../../src/core/serve/gen/grpc_predict_v2_pb';

export type Method = keyof typeof GRPCInferenceService.method;

export interface CallResult<T> {
  code: grpc.status;
  details: string;
  value?: T;
}

export class V2GrpcClient {
  private readonly client: grpc.Client;

  constructor(address: string, options: grpc.ClientOptions = {}) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, ...options });
  }

  /** Any bytes to a method; the answer decoded, or the status of the failure. */
  raw(method: Method, bytes: Uint8Array, deadlineMs = 30_000): Promise<CallResult<MessageShape<DescMessage>>> {
    const m = GRPCInferenceService.method[method];
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        `/${GRPCInferenceService.typeName}/${m.name}`,
        (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
        (b: Buffer) => fromBinary(m.output, b),
        bytes,
        { deadline: Date.now() + deadlineMs },
        (err, value) => resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '', value }),
      );
    });
  }

  /** A message to a method, with its typed answer. */
  async call<M extends Method>(method: M, init: MessageInitShape<(typeof GRPCInferenceService.method)[M]['input']>, deadlineMs?: number): Promise<CallResult<MessageShape<(typeof GRPCInferenceService.method)[M]['output']>>> {
    const m = GRPCInferenceService.method[method];
    const bytes = toBinary(m.input, create(m.input, init as never));
    return (await this.raw(method, bytes, deadlineMs)) as CallResult<MessageShape<(typeof GRPCInferenceService.method)[M]['output']>>;
  }

  close(): void {
    this.client.close();
  }
}

/** The protocol's schema as a FileDescriptorSet (ghz --protoset). */
export function v2Protoset(): Uint8Array {
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [file_grpc_predict_v2.proto] }));
}

export { grpc };
