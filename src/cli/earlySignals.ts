/**
 * The CLI's first module: until a command catches SIGTERM and SIGINT itself, each ends the process at once, with the
 * shell's exit code for it. In a container the CLI is PID 1, which a signal with no handler does not stop: a pod
 * deleted while its server starts, or loads a large model, would wait out its whole grace period before SIGKILL.
 */
for (const [signal, code] of [
  ['SIGTERM', 143],
  ['SIGINT', 130],
] as const) {
  process.on(signal, () => {
    if (process.listenerCount(signal) === 1) process.exit(code);
  });
}
