/**
 * `chatty --json` writes its lines of one event-loop turn in one write, in order, and never
 * leaves any behind when the process exits.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

const module = JSON.stringify(resolve(import.meta.dirname, '../../src/cli/stdio-rpc.ts'));

function run(script: string) {
  const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(out.status).toBe(0);
  return out;
}

it('writes the lines of a turn together, in order', () => {
  const { stdout, stderr } = run(`
    const { writeLine } = await import(${module});
    let writes = 0;
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (chunk, ...rest) => (writes++, write(chunk, ...rest));
    for (let i = 0; i < 3; i++) writeLine({ n: i });
    setImmediate(() => {
      writeLine({ n: 3 });
      setImmediate(() => process.stderr.write(String(writes)));
    });`);
  expect(
    stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as unknown),
  ).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }]);
  expect(stderr).toBe('2');
});

it('writes what is left when the process exits at once', () => {
  const { stdout } = run(`
    const { writeLine } = await import(${module});
    writeLine({ last: 'words' });
    process.exit(0);`);
  expect(stdout).toBe('{"last":"words"}\n');
});
