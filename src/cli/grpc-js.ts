/**
 * dist/grpc-js.js: @grpc/grpc-js in a bundle of its own, which `modelyard serve` loads only when --grpc-port asks
 * for the gRPC server (src/core/serve/grpc.ts takes the module as an option), so that the REST-only server and every
 * other verb start without parsing it.
 */
export * from '@grpc/grpc-js';
