/**
 * The help of one verb, cut from the CLI's one help text (so that no verb's help is written twice): its entry, the
 * heading of its section (what MODEL means there, which options every verb of it takes), and the exit codes.
 */
export function verbHelp(usage: string, verb: string): string | undefined {
  const exitCodes = usage.split('\n\n').find((s) => s.startsWith('Exit codes:'));
  for (const section of usage.split('\n\n')) {
    const lines = section.split('\n');
    const start = lines.findIndex((l) => l.startsWith(`  ${verb} `) || l === `  ${verb}`);
    if (start < 0) continue;
    let end = start + 1;
    // An entry goes on while its lines are indented further than the verbs are.
    while (end < lines.length && lines[end]!.startsWith('   ')) end++;
    const heading = lines.filter((l, i) => i < start && !l.startsWith(' ') && l !== 'Commands:').join('\n');
    return `${heading ? `${heading}\n` : ''}${lines.slice(start, end).join('\n')}\n${exitCodes ? `\n${exitCodes}\n` : ''}`;
  }
  return undefined;
}

/** Whether the arguments of a verb ask for its help (before a `--`). */
export function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '-h' || a === '--help');
}
